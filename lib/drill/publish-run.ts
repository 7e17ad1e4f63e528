import { ownPod } from '../config/kube-settings.ts';
import type { DrillConfig } from '../config.ts';
import { eventReporter, inDrillJobPod } from '../k8s/event-reporter.ts';
import type { Logger } from '../log.ts';
import { historyReporter } from '../report/history-reporter.ts';
import { metricsReporter } from '../report/publish-metrics.ts';
import { PUSH_JOB_NAME, TABLE_PUSH_JOB_NAME } from '../report/push-jobs.ts';
import { type DrillReport, formatSummary } from '../report/report.ts';
import { reportFileReporter } from '../report/report-file.ts';
import { publishReport, type Reporter } from '../report/reporter.ts';
import { terminationMessageReporter } from '../report/termination-message.ts';

export interface PublishDeps {
  env: NodeJS.ProcessEnv;
  log: Logger;
  out: NodeJS.WritableStream;
  now: () => Date;
  /** The kind of target the run restored into, when it got one: the metrics' `target` label. */
  targetKind: string | undefined;
  /** The run's stop: the Kubernetes Event is skipped once it has aborted. */
  signal?: AbortSignal;
}

/**
 * Publishes a finished run's report: report.json, the metrics push when asked for (its outcome goes on
 * the report), report.json again, then in a Job's pod the Kubernetes Event (bounded; report.json written again with its
 * outcome), then the summary on stdout. No reporter's failure is the drill's: each is logged, and the
 * next one still runs.
 */
export async function publishDrillReport(
  report: DrillReport,
  config: DrillConfig,
  deps: PublishDeps,
): Promise<void> {
  const file = reportFileReporter(config.reportDir);
  // After report.json, so the API server cannot cost it: the Event (then report.json again, with its
  // outcome); and the history, which says what the report says (its failure is never the verdict).
  const event = eventFor(config, deps);
  const afterFile = event ? [event, file] : [];
  const history = historyReporter(historyPlace(config, deps.env), config.mode, deps.log);
  // Before a push too (then again with its outcome): a push to a Pushgateway that never answers takes
  // up to 16.5 s, and a second signal meanwhile, or a kill, left no report at all.
  const beforePush = config.pushgateway ? [file] : [];
  await publishReport(
    [...beforePush, ...reportersFor(config, deps), file, ...afterFile, history],
    report,
    deps.log,
  );
  const junit = config.junit ? `\n  junit     ${config.junit}` : '';
  deps.out.write(
    `\n${formatSummary(report)}\n  report    ${file.path ?? 'NOT written'}${junit}\n  history   ${history.outcome}\n`,
  );
}

/** The grouping labels of every push (the drill's and the daily check's, each under its own job). */
export function metricsGrouping(config: DrillConfig, targetKind?: string): Record<string, string> {
  return { pg_cluster: config.metricsCluster, target: config.metricsTarget ?? targetKind ?? config.target };
}

/** The reporters this run was asked for (or, in a Job's pod, placed for), before report.json. */
function reportersFor(config: DrillConfig, deps: PublishDeps): Reporter[] {
  const reporters: Reporter[] = config.terminationLog
    ? [terminationMessageReporter(config.terminationLog)]
    : [];
  if (config.pushgateway) {
    reporters.push(
      metricsReporter({
        url: config.pushgateway,
        // A table drill proves one table: under the full drill's job it would pass for the whole backup.
        job: config.table ? TABLE_PUSH_JOB_NAME : PUSH_JOB_NAME,
        grouping: metricsGrouping(config, deps.targetKind),
        rtoBudgetSeconds: config.rtoSeconds,
        requirePush: config.requirePush,
        log: deps.log,
        ...(deps.signal ? { signal: deps.signal } : {}),
      }),
    );
  }
  return reporters;
}

/** In a pod of the drill's Job the history is the cluster's ConfigMap; elsewhere the report directory's file. */
function historyPlace(config: DrillConfig, env: NodeJS.ProcessEnv): Parameters<typeof historyReporter>[0] {
  if (!inDrillJobPod(env)) return { kind: 'file', reportDir: config.reportDir };
  const { kubeconfig, context } = config;
  return {
    kind: 'configmap',
    name: config.historyConfigMap,
    env,
    kubeconfig,
    context,
    namespace: config.namespace ?? ownPod(env).podNamespace,
  };
}

/** In a Job's pod, the Event on the Job; sent after report.json so the API server cannot cost it. */
function eventFor(config: DrillConfig, deps: PublishDeps): Reporter | undefined {
  if (!inDrillJobPod(deps.env)) return undefined;
  const { kubeconfig, context, namespace } = config;
  const { env, now, log, signal } = deps;
  return eventReporter({ env, kubeconfig, context, namespace, now, log, signal });
}
