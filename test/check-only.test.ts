/**
 * `--check-only`, the daily check, over real pg_dumpall backups: it passes on a whole newest backup on a
 * machine with no PostgreSQL to start, fails on a newest backup that is truncated, bit-flipped or cut
 * short before its trailer (never taking an older one instead), and pushes the backup's time, size and
 * integrity to a real Pushgateway under its own job.
 */
import { readFile, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CheckReport } from '../lib/report/check-report.ts';
import { closedPort } from './support/closed-port.ts';
import { dumpArchive, psql, writeBackup, writeBackupBytes } from './support/cluster.ts';
import { drillSetup } from './support/drill-setup.ts';
import { engineSkip } from './support/engine-skip.ts';
import {
  pushgatewayMissing,
  type RunningPushgateway,
  type Sample,
  scrapeGroup,
  startPushgateway,
} from './support/pushgateway.ts';
import { runCli } from './support/run-cli.ts';

const available = !engineSkip('the --check-only tests', pushgatewayMissing());
// A cluster shaped unlike the fixture: the canary, and a database of its own with a few thousand rows.
const setup = drillSetup('drill-check-', {
  seed: async (handle) => {
    const { seedCanary } = await import('../lib/drill/seed.ts');
    await seedCanary(handle, 'backup_test');
    await psql(handle, 'postgres', 'CREATE DATABASE ledger');
    await psql(
      handle,
      'ledger',
      "CREATE TABLE entry (id int PRIMARY KEY, memo text); INSERT INTO entry SELECT g, 'memo ' || g FROM generate_series(1, 3000) g",
    );
  },
});
const OLDER = '2026-11-23-030000';
const NEWEST = '2026-11-24-030000';
/** No PostgreSQL binaries to find: a check that tried to start a server could not. */
const NO_POSTGRES = ['--target', 'local', '--pg-search-roots', '/nonexistent'];
const NO_POSTGRES_ENV = { PATH: '/usr/bin:/bin' };

/** Writes the dated backup and sets its mtime to that date: a finished nightly file. */
async function dated(dir: string, at: string, bytes: Buffer): Promise<void> {
  const file = await writeBackupBytes(dir, at, bytes);
  const when = new Date(`${at.slice(0, 10)}T03:10:00Z`);
  await utimes(file, when, when);
}

async function check(dir: string, reports: string, extra: string[] = []) {
  const run = await runCli(
    ['--check-only', '--backups', dir, '--report-dir', reports, ...NO_POSTGRES, ...extra],
    NO_POSTGRES_ENV,
  );
  const report = JSON.parse(
    await readFile(join(reports, 'latest-check', 'report.json'), 'utf8'),
  ) as CheckReport;
  return {
    ...run,
    report,
    verdictLine: run.stdout.split('\n').find((l) => l.startsWith('pg-restore-drill --check-only:')),
  };
}

function values(samples: Sample[]): Record<string, number> {
  return Object.fromEntries(samples.filter((s) => s.name.startsWith('pg_dr_')).map((s) => [s.name, s.value]));
}

