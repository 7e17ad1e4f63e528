/**
 * The target's own trouble mid-restore ends in the verdict `error` (exit 2) naming what ran out, never
 * `failed` (lib/restore/target-fault.ts), on the paths the fault matrix's plain-dump case does not take:
 * a pg_dump archive through pg_restore (--jobs 1 and 2), whose server PANICs on its WAL when the disk
 * fills; and a canary-mode drill on a server whose disk is full before the section's CREATE DATABASE.
 * Real servers on real tmpfs mounts (root only, as the fault matrix's TEMP_FULL case).
 */
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedCanary } from '../lib/drill/seed.ts';
import { silentLogger } from '../lib/log.ts';
import { DEFAULT_SEARCH_ROOTS, findPgBinDir } from '../lib/pg/binaries.ts';
import { withClient } from '../lib/pg/databases.ts';
import type { DrillReport } from '../lib/report/report.ts';
import { startLocalTarget } from '../lib/targets/local.ts';
import type { StartedTarget } from '../lib/targets/target.ts';
import { dumpAll, dumpArchive, psql, startTestCluster, writeBackup } from './support/cluster.ts';
import { latestReportFile, readReport, runCli, startCli } from './support/run-cli.ts';
import { onTmpfs } from './support/tmpfs.ts';

const execFileAsync = promisify(execFile);

let source: StartedTarget;
let scratch: string;
let archives: string;
let defective: string;

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'target-fault-'));
  await chmod(scratch, 0o755);
  archives = join(scratch, 'archives');
  await mkdir(archives);
  source = await startTestCluster();
  // ~117 MB of rows and an index: far more than a 64 MiB temp dir holds beside initdb's 39 MB.
  await psql(source.handle, 'postgres', 'CREATE DATABASE shop');
  await psql(
    source.handle,
    'shop',
    'CREATE TABLE pad (id int PRIMARY KEY, body text); INSERT INTO pad SELECT g, repeat(md5(g::text), 30) FROM generate_series(1, 110000) g',
  );
  await dumpArchive(
    source.handle,
    'shop',
    'custom',
    join(archives, 'postgres-backup-2026-11-21-030000.dump'),
  );
  // The backup's own defect, in a real pg_dump: an expression index on a function that finds its table
  // only through the caller's search_path, which pg_dump empties; its predicate quotes a disk-full message.
  await psql(source.handle, 'postgres', 'CREATE DATABASE logs');
  await psql(
    source.handle,
    'logs',
    `CREATE TABLE norm_map (raw text PRIMARY KEY, norm text);
     INSERT INTO norm_map VALUES ('ENOSPC', 'disk full');
     CREATE FUNCTION norm(m text) RETURNS text LANGUAGE sql IMMUTABLE
       AS $$ SELECT coalesce((SELECT norm FROM norm_map WHERE raw = m), m) $$;
     CREATE TABLE events (id int PRIMARY KEY, msg text);
     INSERT INTO events SELECT g, 'ENOSPC' FROM generate_series(1, 10) g;
     CREATE INDEX events_norm ON events (norm(msg)) WHERE msg <> 'No space left on device'`,
  );
  defective = join(scratch, 'defective');
  await mkdir(defective);
  await dumpArchive(
    source.handle,
    'logs',
    'custom',
    join(defective, 'postgres-backup-2026-11-21-030000.dump'),
  );
});

