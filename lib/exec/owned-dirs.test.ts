import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { markOwned, sweepDeadDrills, unmarkOwned } from './owned-dirs.ts';

let root: string;
/** This process's pid namespace, as the marks record it. */
let ns: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'owned-dirs-'));
  ns = await readlink('/proc/self/ns/pid');
});
afterAll(() => rm(root, { recursive: true, force: true }));

/** The pid of a process that has exited (and was reaped): no process has it now. */
function deadPid(): number {
  const run = spawnSync('sh', ['-c', 'echo $$']);
  return Number(run.stdout.toString().trim());
}

async function dirWith(name: string, mark?: string): Promise<string> {
  const dir = join(root, name);
  await mkdir(join(dir, 'data'), { recursive: true });
  if (mark !== undefined) await writeFile(join(dir, '.pg-restore-drill-owner'), mark);
  return dir;
}

describe('sweepDeadDrills', () => {
  it("removes exactly the marked directories of this host's and pid namespace's dead drills", async () => {
    const dead = deadPid();
    const here = `${hostname()} ${ns}`;
    const killed = await dirWith('pg-restore-drill-run-dead', `${dead} ${here} 12345\n`);
    const killedCluster = await dirWith('pg-restore-drill-Ab12Cd', `${dead} ${here} 12345\n`);
    // Our own pid, but a start time that is not ours: the pid was taken again since its drill died.
    const reused = await dirWith('pg-restore-drill-run-reused', `${process.pid} ${here} 1\n`);
    const live = await dirWith('pg-restore-drill-run-live');
    await markOwned(live);
    await dirWith('pg-restore-drill-run-elsewhere', `${dead} some-other-host ${ns} 12345\n`);
    // Another pid namespace (a container sharing /dev/shm): its pids are not ours to judge.
    await dirWith('pg-restore-drill-run-container', `${dead} ${hostname()} pid:[1] 12345\n`);
    await dirWith('pg-restore-drill-unmarked');
    await dirWith('not-ours', `${dead} ${here} 12345\n`);
    await dirWith('pg-restore-drill-garbled', 'not a pid\n');
    expect((await sweepDeadDrills([root, root])).sort()).toEqual([killedCluster, killed, reused].sort());
    expect((await readdir(root)).sort()).toEqual([
      'not-ours',
      'pg-restore-drill-garbled',
      'pg-restore-drill-run-container',
      'pg-restore-drill-run-elsewhere',
      'pg-restore-drill-run-live',
      'pg-restore-drill-unmarked',
    ]);
  });

  it('leaves a directory whose mark was taken away (--keep)', async () => {
    const kept = await dirWith('pg-restore-drill-kept');
    await markOwned(kept);
    await unmarkOwned(kept);
    expect(await sweepDeadDrills([root])).toEqual([]);
    expect(await readdir(root)).toContain('pg-restore-drill-kept');
  });

  it('takes a root that is not there as empty', async () => {
    expect(await sweepDeadDrills([join(root, 'no-such-dir')])).toEqual([]);
  });
});
