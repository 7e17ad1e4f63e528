import { ownPod } from '../config/kube-settings.ts';
import type { Logger } from '../log.ts';
import type { DrillReport } from '../report/report.ts';
import type { Reporter } from '../report/reporter.ts';

export interface EventReporterOptions {
  /** Read for the kubeconfig and the Job's downward-API variables (events.ts). */
  env: NodeJS.ProcessEnv;
  kubeconfig: string | undefined;
  context: string | undefined;
  namespace: string | undefined;
  now: () => Date;
  log: Logger;
  /** The run's stop: once it has aborted (SIGTERM near the deadline) the Event is skipped. */
  signal?: AbortSignal;
}

/** Whether this process runs in a pod of the drill's Job (where an Event has a Job to be about). */
export function inDrillJobPod(env: NodeJS.ProcessEnv): boolean {
  const pod = ownPod(env);
  return Boolean(env.KUBERNETES_SERVICE_HOST && (pod.jobName || pod.podName));
}

/**
 * The DrillSucceeded / DrillFailed Event on the drill's Job as a reporter; its outcome goes on the report.
 * Placed after report.json (publish-run.ts): each API call is bounded by KUBE_CALL_TIMEOUT_MS, and a run
 * that was stopped skips it, so the API server can never cost the report.
 */
export function eventReporter(options: EventReporterOptions): Reporter {
  return {
    name: 'the Kubernetes Event',
    async publish(report: DrillReport) {
      if (options.signal?.aborted) {
        const error = `skipped: the run was stopped (${String(options.signal.reason)})`;
        options.log.warn(`Kubernetes Event ${error}`);
        report.event = { recorded: false, error };
        return;
      }
      report.event = await recordEvent(report, options);
    },
  };
}

async function recordEvent(
  report: DrillReport,
  options: EventReporterOptions,
): Promise<DrillReport['event']> {
  try {
    // Loaded only in the drill's pod: the Kubernetes client costs a drill elsewhere 0.7 s and 70 MB.
    const [{ loadKubeConfig }, { recordDrillEvent }] = await Promise.all([
      import('./kube-config.ts'),
      import('./events.ts'),
    ]);
    const { kubeConfig, namespace } = loadKubeConfig({
      env: options.env,
      kubeconfig: options.kubeconfig,
      context: options.context,
      namespace: options.namespace,
    });
    const outcome = await recordDrillEvent({
      kubeConfig,
      report,
      env: options.env,
      namespace,
      now: options.now,
      signal: options.signal,
    });
    if (outcome.recorded) return { recorded: true, name: outcome.name };
    options.log.warn(`could not record the Kubernetes Event: ${outcome.error}`);
    return { recorded: false, error: outcome.error };
  } catch (error) {
    options.log.warn(`could not record the Kubernetes Event: ${(error as Error).message}`);
    return { recorded: false, error: (error as Error).message };
  }
}