afterAll(async () => {
  await source?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

const restoreStep = (report: DrillReport) => report.checks.find((c) => c.id === 'restore-completed');

describe("a target whose disk fills mid-restore: the verdict is error, the disk named, never the backup's", () => {
  for (const jobs of [1, 2]) {
    it(`a pg_dump archive through pg_restore --jobs ${jobs} into a 64 MiB --temp-dir`, async () => {
      const reports = join(scratch, `reports-${jobs}`);
      const run = await onTmpfs(join(scratch, `temp-${jobs}`), 'size=64m,mode=0777', (temp) =>
        runCli([
          '--target',
          'local',
          '--mode',
          'cluster',
          '--canary',
          'none',
          '--verify',
          'deep',
          '--jobs',
          String(jobs),
          '--backups',
          archives,
          '--temp-dir',
          temp,
          '--report-dir',
          reports,
        ]),
      );
      const report = await readReport(reports);
      const restore = restoreStep(report);
      expect(run.code, run.stdout).toBe(2);
      expect([report.verdict, report.exitCode, restore?.status, restore?.code]).toEqual([
        'error',
        2,
        'failed',
        'DRILL_RESTORE_TARGET_FAULT',
      ]);
      // The server either failed the write (53100 to pg_restore) or PANICked on its WAL and went away:
      // then its server.log, read before the run removed it, is what names the full disk.
      expect(restore?.message).toMatch(
        /^Restore stopped by the target, not by the backup: the target's disk is full \(.*(No space left on device|wrote only \d+ of 8192 bytes).*\)\. This says nothing about the backup: give the server's data directory room for the restored databases and their WAL \(local target: --temp-dir/,
      );
      const summary = await readFile(latestReportFile(reports, 'summary.txt'), 'utf8');
      expect(summary).toMatch(/^pg-restore-drill: ERROR {2}/);
      expect(summary).not.toContain('FAILED');
    });
  }

  it('the same archive with room passes: the error above was the disk alone', async () => {
    const reports = join(scratch, 'reports-roomy');
    const run = await runCli([
      ...['--target', 'local', '--mode', 'cluster', '--canary', 'none', '--verify', 'deep'],
      ...['--backups', archives, '--temp-dir', scratch, '--report-dir', reports],
    ]);
    expect(run.code, run.stdout).toBe(0);
    expect((await readReport(reports)).verdict).toBe('passed');
  });

  // Two amounts of room on a live server's disk: none for template0's copy (some 7 MB), or room for the
  // section and not for the checkpoint the swap's DROP DATABASE of the old canary waits on.
  const CANARY_CASES = [
    {
      what: "canary mode on a server with no room left: the section's CREATE DATABASE fails on the disk",
      leaveKiB: 600,
      step: 'restore-completed',
      message:
        /^Restore stopped by the target, not by the backup: the target's disk is full \(ERROR 53100: could not extend file "[^"]+": No space left on device\)\. This says nothing about the backup: /,
    },
    {
      what: "canary mode on a server with room for the section only: the swap's checkpoint fails",
      leaveKiB: 3000,
      step: 'swap-verified-restore-replaces-the-canary',
      message:
        /^Check stopped by the target, not by the backup: the target's checkpoint failed \(its disk full or its storage failing\) \(ERROR XX000: checkpoint request failed\)\. This says nothing about the backup: /,
    },
  ];
  for (const c of CANARY_CASES) {
    it(c.what, async () => {
      const { binDir } = await findPgBinDir({
        path: process.env.PATH ?? '',
        versionRoots: DEFAULT_SEARCH_ROOTS,
      });
      await onTmpfs(join(scratch, `live-${c.leaveKiB}`), 'size=80m,mode=0777', async (root) => {
        const live = await startLocalTarget({
          binDir,
          tempRoot: root,
          baseEnv: process.env,
          log: silentLogger,
        });
        try {
          await seedCanary(live.handle, 'backup_test');
          const backups = join(scratch, `live-backups-${c.leaveKiB}`);
          await mkdir(backups);
          await writeBackup(backups, '2026-11-21-030000', await dumpAll(live.handle));
          await psql(live.handle, 'postgres', 'CHECKPOINT');
          const room = await statfs(root);
          const free = room.bavail * room.bsize;
          await execFileAsync('fallocate', ['-l', String(free - c.leaveKiB * 1024), join(root, 'filler')]);
          const { port, user, password } = live.handle.connection;
          const reports = join(scratch, `reports-live-${c.leaveKiB}`);
          const run = await runCli(
            ['--target', 'url', '--mode', 'canary', '--backups', backups, '--report-dir', reports],
            { DATABASE_URL: `postgres://${user}@127.0.0.1:${port}/postgres`, PGPASSWORD: password ?? '' },
          );
          const report = await readReport(reports);
          const failed = report.checks.filter((check) => check.status === 'failed');
          expect(run.code, run.stdout).toBe(2);
          expect([report.verdict, failed.map((f) => [f.id, f.code])]).toEqual([
            'error',
            [[c.step, 'DRILL_RESTORE_TARGET_FAULT']],
          ]);
          expect(failed[0]?.message).toMatch(c.message);
        } finally {
          await rm(join(root, 'filler'), { force: true });
          await live.stop();
        }
      });
    });
  }
});

describe("a check after the restore whose target goes away: error, never 'differs from the dump'", () => {
  it('--verify deep on a scratch server that ends the read-back session (pg_terminate_backend)', async () => {
    const target = await startTestCluster();
    try {
      const { port, user, password } = target.handle.connection;
      const reports = join(scratch, 'reports-terminated');
      const run = startCli(
        [
          ...['--target', 'url', '--scratch', '--mode', 'cluster', '--canary', 'none', '--verify', 'deep'],
          ...['--backups', archives, '--report-dir', reports],
        ],
        { DATABASE_URL: `postgres://${user}@127.0.0.1:${port}/postgres`, PGPASSWORD: password ?? '' },
      );
      let ended = 0;
      let finished = false;
      void run.done.then(() => {
        finished = true;
      });
      // The administrator ends the session reading public.pad back (COPY (SELECT …) TO STDOUT).
      while (!finished && ended === 0) {
        ended = await withClient(target.handle.connection, 'postgres', async (client) => {
          const { rows } = await client.query<{ n: number }>(
            `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
              WHERE datname = 'shop' AND query LIKE 'COPY (SELECT %pad%TO STDOUT%'`,
          );
          return rows[0]?.n ?? 0;
        });
        await sleep(10);
      }
      const { code, stdout } = await run.done;
      const report = await readReport(reports);
      const deep = report.checks.find((c) => c.id === 'verify-every-table-matches-the-backup');
      expect(ended, stdout).toBeGreaterThan(0);
      expect(code, stdout).toBe(2);
      expect([report.verdict, deep?.status, deep?.code]).toEqual([
        'error',
        'failed',
        'DRILL_RESTORE_TARGET_FAULT',
      ]);
      expect(deep?.message).toMatch(
        /^Verification stopped by the target, not by the backup: the target (ended the session|went away) .*\(shop public\.pad: .*(terminating connection due to administrator command|connection to server was lost|server closed the connection unexpectedly)/,
      );
      expect(deep?.message).not.toContain('differ from the dump');
    } finally {
      await target.stop();
    }
  });
});

describe('the table drill into a local target whose disk fills', () => {
  it('--table shop.public.pad into a 64 MiB --temp-dir: error, the disk named from the server log', async () => {
    const backups = join(scratch, 'plain');
    await mkdir(backups);
    await writeBackup(backups, '2026-11-21-030000', await dumpAll(source.handle));
    const reports = join(scratch, 'reports-table');
    const run = await onTmpfs(join(scratch, 'temp-table'), 'size=64m,mode=0777', (temp) =>
      runCli([
        ...['--target', 'local', '--table', 'shop.public.pad', '--backups', backups],
        ...['--temp-dir', temp, '--report-dir', reports],
      ]),
    );
    const report = await readReport(reports);
    const failed = report.checks.filter((check) => check.status === 'failed');
    expect(run.code, run.stdout).toBe(2);
    expect([report.verdict, failed.map((f) => [f.name, f.code])]).toEqual([
      'error',
      [['table: shop.public.pad restored', 'DRILL_RESTORE_TARGET_FAULT']],
    ]);
    expect(failed[0]?.message).toMatch(
      /^Restore stopped by the target, not by the backup: the target's disk is full \(.*(No space left on device|wrote only \d+ of 8192 bytes).*\).*This says nothing about the backup: give the server's data directory room/,
    );
  });
});

describe("a backup defect whose failing command quotes the server's words: failed, never the target's", () => {
  it('pg_restore stops on a relation the expression index cannot find (search_path): FAILED, exit 1', async () => {
    const reports = join(scratch, 'reports-defective');
    const run = await runCli([
      ...['--target', 'local', '--mode', 'cluster', '--canary', 'none', '--verify', 'deep'],
      ...['--backups', defective, '--temp-dir', scratch, '--report-dir', reports],
    ]);
    const report = await readReport(reports);
    const restore = restoreStep(report);
    expect(run.code, run.stdout).toBe(1);
    expect([report.verdict, restore?.code]).toEqual(['failed', 'DRILL_RESTORE_FAILED']);
    expect(restore?.message).toMatch(
      /^Restore failed: pg_restore exited with 1: relation "norm_map" does not exist \(.*Command was: CREATE INDEX events_norm .*No space left on device/,
    );
  });
});
