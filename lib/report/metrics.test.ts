import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { DrillMetricsInput } from './metrics.ts';
import { DRILL_METRIC_NAMES, InvalidDrillMetricsInputError, recordDrillMetrics } from './metrics.ts';

type Samples = Record<string, { labels: Record<string, string | number | undefined>; value: number }[]>;

async function samples(registry: Registry): Promise<Samples> {
  const out: Samples = {};
  for (const metric of await registry.getMetricsAsJSON()) {
    out[metric.name] = metric.values.map(({ labels, value }) => ({ labels: { ...labels }, value }));
  }
  return out;
}

const success: DrillMetricsInput = {
  success: true,
  finishedAt: new Date('2026-10-01T03:42:10.500Z'),
  restoreSeconds: 1200.25,
  restoreErrorsAccepted: 2,
  phaseSeconds: { precheck: 2.5, drop: 1, restore: 1200.25, verify: 30, total: 1233.75 },
  backup: { takenAt: new Date('2026-10-01T01:00:00Z'), sizeBytes: 5_368_709_120 },
  checksFailed: 0,
  rtoBudgetSeconds: 3600,
  restoreThroughputBytesPerSecond: 4_473_924,
  rtoForecastSeconds: 1875.5,
};

describe('recordDrillMetrics', () => {
  it('records every metric of a successful run with exact values', async () => {
    const registry = new Registry();
    recordDrillMetrics(registry, success);

    expect(await samples(registry)).toEqual({
      pg_dr_drill_success: [{ labels: {}, value: 1 }],
      pg_dr_drill_last_run_timestamp_seconds: [{ labels: {}, value: 1790826130.5 }],
      pg_dr_drill_last_success_timestamp_seconds: [{ labels: {}, value: 1790826130.5 }],
      pg_dr_drill_restore_duration_seconds: [{ labels: {}, value: 1200.25 }],
      pg_dr_drill_phase_duration_seconds: [
        { labels: { phase: 'precheck' }, value: 2.5 },
        { labels: { phase: 'drop' }, value: 1 },
        { labels: { phase: 'restore' }, value: 1200.25 },
        { labels: { phase: 'verify' }, value: 30 },
        { labels: { phase: 'total' }, value: 1233.75 },
      ],
      pg_dr_drill_backup_timestamp_seconds: [{ labels: {}, value: 1790816400 }],
      pg_dr_drill_backup_size_bytes: [{ labels: {}, value: 5368709120 }],
      pg_dr_drill_checks_failed: [{ labels: {}, value: 0 }],
      pg_dr_drill_rto_budget_seconds: [{ labels: {}, value: 3600 }],
      pg_dr_drill_restore_errors_accepted: [{ labels: {}, value: 2 }],
      pg_dr_drill_restore_throughput_bytes_per_second: [{ labels: {}, value: 4473924 }],
      pg_dr_drill_rto_forecast_seconds: [{ labels: {}, value: 1875.5 }],
    });
  });

  it('exports exactly the names listed in DRILL_METRIC_NAMES', async () => {
    const registry = new Registry();
    // The self-test's metrics come only from runs with --self-test (lib/report/self-test.test.ts).
    recordDrillMetrics(registry, { ...success, selfTestOk: true });

    expect(Object.keys(await samples(registry)).sort()).toEqual([...DRILL_METRIC_NAMES].sort());
  });

  it('leaves last_success, restore duration and backup out of a failed run, and labels only phases that ran', async () => {
    const registry = new Registry();
    recordDrillMetrics(registry, {
      success: false,
      finishedAt: new Date('2026-10-01T03:00:05Z'),
      phaseSeconds: { precheck: 4, total: 5 },
      checksFailed: 2,
      rtoBudgetSeconds: 3600,
    });

    expect(await samples(registry)).toEqual({
      pg_dr_drill_success: [{ labels: {}, value: 0 }],
      pg_dr_drill_last_run_timestamp_seconds: [{ labels: {}, value: 1790823605 }],
      pg_dr_drill_phase_duration_seconds: [
        { labels: { phase: 'precheck' }, value: 4 },
        { labels: { phase: 'total' }, value: 5 },
      ],
      pg_dr_drill_checks_failed: [{ labels: {}, value: 2 }],
      pg_dr_drill_rto_budget_seconds: [{ labels: {}, value: 3600 }],
    });
  });

  it('omits the phase metric entirely when no phase ran', async () => {
    const registry = new Registry();
    recordDrillMetrics(registry, { ...success, success: false, phaseSeconds: {} });

    expect(Object.keys(await samples(registry))).not.toContain('pg_dr_drill_phase_duration_seconds');
  });

  it('replaces the values of an earlier call on the same registry', async () => {
    const registry = new Registry();
    recordDrillMetrics(registry, success);
    recordDrillMetrics(registry, {
      success: false,
      finishedAt: new Date('2026-10-02T00:00:00Z'),
      phaseSeconds: { total: 1 },
      checksFailed: 0,
      rtoBudgetSeconds: 60,
    });

    const after = await samples(registry);
    expect(Object.keys(after).sort()).toEqual([
      'pg_dr_drill_checks_failed',
      'pg_dr_drill_last_run_timestamp_seconds',
      'pg_dr_drill_phase_duration_seconds',
      'pg_dr_drill_rto_budget_seconds',
      'pg_dr_drill_success',
    ]);
    expect(after.pg_dr_drill_phase_duration_seconds).toEqual([{ labels: { phase: 'total' }, value: 1 }]);
  });

  it('puts nothing on the global registry', async () => {
    const { register } = await import('prom-client');
    recordDrillMetrics(new Registry(), success);

    expect(register.getSingleMetric('pg_dr_drill_success')).toBeUndefined();
  });

  it('rejects an invalid input before touching the registry', async () => {
    const registry = new Registry();
    recordDrillMetrics(registry, success);

    let caught: unknown;
    try {
      recordDrillMetrics(registry, { ...success, phaseSeconds: { restore: Number.NaN } });
    } catch (error) {
      caught = error;
    }

    expect(caught).toBeInstanceOf(InvalidDrillMetricsInputError);
    expect(caught).toMatchObject({
      code: 'DRILL_METRICS_INPUT_INVALID',
      field: 'phaseSeconds.restore',
      message: 'drill metrics input phaseSeconds.restore is NaN; expected a finite number >= 0',
    });
    expect((await samples(registry)).pg_dr_drill_success).toEqual([{ labels: {}, value: 1 }]);
  });

  it('rejects an invalid date', () => {
    expect(() => recordDrillMetrics(new Registry(), { ...success, finishedAt: new Date('nope') })).toThrow(
      'drill metrics input finishedAt is Invalid Date; expected a valid Date',
    );
  });
});
