/** pg_dump archives (custom and directory format) restored with pg_restore, and `--canary none`. */
import { chmod, mkdir, mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedCanary } from '../lib/drill/seed.ts';
import type { StartedTarget } from '../lib/targets/target.ts';
import { createDatabase, dumpArchive, startTestCluster } from './support/cluster.ts';
import { readReport, runCli } from './support/run-cli.ts';

let source: StartedTarget;
let scratch: string;
let n = 0;

beforeAll(async () => {
  source = await startTestCluster();
  await seedCanary(source.handle, 'backup_test');
  await createDatabase(
    source.handle,
    'app',
    'CREATE TABLE orders AS SELECT g AS id, g * 1.5 AS total FROM generate_series(1, 1000) g',
  );
  scratch = await mkdtemp(join(tmpdir(), 'drill-archives-test-'));
  await chmod(scratch, 0o777);
});
afterAll(async () => {
  await source?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** A backup directory holding one archive of `database`, named as the CronJob would name it. */
async function backupsWith(
  database: string,
  format: 'custom' | 'directory',
): Promise<{ dir: string; file: string }> {
  const dir = join(scratch, `backups-${++n}`);
  await mkdir(dir);
  await chmod(dir, 0o777);
  const file = join(dir, `postgres-backup-2026-11-21-030000.${format === 'custom' ? 'dump' : 'dir'}`);
  await dumpArchive(source.handle, database, format, file);
  return { dir, file };
}

/**
 * Into a throwaway server in cluster mode the backup's precheck step is `precheck: backup header read`
 * (a plain backup's rest is proven on the restore's stream); an archive is still read whole there.
 */
const PRECHECK = 'precheck-backup-header-read';

describe('pg_dump archives', () => {
  it('a custom-format backup of the canary restores with pg_restore -j 2 and verifies', async () => {
    const { dir } = await backupsWith('backup_test', 'custom');
    const reports = join(scratch, `report-${++n}`);
    const { code, stdout, stderr } = await runCli([
      '--backups',
      dir,
      '--jobs',
      '2',
      '--verify',
      'deep',
      '--report-dir',
      reports,
    ]);
    expect(code, stdout + stderr).toBe(0);
    const report = await readReport(reports);
    expect(report.checks.find((c) => c.id === 'restore-completed')?.message).toMatch(
      /^\d+\.\d\d s: pg_restore --exit-on-error --no-owner --no-privileges --create -d postgres -j 2 \(2 job\(s\)\)$/,
    );
    expect(report.counts).toEqual({ passed: 15, failed: 0, skipped: 0 });
  });

  it('a directory-format backup restores too', async () => {
    const { dir } = await backupsWith('backup_test', 'directory');
    const reports = join(scratch, `report-${++n}`);
    const { code, stdout } = await runCli(['--backups', dir, '--report-dir', reports]);
    expect(code, stdout).toBe(0);
    expect((await readReport(reports)).checks.find((c) => c.id === PRECHECK)?.message).toEqual(
      expect.stringMatching(
        /^directory archive of backup_test: \d+ TOC entries, 2 table\(s\) with data, every block decompresses$/,
      ),
    );
  });

  it('an archive of an application database, --canary none --verify deep: its tables alone decide', async () => {
    const { dir } = await backupsWith('app', 'custom');
    const reports = join(scratch, `report-${++n}`);
    const { code, stdout } = await runCli([
      '--backups',
      dir,
      '--canary',
      'none',
      '--verify',
      'deep',
      '--report-dir',
      reports,
    ]);
    expect(code, stdout).toBe(0);
    const report = await readReport(reports);
    const skipped = Object.fromEntries(
      report.checks.filter((c) => c.status === 'skipped').map((c) => [c.name, c.message]),
    );
    // Every check of the canary says why it did not run, in the same words.
    const noCanary = 'not run: --canary none (this drill has no canary database to check)';
    expect(skipped).toEqual({
      'drop: canary snapshot taken': noCanary,
      'drop: canary dropped and gone': noCanary,
      'verify: canary exists again': noCanary,
      'verify: users are exactly alice, bob and charlie': noCanary,
      'verify: transactions are as expected': noCanary,
      'verify: canary foreign key present': noCanary,
      'verify: foreign keys validated, no orphans': noCanary,
      'verify: sequences beyond their columns': noCanary,
      // app.orders has no foreign key and no owned sequence: nothing compared is no pass.
      'verify: foreign keys and sequences in every database':
        'nothing to check: the 1 restored database(s) hold no foreign key and no owned sequence that can be compared with its column',
    });
    expect(report.checks.find((c) => c.id === 'restore-completed')?.status).toBe('passed');
    expect(
      report.deep?.tables.map((t) => [t.database, t.table, t.dumpRows, t.restoredRows, t.digestMatch]),
    ).toEqual([['app', 'public.orders', 1000, 1000, true]]);
  });

  it('a truncated archive fails its precheck, naming the file; nothing is dropped or restored', async () => {
    const { dir, file } = await backupsWith('backup_test', 'custom');
    await truncate(file, 1000);
    const reports = join(scratch, `report-${++n}`);
    const { code } = await runCli(['--backups', dir, '--report-dir', reports]);
    expect(code).toBe(1);
    const report = await readReport(reports);
    const precheck = report.checks.find((c) => c.id === PRECHECK);
    expect(precheck?.code).toBe('DRILL_BACKUP_CORRUPT');
    expect(precheck?.message).toMatch(new RegExp(`^${file.replaceAll('.', '\\.')} is corrupt: `));
    expect(report.restore).toBeNull();
    expect(
      report.checks
        .filter((c) => ['drop-canary-dropped-and-gone', 'restore-completed'].includes(c.id))
        .map((c) => c.status),
    ).toEqual(['skipped', 'skipped']);
  });

  it('a .dump file that is no archive is named as such', async () => {
    const dir = join(scratch, `backups-${++n}`);
    await mkdir(dir);
    const file = join(dir, 'postgres-backup-2026-11-21-030000.dump');
    await writeFile(file, '-- PostgreSQL database dump\n');
    const reports = join(scratch, `report-${++n}`);
    const { code } = await runCli(['--backups', dir, '--report-dir', reports]);
    expect(code).toBe(1);
    const precheck = (await readReport(reports)).checks.find((c) => c.id === PRECHECK);
    expect(precheck?.message).toBe(
      `${file} is named like a pg_dump custom-format archive but does not start with PGDMP (it starts with \`-- Po\`).`,
    );
  });
});
