/**
 * No TypeScript compiler at drill time: while a real `npm run drill` runs, /proc is watched, and no
 * process of the drill's tree (npm, its shell, the CLI, vitest's worker, psql, the throwaway server) runs
 * tsx, in its arguments or its NODE_OPTIONS; the CLI is node running dist/bundle/cli.js. (The image's
 * entry point is checked the same way by test/image.test.ts.)
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, readlink, realpath } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { cliEnv, ROOT, readReport } from './support/run-cli.ts';

interface Seen {
  pid: number;
  ppid: number;
  argv: string[];
  /** Its NODE_OPTIONS ('' when unset). */
  nodeOptions: string;
  /** The process's working directory, to resolve a relative script path. */
  cwd: string | undefined;
  /** The executable /proc/PID/exe points to. */
  exe: string | undefined;
}

/** pid → parent pid of every process, from /proc/PID/stat, read at once (one look takes milliseconds). */
async function parents(): Promise<Map<number, number>> {
  const pids = (await readdir('/proc')).filter((name) => /^\d+$/.test(name));
  const stats = await Promise.all(pids.map((pid) => readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')));
  const parentOf = new Map<number, number>();
  stats.forEach((stat, i) => {
    // The command name (field 2) may hold spaces and parentheses: the fields after its last `)` are safe.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (stat && Number.isInteger(ppid)) parentOf.set(Number(pids[i]), ppid);
  });
  return parentOf;
}

async function look(pid: number, ppid: number): Promise<Seen | undefined> {
  const [cmdline, environ, cwd, exe] = await Promise.all([
    readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => ''),
    readFile(`/proc/${pid}/environ`, 'utf8').catch(() => ''),
    readlink(`/proc/${pid}/cwd`).catch(() => undefined),
    readlink(`/proc/${pid}/exe`).catch(() => undefined),
  ]);
  if (cmdline === '') return undefined;
  const nodeOptions = environ.split('\0').find((pair) => pair.startsWith('NODE_OPTIONS=')) ?? '';
  return { pid, ppid, argv: cmdline.replace(/\0$/, '').split('\0'), nodeOptions, cwd, exe };
}

/** Runs `command args` and samples /proc every few ms until it exits: every descendant ever seen. */
async function watchTree(command: string, args: string[], env: NodeJS.ProcessEnv) {
  const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((done) => child.on('close', done));
  let running = true;
  void exited.then(() => {
    running = false;
  });
  const tree = new Set<number>([child.pid ?? -1]);
  const seen = new Map<string, Seen>();
  let samples = 0;
  while (running) {
    const parentOf = await parents();
    // Parents first is not guaranteed: grow the tree until it stops growing.
    for (let grown = true; grown; ) {
      grown = false;
      for (const [pid, ppid] of parentOf) {
        if (tree.has(ppid) && !tree.has(pid)) {
          tree.add(pid);
          grown = true;
        }
      }
    }
    const looks = await Promise.all(
      [...parentOf].filter(([pid]) => tree.has(pid)).map(([pid, ppid]) => look(pid, ppid)),
    );
    for (const p of looks) if (p) seen.set(`${p.pid} ${p.argv.join(' ')} ${p.nodeOptions}`, p);
    samples++;
    await sleep(10);
  }
  return { code: await exited, stdout, stderr, seen: [...seen.values()], samples };
}

/** What in a process names tsx: an argument, or its NODE_OPTIONS. */
function tsxTraces(p: Seen): string[] {
  return [...p.argv.slice(0, p.argv[1] === '-c' ? 1 : undefined), p.nodeOptions].filter((part) =>
    /tsx/i.test(part),
  );
}

const describeProcess = (p: Seen) => `${p.pid} (parent ${p.ppid}): ${p.argv.join(' ')}`;

describe('the drill at run time', () => {
  it('npm run drill: node runs dist/bundle/cli.js, and no process of the drill runs tsx', async () => {
    const reports = await mkdtemp(join(tmpdir(), 'compiled-runtime-'));
    const run = await watchTree(
      'npm',
      ['run', '--silent', 'drill', '--', '--target', 'local', '--progress', 'off', '--report-dir', reports],
      cliEnv(),
    );
    const all = run.seen.map(describeProcess).join('\n');
    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
    expect((await readReport(reports)).verdict).toBe('passed');

    const node = await realpath(process.execPath);
    // node's own options (V8 flags of the drill script) come before the script.
    const script = (p: Seen) => p.argv.slice(1).find((arg) => !arg.startsWith('-'));
    const cli = run.seen.filter((p) => {
      const file = script(p);
      return (
        file !== undefined && p.cwd !== undefined && resolve(p.cwd, file) === join(ROOT, 'dist/bundle/cli.js')
      );
    });
    // A child the CLI forked, sampled before its exec(), still shows the CLI's command line (and exe):
    // it is the CLI's child, not a second CLI (seen once in CI: cp's fork, 1 of 2 matches).
    const forkedBeforeExec = (p: Seen) => cli.some((q) => q.pid === p.ppid);
    const clis = cli.filter((p) => !forkedBeforeExec(p));
    expect(clis.map(describeProcess), all).toHaveLength(1);
    expect(basename(clis[0]?.exe ?? ''), all).toBe(basename(node));
    // The watch reached below the CLI: the throwaway server, a grandchild through its guardian shell.
    expect(
      run.seen.filter((p) => basename(p.exe ?? '') === 'postgres').length,
      `no postgres process seen in ${run.samples} samples:\n${all}`,
    ).toBeGreaterThan(0);
    expect(run.seen.filter((p) => tsxTraces(p).length > 0).map(describeProcess), all).toEqual([]);
  });

  it('the watch sees tsx where it runs: in a grandchild argument and in NODE_OPTIONS', async () => {
    const hold = 'setTimeout(() => {}, 1500)';
    const run = await watchTree(
      'sh',
      [
        '-c',
        `"$0" --import tsx -e "$1" & NODE_OPTIONS='--import tsx' "$0" -e "$1"; wait`,
        process.execPath,
        hold,
      ],
      cliEnv(),
    );
    expect(run.code, run.stderr).toBe(0);
    const traces = run.seen.flatMap(tsxTraces);
    expect(traces).toContain('tsx');
    expect(traces).toContain('NODE_OPTIONS=--import tsx');
  });
});
