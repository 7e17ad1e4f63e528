import type { Registry } from 'prom-client';
import { Gauge } from 'prom-client';
import { DrillError } from '../errors.ts';

// Prometheus' batch-job guidance: export timestamps (not ages) and durations as gauges, and make
// "last success" the key metric so a stopped or failing job is visible from its age alone.

export const DRILL_PHASES = ['precheck', 'drop', 'restore', 'table', 'verify', 'self-test', 'total'] as const;
export type DrillPhase = (typeof DRILL_PHASES)[number];

export const PHASE_LABEL_NAMES = ['phase'] as const;

/** Every label a drill metric carries itself; grouping labels must not reuse them. */
export const DRILL_METRIC_LABEL_NAMES: readonly string[] = PHASE_LABEL_NAMES;

export const DRILL_METRIC_NAMES = [
  'pg_dr_drill_success',
  'pg_dr_drill_last_run_timestamp_seconds',
  'pg_dr_drill_last_success_timestamp_seconds',
  'pg_dr_drill_restore_duration_seconds',
  'pg_dr_drill_phase_duration_seconds',
  'pg_dr_drill_backup_timestamp_seconds',
  'pg_dr_drill_backup_size_bytes',
  'pg_dr_drill_checks_failed',
  'pg_dr_drill_rto_budget_seconds',
  'pg_dr_drill_restore_errors_accepted',
  'pg_dr_drill_selftest_ok',
  'pg_dr_drill_selftest_last_run_timestamp_seconds',
  'pg_dr_drill_restore_throughput_bytes_per_second',
  'pg_dr_drill_rto_forecast_seconds',
] as const;
export type DrillMetricName = (typeof DRILL_METRIC_NAMES)[number];

const HELP: Record<DrillMetricName, string> = {
  pg_dr_drill_success: '1 if the last drill run restored and verified the backup, 0 if it failed.',
  pg_dr_drill_last_run_timestamp_seconds: 'Unix time the last drill run finished, successful or not.',
  pg_dr_drill_last_success_timestamp_seconds: 'Unix time the last successful drill run finished.',
  pg_dr_drill_restore_duration_seconds:
    'Wall-clock seconds the restore step took in the last run that restored.',
  pg_dr_drill_phase_duration_seconds:
    'Wall-clock seconds per drill phase in the last run, only for phases that ran.',
  pg_dr_drill_backup_timestamp_seconds: 'Unix time the tested backup was taken.',
  pg_dr_drill_backup_size_bytes: 'Size in bytes of the tested backup.',
  pg_dr_drill_checks_failed: 'Number of verification checks that failed in the last run.',
  pg_dr_drill_rto_budget_seconds: 'Restore time objective the restore duration is judged against.',
  pg_dr_drill_restore_errors_accepted:
    "Restore errors the expectations file's allow rules accepted in the last run that restored.",
  pg_dr_drill_selftest_ok:
    '1 if the last --self-test made every check go red on its deliberate fault, 0 if one could not; only pushed by runs with --self-test.',
  pg_dr_drill_selftest_last_run_timestamp_seconds: 'Unix time the last drill run with --self-test finished.',
  pg_dr_drill_restore_throughput_bytes_per_second:
    'SQL bytes restored per second of restore in the last run that restored.',
  pg_dr_drill_rto_forecast_seconds:
    "Restore time forecast 90 days ahead: the newest backup's SQL size grown at its predecessors' rate, at the measured throughput.",
};

export interface DrillMetricsInput {
  success: boolean;
  finishedAt: Date; // end of the run
  restoreSeconds?: number; // absent if the restore never ran
  restoreErrorsAccepted?: number; // absent if the restore never ran
  phaseSeconds: Partial<Record<DrillPhase, number>>;
  backup?: { takenAt: Date; sizeBytes: number };
  checksFailed: number;
  rtoBudgetSeconds: number;
  /** --self-test's outcome; absent when the run had no self-test (the last one's value then stands). */
  selfTestOk?: boolean;
  restoreThroughputBytesPerSecond?: number; // absent if the restore never completed
  rtoForecastSeconds?: number; // absent without a forecast (fewer than 2 backups, no completed restore)
}

export class InvalidDrillMetricsInputError extends DrillError {
  static override readonly code = 'DRILL_METRICS_INPUT_INVALID';
  readonly field: string;
  readonly value: unknown;

