import {
  BatchV1Api,
  CoreV1Api,
  EventsV1Api,
  type EventsV1Event,
  type KubeConfig,
  V1MicroTime,
} from '@kubernetes/client-node';
import { ownPod } from '../config/kube-settings.ts';
import { type DrillReport, formatDuration } from '../report/report.ts';
import { boundedCall, type CallOptions } from './calls.ts';

/**
 * A Kubernetes Event on the drill's Job, so `kubectl describe job/…` and event exporters show the verdict.
 *
 * Written through events.k8s.io/v1, the API new writers are meant to use (core/v1 Events are the legacy
 * surface of the same objects: `kubectl describe` and `kubectl get events` show either). Its required
 * fields (eventTime, reportingController, reportingInstance, action) say who reported what and when; the
 * Role grants `create` on both groups.
 *
 * Finding the Job from inside its pod, the CronJob's container sets through the downward API:
 *   DRILL_JOB_NAME  ← metadata.labels['batch.kubernetes.io/job-name']
 *   DRILL_JOB_UID   ← metadata.labels['batch.kubernetes.io/controller-uid']
 *   POD_NAME        ← metadata.name        (reportingInstance; and the fallback below)
 *   POD_NAMESPACE   ← metadata.namespace
 * With DRILL_JOB_NAME but no DRILL_JOB_UID the Job is read for its uid (`get jobs`); without
 * DRILL_JOB_NAME the pod is read for its controller ownerReference (`get pods`). The uid matters:
 * `kubectl describe job` lists only events whose involvedObject carries the Job's uid.
 */

/** reportingController: who wrote the event. */
export const EVENT_REPORTER = 'pg-restore-drill';
/** Kubernetes rejects an event note over 1 kB. */
const NOTE_LIMIT_BYTES = 1024;

/** The Job an event is about. */
export interface JobRef {
  namespace: string;
  name: string;
  uid?: string;
}

export type EventOutcome =
  | { recorded: true; name: string; job: JobRef }
  | { recorded: false; error: string; job?: JobRef };

export interface RecordEventOptions {
  kubeConfig: KubeConfig;
  report: DrillReport;
  /** Read for DRILL_JOB_NAME, DRILL_JOB_UID, POD_NAME, POD_NAMESPACE (see above; rows of SETTINGS) and HOSTNAME. */
  env: NodeJS.ProcessEnv;
  /** The namespace when POD_NAMESPACE is unset (the kubeconfig's). */
  namespace: string;
  now: () => Date;
  /** The Job, when the caller already knows it. */
  job?: JobRef;
  /** The run's stop (SIGTERM near the deadline): no call is started once it has aborted. */
  signal?: AbortSignal;
  /** Each API call's limit; default KUBE_CALL_TIMEOUT_MS. */
  timeoutMs?: number;
}

/**
 * Records DrillSucceeded (Normal) or DrillFailed (Warning) on the drill's Job. Never throws: a failure
 * to find the Job or to write the event is returned, for the caller to report beside the verdict. Each
 * API call is bounded (KUBE_CALL_TIMEOUT_MS), and none starts once `signal` has aborted.
 */
export async function recordDrillEvent(options: RecordEventOptions): Promise<EventOutcome> {
  let job = options.job;
  const bounds: CallOptions = { signal: options.signal, timeoutMs: options.timeoutMs };
  if (options.signal?.aborted) {
    return { recorded: false, error: `Skipped: the run was stopped (${String(options.signal.reason)}).` };
  }
  try {
    job ??= await findOwnJob(options.kubeConfig, options.env, options.namespace, bounds);
  } catch (error) {
    return { recorded: false, error: (error as Error).message };
  }
  if (!job) {
    return {
      recorded: false,
      error:
        'Not running in a pod of a Job: set DRILL_JOB_NAME (and DRILL_JOB_UID) or POD_NAME through the downward API.',
    };
  }
  const body = drillEvent(
    options.report,
    job,
    options.now(),
    ownPod(options.env).podName || options.env.HOSTNAME,
  );
  const events = options.kubeConfig.makeApiClient(EventsV1Api);
  const namespace = job.namespace;
  try {
    await boundedCall(
      { verb: 'create', resource: 'events', group: 'events.k8s.io', namespace },
      (call) => events.createNamespacedEvent({ namespace, body }, call),
      bounds,
    );
    return { recorded: true, name: body.metadata?.name ?? '', job };
  } catch (error) {
    return { recorded: false, error: (error as Error).message, job };
  }
}

