import type { DrillConfig } from '../config.ts';
import { eventReporter, inDrillJobPod } from '../k8s/event-reporter.ts';
import type { Logger } from '../log.ts';
import { metricsReporter } from '../report/publish-metrics.ts';
import { type DrillReport, formatSummary } from '../report/report.ts';
import { reportFileReporter } from '../report/report-file.ts';
import { publishReport, type Reporter } from '../report/reporter.ts';

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
 * Publishes a finished run's report: the metrics push when asked for (its outcome goes on the report),
 * report.json, then in a Job's pod the Kubernetes Event (bounded; report.json written again with its
 * outcome), then the summary on stdout. No reporter's failure is the drill's: each is logged, and the
 * next one still runs.
 */
export async function publishDrillReport(
  report: DrillReport,
  config: DrillConfig,
  deps: PublishDeps,
): Promise<void> {
  const file = reportFileReporter(config.reportDir);
  const event = eventFor(config, deps);
  const afterFile = event ? [event, file] : [];
  await publishReport([...reportersFor(config, deps), file, ...afterFile], report, deps.log);
  const junit = config.junit ? `\n  junit     ${config.junit}` : '';
  deps.out.write(`\n${formatSummary(report)}\n  report    ${file.path ?? 'NOT written'}${junit}\n`);
}

/** The reporters this run was asked for (or, in a Job's pod, placed for), before report.json. */
function reportersFor(config: DrillConfig, deps: PublishDeps): Reporter[] {
  const reporters: Reporter[] = [];
  if (config.pushgateway) {
    reporters.push(
      metricsReporter({
        url: config.pushgateway,
        grouping: {
          cluster: config.metricsCluster,
          target: config.metricsTarget ?? deps.targetKind ?? config.target,
        },
        rtoBudgetSeconds: config.rtoSeconds,
        requirePush: config.requirePush,
        log: deps.log,
      }),
    );
  }
  return reporters;
}

/** In a Job's pod, the Event on the Job; sent after report.json so the API server cannot cost it. */
function eventFor(config: DrillConfig, deps: PublishDeps): Reporter | undefined {
  if (!inDrillJobPod(deps.env)) return undefined;
  const { kubeconfig, context, namespace } = config;
  const { env, now, log, signal } = deps;
  return eventReporter({ env, kubeconfig, context, namespace, now, log, signal });
}