  constructor(field: string, value: unknown, expected: string) {
    super(`drill metrics input ${field} is ${String(value)}; expected ${expected}`);
    this.field = field;
    this.value = value;
  }
}

function seconds(field: string, date: Date): number {
  const ms = date.getTime();
  if (!Number.isFinite(ms)) throw new InvalidDrillMetricsInputError(field, date, 'a valid Date');
  return ms / 1000;
}

function amount(field: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) {
    throw new InvalidDrillMetricsInputError(field, value, 'a finite number >= 0');
  }
  return value;
}

function optionalAmount(field: string, value: number | undefined): number | undefined {
  return value === undefined ? undefined : amount(field, value);
}

function gauge(registry: Registry, name: DrillMetricName, value: number): void {
  new Gauge({ name, help: HELP[name], registers: [registry] }).set(value);
}

/**
 * Puts the drill's metrics on `registry`, replacing any drill metrics already there.
 *
 * Metrics without a value are left out rather than set to 0: with add-semantics pushes an absent
 * metric keeps the Pushgateway's previous value, which is what makes `last_success` survive a failure.
 */
export function recordDrillMetrics(registry: Registry, input: DrillMetricsInput): void {
  // Validate everything before touching the registry so a bad input never leaves half a report.
  const finished = seconds('finishedAt', input.finishedAt);
  const checksFailed = amount('checksFailed', input.checksFailed);
  const rtoBudget = amount('rtoBudgetSeconds', input.rtoBudgetSeconds);
  const restore =
    input.restoreSeconds === undefined ? undefined : amount('restoreSeconds', input.restoreSeconds);
  const accepted =
    input.restoreErrorsAccepted === undefined
      ? undefined
      : amount('restoreErrorsAccepted', input.restoreErrorsAccepted);
  const phases = DRILL_PHASES.flatMap((phase) => {
    const value = input.phaseSeconds[phase];
    return value === undefined ? [] : [{ phase, value: amount(`phaseSeconds.${phase}`, value) }];
  });
  const backup =
    input.backup === undefined
      ? undefined
      : {
          taken: seconds('backup.takenAt', input.backup.takenAt),
          size: amount('backup.sizeBytes', input.backup.sizeBytes),
        };

  const throughput = optionalAmount('restoreThroughputBytesPerSecond', input.restoreThroughputBytesPerSecond);
  const forecast = optionalAmount('rtoForecastSeconds', input.rtoForecastSeconds);

  for (const name of DRILL_METRIC_NAMES) registry.removeSingleMetric(name);

  gauge(registry, 'pg_dr_drill_success', input.success ? 1 : 0);
  gauge(registry, 'pg_dr_drill_last_run_timestamp_seconds', finished);
  if (input.success) gauge(registry, 'pg_dr_drill_last_success_timestamp_seconds', finished);
  if (restore !== undefined) gauge(registry, 'pg_dr_drill_restore_duration_seconds', restore);
  if (accepted !== undefined) gauge(registry, 'pg_dr_drill_restore_errors_accepted', accepted);
  if (phases.length > 0) {
    const name = 'pg_dr_drill_phase_duration_seconds';
    const byPhase = new Gauge({
      name,
      help: HELP[name],
      labelNames: PHASE_LABEL_NAMES,
      registers: [registry],
    });
    for (const { phase, value } of phases) byPhase.set({ phase }, value);
  }
  if (backup !== undefined) {
    gauge(registry, 'pg_dr_drill_backup_timestamp_seconds', backup.taken);
    gauge(registry, 'pg_dr_drill_backup_size_bytes', backup.size);
  }
  gauge(registry, 'pg_dr_drill_checks_failed', checksFailed);
  gauge(registry, 'pg_dr_drill_rto_budget_seconds', rtoBudget);
  if (input.selfTestOk !== undefined) {
    gauge(registry, 'pg_dr_drill_selftest_ok', input.selfTestOk ? 1 : 0);
    gauge(registry, 'pg_dr_drill_selftest_last_run_timestamp_seconds', finished);
  }
  if (throughput !== undefined)
    gauge(registry, 'pg_dr_drill_restore_throughput_bytes_per_second', throughput);
  if (forecast !== undefined) gauge(registry, 'pg_dr_drill_rto_forecast_seconds', forecast);
}