/** The Job this process runs in, from the downward-API variables, or undefined outside a Job's pod. */
export async function findOwnJob(
  kubeConfig: KubeConfig,
  env: NodeJS.ProcessEnv,
  fallbackNamespace: string,
  bounds: CallOptions = {},
): Promise<JobRef | undefined> {
  const { jobName: name, jobUid, podName, podNamespace } = ownPod(env);
  const namespace = podNamespace || fallbackNamespace;
  if (name) {
    if (jobUid) return { namespace, name, uid: jobUid };
    const batch = kubeConfig.makeApiClient(BatchV1Api);
    const job = await boundedCall(
      { verb: 'get', resource: 'jobs', group: 'batch', namespace, name },
      (call) => batch.readNamespacedJob({ name, namespace }, call),
      bounds,
    ).catch(() => undefined);
    // Without the uid the event is still written (kubectl get events shows it), just not by describe.
    return job?.metadata?.uid ? { namespace, name, uid: job.metadata.uid } : { namespace, name };
  }
  if (!podName) return undefined;
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const pod = await boundedCall(
    { verb: 'get', resource: 'pods', group: '', namespace, name: podName },
    (call) => core.readNamespacedPod({ name: podName, namespace }, call),
    bounds,
  );
  const owner = pod.metadata?.ownerReferences?.find((o) => o.kind === 'Job' && o.controller);
  return owner ? { namespace, name: owner.name, uid: owner.uid } : undefined;
}

function firstLine(text: string): string {
  return text.split('\n', 1)[0]?.trim() ?? '';
}

/** Cuts text to at most `limit` UTF-8 bytes, ending in `…` when cut. */
function truncateBytes(text: string, limit: number): string {
  if (Buffer.byteLength(text) <= limit) return text;
  let cut = text;
  while (Buffer.byteLength(`${cut}…`) > limit) cut = cut.slice(0, -1);
  return `${cut}…`;
}

/**
 * The event's note: the verdict (and for a failure, the first failed check or error), the backup, its
 * age and the restore time against the budget, and the check counts.
 */
export function drillEventMessage(report: DrillReport): string {
  const headline =
    report.verdict === 'passed'
      ? 'Restore drill passed'
      : report.verdict === 'interrupted'
        ? 'Restore drill interrupted'
        : report.verdict === 'error'
          ? 'Restore drill ended in an error'
          : 'Restore drill failed';
  const failedStep = report.checks.find((step) => step.status === 'failed');
  const cause = failedStep
    ? `${failedStep.name}: ${firstLine(failedStep.message)}`
    : report.errors[0] !== undefined
      ? firstLine(report.errors[0])
      : undefined;
  const backup = report.backup
    ? `Backup ${report.backup.file} (taken ${report.backup.takenAt}, ${formatDuration(report.backup.ageSeconds)} old)`
    : 'No backup tested';
  const restore = report.restore
    ? `restored in ${report.restore.seconds.toFixed(2)} s (RTO budget ${report.restore.rtoBudgetSeconds} s)`
    : 'not restored';
  const { passed, failed, skipped } = report.counts;
  const text = `${headline}${report.verdict !== 'passed' && cause ? `: ${cause}` : ''}. ${backup}, ${restore}; checks: ${passed} passed, ${failed} failed, ${skipped} skipped.`;
  return truncateBytes(text, NOTE_LIMIT_BYTES);
}

/**
 * The events.k8s.io/v1 Event for a report. Named `<job>.<hex nanoseconds>` as client-go names its events;
 * eventTime is a MicroTime (six fractional digits: the API server rejects JavaScript's three).
 */
export function drillEvent(
  report: DrillReport,
  job: JobRef,
  at: Date,
  instance: string | undefined,
): EventsV1Event {
  const passed = report.verdict === 'passed';
  return {
    apiVersion: 'events.k8s.io/v1',
    kind: 'Event',
    metadata: {
      name: `${job.name}.${(BigInt(at.getTime()) * 1_000_000n).toString(16)}`,
      namespace: job.namespace,
    },
    eventTime: new V1MicroTime(at.getTime()),
    reportingController: EVENT_REPORTER,
    reportingInstance: (instance || EVENT_REPORTER).slice(0, 128),
    action: 'Drill',
    reason: passed ? 'DrillSucceeded' : 'DrillFailed',
    type: passed ? 'Normal' : 'Warning',
    note: drillEventMessage(report),
    regarding: {
      apiVersion: 'batch/v1',
      kind: 'Job',
      name: job.name,
      namespace: job.namespace,
      ...(job.uid ? { uid: job.uid } : {}),
    },
  };
}
