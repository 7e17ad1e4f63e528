import type { Logger } from '../log.ts';
import type { DrillMetricsInput } from './metrics.ts';
import type { PushResult, pushDrillMetrics } from './pushgateway.ts';
import { redactUrl } from './pushgateway-url.ts';
import type { DrillReport } from './report.ts';
import type { Reporter } from './reporter.ts';

/** What report.json says of the push. */
export interface PushOutcome {
  url: string;
  /** The group's job label: pg_restore_drill, or pg_restore_drill_table for a `--table` drill. */
  job: string;
  grouping: Record<string, string>;
  ok: boolean;
  attempts: number;
  error?: string;
}

/** The metrics of one run, read off its report: what ran is timed, what did not is absent. */
export function metricsInput(report: DrillReport, rtoBudgetSeconds: number): DrillMetricsInput {
  const input: DrillMetricsInput = {
    success: report.verdict === 'passed',
    finishedAt: new Date(report.finishedAt),
    phaseSeconds: { ...report.phases },
    checksFailed: report.counts.failed,
    rtoBudgetSeconds,
  };
  if (report.restore) {
    input.restoreSeconds = report.restore.seconds;
    input.restoreErrorsAccepted = report.restore.acceptedErrors?.length ?? 0;
  }
  if (report.backup)
    input.backup = { takenAt: new Date(report.backup.takenAt), sizeBytes: report.backup.sizeBytes };
  // An incomplete self-test (an earlier step failed) says nothing of the checks: the last one's value stands.
  if (report.selfTest && report.selfTest.verdict !== 'incomplete') input.selfTestOk = report.selfTest.ok;
  const throughput = report.forecast?.throughputBytesPerSecond;
  if (throughput != null) input.restoreThroughputBytesPerSecond = throughput;
  const forecast = report.forecast?.forecastSeconds;
  if (forecast != null) input.rtoForecastSeconds = forecast;
  return input;
}

export interface PublishOptions {
  url: string;
  /** The group's job label (pushgateway.ts PUSH_JOB_NAME or TABLE_PUSH_JOB_NAME). */
  job: string;
  grouping: Record<string, string>;
  rtoBudgetSeconds: number;
  log: Logger;
  /** The run's stop: no retry of the push once it fired (pushgateway.ts). */
  signal?: AbortSignal;
  /** Test seams; the defaults are the real ones. */
  push?: typeof pushDrillMetrics;
}

/**
 * Pushes the run's metrics on a registry of its own (never the global one). A failed push is logged and
 * returned, never thrown: whether it fails the run is the caller's decision (`--require-push`).
 */
export async function publishMetrics(report: DrillReport, options: PublishOptions): Promise<PushOutcome> {
  // prom-client and the push are loaded by a run that pushes, not by every drill at start-up.
  const [{ Registry }, { recordDrillMetrics }, { pushDrillMetrics }] = await Promise.all([
    import('prom-client'),
    import('./metrics.ts'),
    import('./pushgateway.ts'),
  ]);
  const registry = new Registry();
  recordDrillMetrics(registry, metricsInput(report, options.rtoBudgetSeconds));
  const result: PushResult = await (options.push ?? pushDrillMetrics)({
    registry,
    url: options.url,
    job: options.job,
    grouping: options.grouping,
    logger: options.log,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const outcome: PushOutcome = {
    url: redactUrl(options.url),
    job: options.job,
    grouping: options.grouping,
    ok: result.ok,
    attempts: result.attempts,
  };
  if (result.ok) {
    options.log.info(
      `metrics pushed to ${outcome.url} (job ${options.job}, ${Object.entries(options.grouping)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ')})`,
    );
  } else {
    outcome.error = result.error.message;
    options.log.warn(result.error.message);
  }
  return outcome;
}

/**
 * The Pushgateway as a reporter: notes the push on the report; under `requirePush` a failed push turns
 * a passing run into an error (exit 1), the one way a reporter changes the verdict, because asked to.
 */
export function metricsReporter(options: PublishOptions & { requirePush: boolean }): Reporter {
  return {
    name: 'the metrics push',
    async publish(report) {
      report.push = await publishMetrics(report, options);
      if (!report.push.ok && options.requirePush && report.exitCode === 0) {
        report.verdict = 'error';
        report.exitCode = 1;
        report.errors.push('the metrics push failed and --require-push is set');
      }
    },
  };
}
