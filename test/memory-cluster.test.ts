/**
 * A self-contained drill keeps its small throwaway cluster in memory (/dev/shm, a tmpfs with room) when
 * no --temp-dir is given, and removes it at the end as it would on disk; a given --temp-dir wins
 * (lib/targets/memory-root.ts). Real CLI, real server, real pg_dumpall and psql.
 */
import { existsSync } from 'node:fs';
import { readdir, statfs } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { MEMORY_ROOM, MEMORY_ROOT, TMPFS_MAGIC } from '../lib/targets/memory-root.ts';
import { drillSetup } from './support/drill-setup.ts';
import { readReport, runCli, startCli } from './support/run-cli.ts';

const setup = drillSetup('memory-cluster-');

/** Whether this machine's /dev/shm can take the cluster, from statfs and the memory available. */
async function memoryHasRoom(): Promise<boolean> {
  const fs = await statfs(MEMORY_ROOT).catch(() => undefined);
  return (
    fs !== undefined &&
    fs.type === TMPFS_MAGIC &&
    fs.bavail * fs.bsize >= MEMORY_ROOM.freeBytes &&
    process.availableMemory() >= MEMORY_ROOM.availableBytes
  );
}

/** The throwaway cluster's directory, as the drill's log line names it. */
function dataDir(stderr: string): string {
  const dir = /throwaway PostgreSQL \S+ started on 127\.0\.0\.1:\d+ \(data in (\S+)\)/.exec(stderr)?.[1];
  expect(dir, stderr).toBeDefined();
  return dir as string;
}

describe('the self-contained drill’s throwaway cluster', () => {
  it('lives in memory without --temp-dir, and is gone after the run', async (ctx) => {
    // Every machine this suite runs on in CI has a roomy tmpfs at /dev/shm: a skip here fails CI.
    if (!(await memoryHasRoom()))
      ctx.skip(`${MEMORY_ROOT} is not a tmpfs with ${MEMORY_ROOM.freeBytes} bytes free here`);
    const reports = await setup.freshDir('reports');
    const shmBefore = await readdir(MEMORY_ROOT);
    const run = await runCli(['--target', 'local', '--progress', 'off', '--report-dir', reports], {
      TMPDIR: undefined,
      TMP: undefined,
      TEMP: undefined,
    });
    const report = await readReport(reports);
    expect([run.code, report.verdict], run.stderr).toEqual([0, 'passed']);
    const dir = dataDir(run.stderr);
    expect(run.stderr).toContain(`throwaway cluster in memory, ${MEMORY_ROOT} (`);
    expect(dir.startsWith(`${MEMORY_ROOT}/pg-restore-drill-`), dir).toBe(true);
    expect(existsSync(dir), `${dir} is left behind`).toBe(false);
    const shmAfter = await readdir(MEMORY_ROOT);
    expect(
      shmAfter.filter((name) => name.startsWith('pg-restore-drill-') && !shmBefore.includes(name)),
    ).toEqual([]);
  });

  it('is gone from memory when the drill is stopped mid-run, by SIGTERM or SIGKILL', async (ctx) => {
    if (!(await memoryHasRoom()))
      ctx.skip(`${MEMORY_ROOT} is not a tmpfs with ${MEMORY_ROOM.freeBytes} bytes free here`);
    const env = { TMPDIR: undefined, TMP: undefined, TEMP: undefined };
    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      const reports = await setup.freshDir(`reports-${signal}`);
      const run = startCli(['--target', 'local', '--progress', 'off', '--report-dir', reports], env);
      // The specs have started: the cluster runs in memory, seeded, its backup taken.
      await run.waitFor(/self-contained drill of backup_test/);
      run.child.kill(signal);
      const done = await run.done;
      const dir = dataDir(done.stderr);
      expect(dir.startsWith(`${MEMORY_ROOT}/pg-restore-drill-`), dir).toBe(true);
      expect([done.code, done.signal], done.stderr).toEqual(
        signal === 'SIGTERM' ? [143, null] : [null, signal],
      );
      // After a SIGKILL the guardian sees the drill's end of its stdin close, stops the server, removes it.
      for (let i = 0; i < 200 && existsSync(dir); i++) await sleep(50);
      expect(existsSync(dir), `${dir} is left behind after ${signal}`).toBe(false);
    }
  });

  it('stays in a given --temp-dir, which is empty again after the run', async () => {
    const temp = await setup.freshDir('temp');
    const reports = await setup.freshDir('reports-temp');
    const run = await runCli([
      '--target',
      'local',
      '--progress',
      'off',
      '--report-dir',
      reports,
      '--temp-dir',
      temp,
    ]);
    expect([run.code, (await readReport(reports)).verdict], run.stderr).toEqual([0, 'passed']);
    expect(run.stderr).toContain(`throwaway cluster in ${temp} (--temp-dir)`);
    expect(dataDir(run.stderr).startsWith(`${temp}/pg-restore-drill-`)).toBe(true);
    expect(await readdir(temp)).toEqual([]);
  });
});