describe.skipIf(!available)('--check-only', () => {
  let gateway: RunningPushgateway;
  beforeAll(async () => {
    gateway = await startPushgateway();
  });
  afterAll(async () => {
    await gateway?.stop();
  });
  /** The check's group as its report names it (the grouping labels the drill's own push uses). */
  const group = (report: CheckReport) => ({ job: 'pg_restore_drill_check', ...report.push?.grouping });

  it('passes on a whole newest backup, with no server to start, and pushes its time, size and integrity', async () => {
    const dir = await setup.freshDir('good');
    await writeBackup(dir, OLDER, setup.goodDump);
    await dated(dir, NEWEST, gzipSync(setup.goodDump));
    const reports = await setup.freshDir('good-report');
    const run = await check(dir, reports, ['--pushgateway', gateway.url, '--metrics-cluster', 'check-good']);

    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
    expect(run.report.verdict).toBe('passed');
    expect(run.report.checks.map((c) => [c.name, c.ok])).toEqual([
      ['backup: newest backup found', true],
      ['backup: whole', true],
      ['push: metrics reachable', true],
    ]);
    expect(run.report.backup?.file).toBe(`postgres-backup-${NEWEST}.sql.gz`);
    expect(Object.values(run.report.push?.grouping ?? {})).toEqual(['check-good', 'local']);
    expect(run.report.dump).toMatchObject({
      kind: 'pg_dumpall',
      sqlBytes: Buffer.byteLength(setup.goodDump),
    });
    expect(run.verdictLine).toMatch(
      new RegExp(
        `^pg-restore-drill --check-only: PASSED: postgres-backup-${NEWEST}\\.sql\\.gz, .* SQL\\), taken 2026-11-24T03:00:00\\.000Z, age .*; whole; metrics pushed to ${gateway.url}$`,
      ),
    );
    const size = run.report.backup?.sizeBytes;
    expect(values(await scrapeGroup(gateway.url, group(run.report)))).toEqual({
      pg_dr_check_success: 1,
      pg_dr_check_last_run_timestamp_seconds: Date.parse(run.report.finishedAt) / 1000,
      pg_dr_drill_backup_timestamp_seconds: Date.parse('2026-11-24T03:00:00Z') / 1000,
      pg_dr_drill_backup_size_bytes: size,
      pg_dr_backup_integrity_ok: 1,
    });
    // Its own group, with the drill's labels: nothing under the quarterly drill's job.
    expect(run.report.push?.grouping).toEqual({ pg_cluster: 'check-good', target: 'local' });
    expect(await scrapeGroup(gateway.url, { ...run.report.push?.grouping, job: 'pg_restore_drill' })).toEqual(
      [],
    );
  });

  const damaged: [string, (gz: Buffer) => Buffer, string][] = [
    ['truncated', (gz) => gz.subarray(0, Math.floor(gz.length / 2)), 'DRILL_BACKUP_TRUNCATED'],
    [
      'bit-flipped',
      (gz) => {
        const copy = Buffer.from(gz);
        const at = Math.floor(copy.length / 2);
        copy[at] = (copy[at] as number) ^ 0x10;
        return copy;
      },
      'DRILL_BACKUP_CORRUPT',
    ],
    [
      'cut before its trailer (a valid gzip of a dump pg_dumpall did not finish)',
      () => gzipSync(setup.goodDump.slice(0, Math.floor(setup.goodDump.length * 0.6))),
      'DRILL_BACKUP_INCOMPLETE',
    ],
  ];
  it.each(damaged)(
    'fails on a %s newest backup, never taking the older whole one, and pushes integrity 0',
    async (label, damage, code) => {
      const name = `damaged-${code.toLowerCase()}`;
      const dir = await setup.freshDir(name);
      await writeBackup(dir, OLDER, setup.goodDump);
      await dated(dir, NEWEST, damage(gzipSync(setup.goodDump)));
      const reports = await setup.freshDir(`${name}-report`);
      const run = await check(dir, reports, ['--pushgateway', gateway.url, '--metrics-cluster', name]);

      expect(run.code, `${label}\n${run.stdout}\n${run.stderr}`).toBe(1);
      expect(run.report.backup?.file).toBe(`postgres-backup-${NEWEST}.sql.gz`);
      const whole = run.report.checks.find((c) => c.name === 'backup: whole');
      expect(whole).toMatchObject({ ok: false, code });
      expect(whole?.summary).toContain(join(dir, `postgres-backup-${NEWEST}.sql.gz`));
      expect(run.verdictLine).toBe(
        `pg-restore-drill --check-only: FAILED: backup: whole: ${whole?.summary.split('\n', 1)[0]}`,
      );
      expect(values(await scrapeGroup(gateway.url, group(run.report)))).toMatchObject({
        pg_dr_check_success: 0,
        pg_dr_backup_integrity_ok: 0,
        pg_dr_drill_backup_timestamp_seconds: Date.parse('2026-11-24T03:00:00Z') / 1000,
      });
    },
  );

  it("proves a custom-format archive with the machine's pg_restore, no server involved", async () => {
    const dir = await setup.freshDir('archive');
    await dumpArchive(setup.source.handle, 'ledger', 'custom', join(dir, `postgres-backup-${NEWEST}.dump`));
    const reports = await setup.freshDir('archive-report');
    const run = await runCli(['--check-only', '--backups', dir, '--report-dir', reports]);
    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
    expect(run.stdout).toMatch(
      /✓ backup: whole +custom archive of ledger: \d+ TOC entries, every block decompresses/,
    );
  });

  it('without --backups is bad usage: exit 2 before anything, naming the setting', async () => {
    const run = await runCli(['--check-only']);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      'pg-restore-drill: --check-only checks a backup directory: set --backups DIR / DRILL_BACKUPS (the mounted backup volume).\n',
    );
  });

  it('fails when no backup is there, and still tells the Pushgateway (success 0, no backup time)', async () => {
    const dir = await setup.freshDir('empty');
    const reports = await setup.freshDir('empty-report');
    const run = await check(dir, reports, ['--pushgateway', gateway.url, '--metrics-cluster', 'check-empty']);

    expect(run.code).toBe(1);
    expect(run.report.checks[0]).toMatchObject({
      name: 'backup: newest backup found',
      ok: false,
      code: 'DRILL_NO_BACKUPS',
    });
    expect(values(await scrapeGroup(gateway.url, group(run.report)))).toEqual({
      pg_dr_check_success: 0,
      pg_dr_check_last_run_timestamp_seconds: Date.parse(run.report.finishedAt) / 1000,
    });
  });

  it('fails when the Pushgateway cannot be reached: the push is part of the check', async () => {
    const dir = await setup.freshDir('unreachable');
    await dated(dir, NEWEST, gzipSync(setup.goodDump));
    const reports = await setup.freshDir('unreachable-report');
    const closed = await closedPort();
    try {
      const run = await check(dir, reports, ['--pushgateway', `http://127.0.0.1:${closed.port}`]);
      expect(run.code).toBe(1);
      expect(run.report.checks.map((c) => [c.name, c.ok])).toEqual([
        ['backup: newest backup found', true],
        ['backup: whole', true],
        ['push: metrics reachable', false],
      ]);
      expect(run.report.push).toMatchObject({ ok: false, attempts: 3 });
      expect(run.verdictLine).toMatch(
        /^pg-restore-drill --check-only: FAILED: push: metrics reachable: pushing drill metrics to .* failed after 3 attempts/,
      );
    } finally {
      await closed.release();
    }
  });
});
