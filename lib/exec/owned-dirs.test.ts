import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { markOwned, sweepDeadDrills } from './owned-dirs.ts';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'owned-dirs-'));
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
  it("removes exactly the marked directories of this host's dead drills", async () => {
    const dead = deadPid();
    const killed = await dirWith('pg-restore-drill-run-dead', `${dead} ${hostname()}\n`);
    const killedCluster = await dirWith('pg-restore-drill-Ab12Cd', `${dead} ${hostname()}\n`);
    const live = await dirWith('pg-restore-drill-run-live');
    await markOwned(live);
    await dirWith('pg-restore-drill-run-elsewhere', `${dead} some-other-host\n`);
    await dirWith('pg-restore-drill-unmarked');
    await dirWith('not-ours', `${dead} ${hostname()}\n`);
    await dirWith('pg-restore-drill-garbled', 'not a pid\n');
    expect((await sweepDeadDrills([root, root])).sort()).toEqual([killedCluster, killed].sort());
    expect((await readdir(root)).sort()).toEqual([
      'not-ours',
      'pg-restore-drill-garbled',
      'pg-restore-drill-run-elsewhere',
      'pg-restore-drill-run-live',
      'pg-restore-drill-unmarked',
    ]);
  });

  it('takes a root that is not there as empty', async () => {
    expect(await sweepDeadDrills([join(root, 'no-such-dir')])).toEqual([]);
  });
});
