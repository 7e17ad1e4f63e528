import { ownPod } from '../config/kube-settings.ts';
import type { DrillConfig } from '../config.ts';
import { eventReporter, inDrillJobPod } from '../k8s/event-reporter.ts';
import type { Logger } from '../log.ts';
import { historyReporter } from '../report/history-reporter.ts';
import { metricsReporter } from '../report/publish-metrics.ts';
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
}

/**
 * Publishes a finished run's report: the metrics push and the Kubernetes Event when asked for (their
 * outcomes go on the report), report.json last, then the summary on stdout. No reporter's failure is
 * the drill's: each is logged, and the next one still runs.
 */
export async function publishDrillReport(
  report: DrillReport,
  config: DrillConfig,
  deps: PublishDeps,
): Promise<void> {
  const file = reportFileReporter(config.reportDir);
  // After report.json: the history says what the report says, and its failure is never the verdict.
  const history = historyReporter(historyPlace(config, deps.env), config.mode, deps.log);
  await publishReport([...reportersFor(config, deps), file, history], report, deps.log);
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
        grouping: metricsGrouping(config, deps.targetKind),
        rtoBudgetSeconds: config.rtoSeconds,
        requirePush: config.requirePush,
        log: deps.log,
      }),
    );
  }
  if (inDrillJobPod(deps.env)) {
    const { kubeconfig, context, namespace } = config;
    reporters.push(
      eventReporter({ env: deps.env, kubeconfig, context, namespace, now: deps.now, log: deps.log }),
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
