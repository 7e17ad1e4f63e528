import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { recordDrillMetrics } from './metrics.ts';
import { metricsInput } from './publish-metrics.ts';
import { buildReport, formatSummary } from './report.ts';
import { selfTestOf } from './self-test.ts';
import type { StepRecord } from './steps.ts';

const outcome = (fault: string, check: string, result: string) => ({
  fault,
  check,
  applied: `${fault} applied`,
  isolation: 'rolled back',
  result,
  said: `${check} said so`,
});

function step(name: string, status: StepRecord['status'], message: string, selfTest?: object): StepRecord {
  return {
    id: name,
    name,
    phase: 'self-test',
    status,
    durationMs: 10,
    message,
    facts: selfTest ? { selfTest } : {},
  };
}

const red = step(
  'self-test: a truncated copy fails the precheck',
  'passed',
  'went red',
  outcome('truncated copy', 'precheck: backup is whole', 'went red'),
);
const green = step(
  'self-test: a bit-flipped copy fails the precheck',
  'failed',
  'self-test failed: `precheck: backup is whole` could not go red',
  outcome('bit-flipped copy', 'precheck: backup is whole', 'stayed green'),
);
const notRun = step(
  'self-test: a changed row fails deep verification',
  'skipped',
  'not run: `restore: completed` did not pass, and this check needs a completed restore',
);
const noCanary = step(
  'self-test: a canary missing a user fails its check',
  'skipped',
  'not run: --canary none (this drill has no canary database to check)',
);

async function pushed(steps: StepRecord[]): Promise<Record<string, number>> {
  const report = buildReport({
    runId: 'r',
    mode: 'backups',
    startedAt: new Date('2026-12-01T03:00:00Z'),
    finishedAt: new Date('2026-12-01T03:00:10Z'),
    target: undefined,
    steps,
    errors: [],
    interrupted: undefined,
  });
  const registry = new Registry();
  recordDrillMetrics(registry, metricsInput(report, 300));
  const out: Record<string, number> = {};
  for (const metric of await registry.getMetricsAsJSON())
    if (metric.name.startsWith('pg_dr_drill_selftest_')) out[metric.name] = metric.values[0]?.value ?? NaN;
  return out;
}

describe('the self-test in the report and the metrics', () => {
  it('is ok when every fault that applies went red, and pushes 1 with the run time', async () => {
    expect(selfTestOf([red, noCanary]).selfTest).toEqual({
      verdict: 'ok',
      ok: true,
      faults: [
        {
          step: red.name,
          status: 'passed',
          ...outcome('truncated copy', 'precheck: backup is whole', 'went red'),
        },
        { step: noCanary.name, status: 'skipped', result: 'not applicable', said: noCanary.message },
      ],
    });
    expect(await pushed([red, noCanary])).toEqual({
      pg_dr_drill_selftest_ok: 1,
      pg_dr_drill_selftest_last_run_timestamp_seconds: Date.parse('2026-12-01T03:00:10Z') / 1000,
    });
  });

  it('fails when a check stayed green, pushes 0, and the summary names the fault', async () => {
    expect(selfTestOf([red, green, notRun]).selfTest?.verdict).toBe('failed');
    expect((await pushed([red, green, notRun])).pg_dr_drill_selftest_ok).toBe(0);
    const summary = formatSummary(
      buildReport({
        runId: 'r',
        mode: 'backups',
        startedAt: new Date(0),
        finishedAt: new Date(1000),
        target: undefined,
        steps: [red, green],
        errors: [],
        interrupted: undefined,
      }),
    );
    expect(summary.split('\n').filter((l) => l.startsWith('  self-test'))).toEqual([
      '  self-test FAILED: 1 of 2 fault(s) made their check go red',
      '  self-test a bit-flipped copy fails the precheck: stayed green: precheck: backup is whole said so',
    ]);
  });

  it('is incomplete, and pushes nothing, when faults never ran and none failed', async () => {
    expect(selfTestOf([red, notRun]).selfTest?.verdict).toBe('incomplete');
    expect(await pushed([red, notRun])).toEqual({});
  });

  it('is absent from a run without --self-test, which pushes no self-test metric', async () => {
    expect(selfTestOf([step('verify: canary exists again', 'passed', 'back')])).toEqual({});
    expect(await pushed([step('verify: canary exists again', 'passed', 'back')])).toEqual({});
  });

  it('is never ok with nothing proven: only not-applicable faults', () => {
    expect(selfTestOf([noCanary]).selfTest?.verdict).toBe('incomplete');
  });
});
