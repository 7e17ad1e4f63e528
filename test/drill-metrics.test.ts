/**
 * The drill's metrics reach a real Pushgateway: a passing run, then a failing one that must leave the
 * last success standing; and a gateway that is down or never answers must not change the verdict.
 */
import { chmod, mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DRILL_METRIC_NAMES } from '../lib/report/metrics.ts';
import { closedPort } from './support/closed-port.ts';
import { writeBackupBytes } from './support/cluster.ts';
import { engineSkip } from './support/engine-skip.ts';
import {
  pushgatewayMissing,
  type RunningPushgateway,
  type Sample,
  scrapeGroup,
  startPushgateway,
} from './support/pushgateway.ts';
import { latestReportFile, readReport, runCli, startCli } from './support/run-cli.ts';

// Under CI=true a missing Pushgateway fails this file (engineSkip throws).
const available = !engineSkip('the Pushgateway drill tests', pushgatewayMissing());

const GROUP = { job: 'pg_restore_drill', pg_cluster: 'drill-test', target: 'local' };

function values(samples: Sample[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samples.filter((x) => x.name.startsWith('pg_dr_drill_'))) {
    out[s.labels.phase ? `${s.name}{${s.labels.phase}}` : s.name] = s.value;
  }
  return out;
}

describe.skipIf(!available)('metrics pushed by the drill', () => {
  let gateway: RunningPushgateway;
  let scratch: string;
  beforeAll(async () => {
    gateway = await startPushgateway();
    scratch = await mkdtemp(join(tmpdir(), 'drill-metrics-test-'));
    await chmod(scratch, 0o755);
  });
  afterAll(async () => {
    await gateway?.stop();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('a passing drill pushes every metric; a failing one sets success 0 and leaves last_success alone', async () => {
    const passReports = join(scratch, 'pass');
    const pass = await runCli([
      '--pushgateway',
      gateway.url,
      '--metrics-cluster',
      'drill-test',
      '--report-dir',
      passReports,
    ]);
    expect(pass.code, pass.stdout).toBe(0);
    const report = await readReport(passReports);
    expect(report.push).toMatchObject({
      ok: true,
      attempts: 1,
      grouping: { pg_cluster: 'drill-test', target: 'local' },
    });
    const after = values(await scrapeGroup(gateway.url, GROUP));
    const finished = Date.parse(report.finishedAt) / 1000;
    expect(after).toEqual({
      pg_dr_drill_success: 1,
      pg_dr_drill_last_run_timestamp_seconds: finished,
      pg_dr_drill_last_success_timestamp_seconds: finished,
      pg_dr_drill_restore_duration_seconds: report.restore?.seconds,
      pg_dr_drill_restore_errors_accepted: 0,
      'pg_dr_drill_phase_duration_seconds{precheck}': report.phases.precheck,
      'pg_dr_drill_phase_duration_seconds{drop}': report.phases.drop,
      'pg_dr_drill_phase_duration_seconds{restore}': report.phases.restore,
      'pg_dr_drill_phase_duration_seconds{verify}': report.phases.verify,
      'pg_dr_drill_phase_duration_seconds{total}': report.phases.total,
      pg_dr_drill_backup_timestamp_seconds: Date.parse(report.backup?.takenAt ?? '') / 1000,
      pg_dr_drill_backup_size_bytes: report.backup?.sizeBytes,
      pg_dr_drill_checks_failed: 0,
      pg_dr_drill_rto_budget_seconds: 300,
      pg_dr_drill_restore_throughput_bytes_per_second: report.forecast?.throughputBytesPerSecond,
    });
    // Every metric we export is there: the list the dashboard and alert tests are checked against. But
    // the forecast: a self-contained drill has one backup, no growth rate (test/drill-forecast.test.ts);
    // and the self-test's, only from runs with --self-test (test/drill-self-test.test.ts).
    expect(new Set(Object.keys(after).map((k) => k.replace(/\{.*/, '')))).toEqual(
      new Set(
        DRILL_METRIC_NAMES.filter(
          (name) => name !== 'pg_dr_drill_rto_forecast_seconds' && !name.startsWith('pg_dr_drill_selftest_'),
        ),
      ),
    );
    expect(report.forecast?.sentence).toBe(
      'no forecast: 1 backup(s) of this format in the directory; a growth rate needs 2 or more taken at different times',
    );
    expect(after.pg_dr_drill_restore_duration_seconds).toBeGreaterThan(0);

    const backups = join(scratch, 'corrupt');
    await mkdir(backups);
    await writeBackupBytes(
      backups,
      '2026-11-21-030000',
      gzipSync('-- PostgreSQL database cluster dump\n').subarray(0, 20),
    );
    const failReports = join(scratch, 'fail');
    const fail = await runCli([
      '--backups',
      backups,
      '--pushgateway',
      gateway.url,
      '--metrics-cluster',
      'drill-test',
      '--report-dir',
      failReports,
    ]);
    expect(fail.code, fail.stdout).toBe(1);
    const failed = await readReport(failReports);
    const later = values(await scrapeGroup(gateway.url, GROUP));
    expect(later.pg_dr_drill_success).toBe(0);
    expect(later.pg_dr_drill_checks_failed).toBe(1);
    expect(later.pg_dr_drill_last_run_timestamp_seconds).toBe(Date.parse(failed.finishedAt) / 1000);
    expect(later.pg_dr_drill_last_success_timestamp_seconds).toBe(finished);
    expect(later.pg_dr_drill_backup_size_bytes).toBe(20);
  });

  it('pushes success 0 when the drill cannot even start (no backups): exit 2, and the alert still hears of it', async () => {
    const empty = join(scratch, 'empty');
    await mkdir(empty);
    const reports = join(scratch, 'empty-report');
    const run = await runCli([
      '--backups',
      empty,
      '--pushgateway',
      gateway.url,
      '--metrics-cluster',
      'no-backups',
      '--report-dir',
      reports,
    ]);
    expect(run.code).toBe(2);
    const report = await readReport(reports);
    expect(report.verdict).toBe('error');
    const samples = values(
      await scrapeGroup(gateway.url, { ...GROUP, pg_cluster: 'no-backups', target: 'auto' }),
    );
    expect(samples.pg_dr_drill_success).toBe(0);
  });
});

describe('a Pushgateway that is down or never answers', () => {
  let blackHole: Server;
  let blackHoleUrl: string;
  const held: Socket[] = [];
  beforeAll(async () => {
    blackHole = createServer((socket) => held.push(socket)); // accepts, never answers
    await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
    const address = blackHole.address();
    blackHoleUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });
  afterAll(async () => {
    for (const socket of held) socket.destroy();
    await new Promise((resolve) => blackHole.close(resolve));
  });

  it('black hole: the drill still finishes, reports the failed push, and exits with its own verdict', async () => {
    const reports = await mkdtemp(join(tmpdir(), 'drill-blackhole-'));
    try {
      const { code, stderr } = await runCli(['--pushgateway', blackHoleUrl, '--report-dir', reports]);
      expect(code).toBe(0);
      const report = await readReport(reports);
      expect(report.verdict).toBe('passed');
      expect(report.push).toMatchObject({ ok: false, attempts: 3 });
      expect(report.push?.error).toMatch(/no response within 5000 ms/);
      expect(stderr).toContain(`pushing drill metrics to ${blackHoleUrl}`);
    } finally {
      await rm(reports, { recursive: true, force: true });
    }
  });

  it('black hole, SIGTERM during the push: the attempt under way is the last, the report says why', async () => {
    const reports = await mkdtemp(join(tmpdir(), 'drill-blackhole-stop-'));
    try {
      const run = startCli(['--pushgateway', blackHoleUrl, '--report-dir', reports]);
      // report.json is written before the push: once it is there, the first attempt is under way.
      const before = latestReportFile(reports);
      while (!(await stat(before).catch(() => undefined))) {
        if (run.child.exitCode !== null) throw new Error('the drill ended before its push');
        await sleep(20);
      }
      run.child.kill('SIGTERM');
      const { code, stdout } = await run.done;
      const report = await readReport(reports);
      expect(report.push, stdout).toMatchObject({ ok: false, attempts: 1 });
      expect(report.push?.error).toBe(
        `pushing drill metrics to ${blackHoleUrl}/metrics/job/pg_restore_drill/pg_cluster/default/target/local failed after 1 attempt: no response within 5000 ms (not retried: the drill was stopped by SIGTERM)`,
      );
      // The checks had all passed before the signal: the verdict stands, and so does its exit status.
      expect([code, report.verdict]).toEqual([0, 'passed']);
    } finally {
      await rm(reports, { recursive: true, force: true });
    }
  });

  it('down, with --require-push: the passing drill exits 1 and says why', async () => {
    const reports = await mkdtemp(join(tmpdir(), 'drill-down-'));
    // Held closed for the whole drill: no other process can start listening on it meanwhile.
    const closed = await closedPort();
    try {
      const { code } = await runCli([
        '--pushgateway',
        `http://127.0.0.1:${closed.port}`,
        '--require-push',
        '--report-dir',
        reports,
      ]);
      expect(code).toBe(1);
      const report = await readReport(reports);
      expect(report.push).toMatchObject({ ok: false, attempts: 3 });
      expect(report.errors).toEqual(['the metrics push failed and --require-push is set']);
      expect(report.counts.failed).toBe(0);
    } finally {
      await closed.release();
      await rm(reports, { recursive: true, force: true });
    }
  });
});
