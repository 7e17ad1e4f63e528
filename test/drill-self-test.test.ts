/**
 * `--self-test` through the CLI, its metric pushed to a real Pushgateway: green on a good backup of
 * awkward databases (every fault made its check go red, the real checks then passed on the data as
 * restored); red, naming the check, on a backup whose format leaves a check unable to go red (an
 * uncompressed .sql has no checksum: a flipped bit passes the precheck); refused without --verify deep.
 */
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedCanary } from '../lib/drill/seed.ts';
import type { StartedTarget } from '../lib/targets/target.ts';
import { createAwkwardDatabases, dumpAllBytes } from './support/awkward-cluster.ts';
import { startTestCluster } from './support/cluster.ts';
import { engineSkip } from './support/engine-skip.ts';
import {
  pushgatewayMissing,
  type RunningPushgateway,
  scrapeGroup,
  startPushgateway,
} from './support/pushgateway.ts';
import { deepDrill, readReport, runCli } from './support/run-cli.ts';

// Under CI=true a missing Pushgateway fails this file (engineSkip throws).
const available = !engineSkip('the self-test drill tests', pushgatewayMissing());

const SELF_TEST_STEPS = [
  'self-test: a truncated copy fails the precheck',
  'self-test: a bit-flipped copy fails the precheck',
  'self-test: a changed row fails deep verification',
  'self-test: a canary missing a user fails its check',
];

let source: StartedTarget;
let dump: Buffer;
let scratch: string;
let gateway: RunningPushgateway;

beforeAll(async () => {
  if (!available) return;
  gateway = await startPushgateway();
  source = await startTestCluster();
  await seedCanary(source.handle, 'backup_test');
  await createAwkwardDatabases(source.handle);
  dump = await dumpAllBytes(source.handle);
  scratch = await mkdtemp(join(tmpdir(), 'drill-self-test-'));
  await chmod(scratch, 0o777);
}, 180_000);
afterAll(async () => {
  await gateway?.stop();
  await source?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** The self-test's two metrics in the Pushgateway group of `pg_cluster`. */
async function selfTestMetrics(cluster: string): Promise<Record<string, number>> {
  const samples = await scrapeGroup(gateway.url, {
    job: 'pg_restore_drill',
    pg_cluster: cluster,
    target: 'local',
  });
  return Object.fromEntries(
    samples.filter((s) => s.name.startsWith('pg_dr_drill_selftest_')).map((s) => [s.name, s.value]),
  );
}

const push = (cluster: string) => ['--pushgateway', gateway.url, '--metrics-cluster', cluster];

describe.skipIf(!available)('--self-test', () => {
  it('is green on a good backup: each fault turned its check red, the real checks passed, 1 is pushed and stands', async () => {
    const run = await deepDrill(scratch, 'good', dump, ['--self-test', ...push('good')]);
    expect(run.code, run.stdout).toBe(0);
    const { report } = run;
    expect(report.selfTest?.verdict).toBe('ok');
    expect(report.selfTest?.faults.map((f) => [f.step, f.status, f.result])).toEqual(
      SELF_TEST_STEPS.map((step) => [step, 'passed', 'went red']),
    );
    expect(report.selfTest?.faults.map((f) => f.check)).toEqual([
      'precheck: backup is whole',
      'precheck: backup is whole',
      'verify: every table matches the backup',
      'verify: users are exactly alice, bob and charlie',
    ]);
    // The real checks ran after the faults, on the data as restored, and passed.
    const deep = report.checks.find((c) => c.name === 'verify: every table matches the backup');
    expect(deep?.status).toBe('passed');
    expect((report.deep?.tables ?? []).filter((t) => !t.digestMatch)).toEqual([]);
    expect(
      report.checks.find((c) => c.name === 'verify: users are exactly alice, bob and charlie')?.status,
    ).toBe('passed');
    expect(report.phases['self-test']).toBeGreaterThan(0);
    const finished = Date.parse(report.finishedAt) / 1000;
    expect(await selfTestMetrics('good')).toEqual({
      pg_dr_drill_selftest_ok: 1,
      pg_dr_drill_selftest_last_run_timestamp_seconds: finished,
    });

    // A later drill without --self-test pushes neither: the last self-test's result stands.
    const plain = await deepDrill(scratch, 'good-again', dump, push('good'));
    expect(plain.code, plain.stdout).toBe(0);
    expect(plain.report.selfTest).toBeUndefined();
    expect(await selfTestMetrics('good')).toEqual({
      pg_dr_drill_selftest_ok: 1,
      pg_dr_drill_selftest_last_run_timestamp_seconds: finished,
    });
  });

  it('is red, naming the check that could not go red, when a flipped bit cannot be seen (uncompressed .sql); 0 is pushed', async () => {
    const dir = join(scratch, 'uncompressed');
    await mkdir(dir);
    await writeFile(join(dir, 'postgres-backup-2026-11-21-030000.sql'), dump);
    const reports = join(scratch, 'uncompressed-report');
    const run = await runCli([
      '--backups',
      dir,
      '--verify',
      'deep',
      '--self-test',
      '--progress',
      'off',
      '--report-dir',
      reports,
      ...push('uncompressed'),
    ]);
    expect(run.code, run.stdout).toBe(1);
    const report = await readReport(reports);
    const failed = report.checks.filter((c) => c.status !== 'passed');
    expect(failed.map((c) => [c.name, c.status])).toEqual([
      ['self-test: a bit-flipped copy fails the precheck', 'failed'],
    ]);
    expect(failed[0]?.message).toMatch(
      /^self-test failed: `precheck: backup is whole` could not go red: a bit-flipped copy \(postgres-backup-2026-11-21-030000\.sql bit 0x10 of byte \d+ \(of \d+\) flipped\) passed it \(the precheck found it whole: an uncompressed postgres-backup-2026-11-21-030000\.sql carries no checksum/,
    );
    expect(report.selfTest?.verdict).toBe('failed');
    expect(run.stdout).toContain('self-test FAILED: 3 of 4 fault(s) made their check go red');
    expect(await selfTestMetrics('uncompressed')).toEqual({
      pg_dr_drill_selftest_ok: 0,
      pg_dr_drill_selftest_last_run_timestamp_seconds: Date.parse(report.finishedAt) / 1000,
    });
  });

  it('is refused without --verify deep, before any work, naming the fix', async () => {
    const run = await runCli(['--self-test', '--verify', 'canary', '--report-dir', join(scratch, 'refused')]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(
      '--self-test proves that a changed row fails deep verification, and --verify is canary: add --verify deep (DRILL_VERIFY=deep), or drop --self-test.',
    );
  });
});
