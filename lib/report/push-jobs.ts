// The Pushgateway jobs the drill pushes under, apart from prom-client and the push itself (which a run
// loads only when it pushes). The daily check's job is check-metrics.ts CHECK_JOB_NAME.

/** The full drill's job: the quarterly CronJob, `npm run drill`, the CI gate. */
export const PUSH_JOB_NAME = 'pg_restore_drill';

/**
 * A `--table` drill's job: its group must never replace the full drill's, whose last success
 * PgRestoreDrillMissing reads (one table restored would otherwise pass for the whole backup).
 */
export const TABLE_PUSH_JOB_NAME = 'pg_restore_drill_table';
