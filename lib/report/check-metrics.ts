import { Gauge, type Registry } from 'prom-client';

// The daily check's metrics (--check-only, lib/drill/check-only.ts), pushed under job
// pg_restore_drill_check with the drill's other grouping labels. The backup's two are named as the
// drill's own, so an alert can take the newest of the drill's and the check's pushes.

/** The Pushgateway job the daily check pushes under: its own group, never the quarterly drill's. */
export const CHECK_JOB_NAME = 'pg_restore_drill_check';

export const CHECK_METRIC_NAMES = [
  'pg_dr_check_success',
  'pg_dr_check_last_run_timestamp_seconds',
  'pg_dr_drill_backup_timestamp_seconds',
  'pg_dr_drill_backup_size_bytes',
  'pg_dr_backup_integrity_ok',
] as const;
export type CheckMetricName = (typeof CHECK_METRIC_NAMES)[number];

const HELP: Record<CheckMetricName, string> = {
  pg_dr_check_success:
    '1 if the last daily check found the newest backup and proved it whole, 0 if it did not.',
  pg_dr_check_last_run_timestamp_seconds: 'Unix time the last daily check finished, successful or not.',
  pg_dr_drill_backup_timestamp_seconds: 'Unix time the newest backup was taken (from its file name).',
  pg_dr_drill_backup_size_bytes: 'Size in bytes of the newest backup.',
  pg_dr_backup_integrity_ok:
    '1 if the newest backup read whole (gzip to its end, the dump trailer and header), 0 if not.',
};

export interface CheckMetricsInput {
  success: boolean;
  finishedAt: Date;
  /** Absent when no backup was found: the Pushgateway keeps the previous one's, and its age grows. */
  backup?: { takenAt: Date; sizeBytes: number };
  /** Absent when no backup was read. */
  integrityOk?: boolean;
}

/**
 * Puts the check's metrics on `registry`. What was not measured is left out, not set to 0: with the
 * Pushgateway's add semantics the previous value stays, so a vanished backup volume cannot make an old
 * backup look new.
 */
export function recordCheckMetrics(registry: Registry, input: CheckMetricsInput): void {
  const gauge = (name: CheckMetricName, value: number) =>
    new Gauge({ name, help: HELP[name], registers: [registry] }).set(value);
  for (const name of CHECK_METRIC_NAMES) registry.removeSingleMetric(name);
  gauge('pg_dr_check_success', input.success ? 1 : 0);
  gauge('pg_dr_check_last_run_timestamp_seconds', input.finishedAt.getTime() / 1000);
  if (input.backup) {
    gauge('pg_dr_drill_backup_timestamp_seconds', input.backup.takenAt.getTime() / 1000);
    gauge('pg_dr_drill_backup_size_bytes', input.backup.sizeBytes);
  }
  if (input.integrityOk !== undefined) gauge('pg_dr_backup_integrity_ok', input.integrityOk ? 1 : 0);
}
