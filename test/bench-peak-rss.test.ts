/**
 * The bench's memory figure (bench/peak-rss.ts) against a real process tree read from /proc: two node
 * processes holding known amounts of memory (the drill's own), a node run under the name `postgres` (a
 * server: in the CronJob a sidecar, left out of both figures) and a tool that is not node (`sleep`,
 * counted for the container only).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PeakRss, watchPeakRss } from '../bench/peak-rss.ts';

/** Holds argv[1] MiB, touched so the pages are resident (VmHWM), then says so and waits. */
const HOLDER =
  "globalThis.held = Buffer.alloc(Number(process.argv[1]) * 1048576, 1); process.stdout.write('ok'); setInterval(() => {}, 1000);";

/** The parent: holds 120 MiB, starts the others, prints their pids once every one holds its memory. */
const PARENT = `
const { spawn } = require('node:child_process');
globalThis.held = Buffer.alloc(120 * 1048576, 1);
const holder = (command, mib) => {
  const child = spawn(command, ['-e', ${JSON.stringify(HOLDER)}, String(mib)], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve) => child.stdout.once('data', () => resolve(child.pid)));
};
(async () => {
  const child = await holder(process.execPath, 60);
  const server = await holder(process.argv[1], 200);
  const tool = spawn('sleep', ['600'], { stdio: 'ignore' }).pid;
  process.stdout.write(JSON.stringify({ child, server, tool }) + '\\n');
  setInterval(() => {}, 1000);
})();
`;

describe('bench peak RSS from /proc', () => {
  let dir: string;
  let parent: ChildProcess;
  let pids: { child: number; server: number; tool: number };
  let peak: PeakRss;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bench-peak-rss-'));
    const server = join(dir, 'postgres');
    await symlink(process.execPath, server);
    parent = spawn(process.execPath, ['-e', PARENT, server], {
      detached: true,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const watcher = watchPeakRss(parent.pid ?? -1);
    const line = await new Promise<string>((resolve, reject) => {
      let text = '';
      parent.stdout?.setEncoding('utf8');
      parent.stdout?.on('data', (chunk: string) => {
        text += chunk;
        if (text.includes('\n')) resolve(text.trim());
      });
      parent.once('exit', (code) => reject(new Error(`the process tree ended early (exit ${code})`)));
    });
    pids = JSON.parse(line) as typeof pids;
    // stop() polls once more: every process holds its memory by now.
    peak = watcher.stop();
  });

  afterAll(async () => {
    if (parent.pid !== undefined) {
      try {
        process.kill(-parent.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    await rm(dir, { recursive: true, force: true });
  });

  it("counts the drill's node processes, not the server, and the tool only for the container", () => {
    const pidsOf = (list: string[]) => list.map((entry) => Number(/\((\d+)\)$/.exec(entry)?.[1]));
    expect(pidsOf(peak.counted).sort()).toEqual([parent.pid, pids.child].sort());
    expect(pidsOf(peak.tools)).toEqual([pids.tool]);
  });

  it('sums the high-water marks of the node processes: at least the 180 MiB they hold', () => {
    expect(peak.ownMb).toBeGreaterThanOrEqual(180);
    expect(peak.largestMb).toBeGreaterThanOrEqual(120);
    expect(peak.largest).toBe(`node (${parent.pid})`);
  });

  it("leaves the 200 MiB server out of the container figure too: it adds only the tool's few MiB", () => {
    expect(peak.containerMb).toBeGreaterThanOrEqual(peak.ownMb);
    expect(peak.containerMb - peak.ownMb).toBeLessThan(50);
  });
});
