import { BatchV1Api, CoreV1Api, type KubeConfig, type V1CronJob, type V1Job } from '@kubernetes/client-node';
import type { Logger } from '../log.ts';
import { httpStatusOf, kubeError } from './api-errors.ts';
import { retriedCall, retryNote } from './calls.ts';
import { type Clock, systemClock } from './clock.ts';
import { CronJobNotFoundError } from './errors.ts';
import { deleteGateJob } from './gate-cancel.ts';
import { gateTimeout } from './gate-timeout.ts';
import { type GateRun, inspectCommands, interruptedExit, jobFinished, jobTimedOut } from './gate-verdict.ts';
import { ciJobName, jobFromCronJob } from './job-from-cronjob.ts';
import { containerExit, containerStarted, defaultContainer, describePodState, jobEnd } from './job-status.ts';
import { type ActionOf, type JobWatchState, latestPod, watchJob } from './job-watch.ts';
import { followPodLogs, type LogFollow } from './pod-logs.ts';

export { inspectCommands } from './gate-verdict.ts';

/** The CronJob the drill runs as in the cluster (k8s/). */
export const DEFAULT_CRONJOB = 'pg-restore-drill';
/** A log request can race the container's start (HTTP 400 "waiting to start"): ask again after this. */
const LOG_RETRY_MS = 500;

export interface ClusterDrillOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  /** The CronJob whose jobTemplate the Job is made from; default `pg-restore-drill`. */
  cronJob?: string;
  /**
   * The longest the Job may take, from its creation to its Complete or Failed condition. Default: the
   * template's activeDeadlineSeconds + terminationGracePeriodSeconds + a margin (gate-timeout.ts).
   */
  timeoutMs?: number;
  log: Logger;
  /** Where the drill pod's log goes, as it is written. Never ended. */
  out: NodeJS.WritableStream;
  /** Ctrl-C / SIGTERM (a cancelled pipeline): stop following, delete the Job we created, say so. */
  signal?: AbortSignal;
  clock?: Clock;
  /** The container whose log to follow; default the template's default container (as kubectl logs). */
  container?: string;
  /** The random end of the Job's name; tests fix it. */
  nameSuffix?: string;
}

/**
 * `passed`: the Job completed. `failed`: the Job failed (the drill failed, or the pod could not run to the
 * end), or was deleted before it finished. `timeout`: no verdict within the timeout (the pod never
 * started, or the drill hung); the Job is left as it is. `interrupted`: we were stopped; the Job we
 * created is deleted.
 */
export type ClusterVerdict = 'passed' | 'failed' | 'timeout' | 'interrupted';

export interface ClusterDrillResult {
  verdict: ClusterVerdict;
  /** 0 passed; 1 failed or timeout (a gate that did not see a pass fails); 130 / 143 interrupted. */
  exitCode: number;
  namespace: string;
  job: string;
  /** Why, in one line: the Job's condition and the pod's exit, or what held the pod. */
  message: string;
  /** The pod the verdict was read from, when there was one. */
  pod?: string;
  podExitCode?: number;
  condition?: { type: string; reason?: string; message?: string };
}

/** Reads the CronJob, naming a missing one and the fix. */
async function readCronJob(
  batch: BatchV1Api,
  options: ClusterDrillOptions & { clock: Clock },
  name: string,
  action: ActionOf,
): Promise<V1CronJob> {
  const { namespace, clock, log } = options;
  const get = action('get', 'cronjobs', 'batch', name);
  const onRetry = (error: Error, pause: number) => log.warn(retryNote(error, pause));
  return retriedCall(get, (call) => batch.readNamespacedCronJob({ name, namespace }, call), {
    clock,
    onRetry,
  }).catch((error) => {
    if (httpStatusOf(error) === 404) {
      throw new CronJobNotFoundError(
        get,
        404,
        `CronJob ${namespace}/${name} does not exist (kubectl -n ${namespace} get cronjobs): apply k8s/ to this cluster, or check --context and --namespace.`,
        { cause: error },
      );
    }
    throw kubeError(error, get);
  });
}

/** Follows one pod's log into `out`; a container still being created is asked again shortly. */
function followLog(
  run: GateRun,
  options: ClusterDrillOptions,
  state: JobWatchState,
  follows: Map<string, Promise<LogFollow | undefined>>,
  podName: string,
  container: string,
): Promise<LogFollow | undefined> {
  const { namespace, log } = run;
  const stillRunning = () => {
    const pod = state.pods.get(podName);
    return (
      !run.stop.aborted && !state.podsGone.has(podName) && pod !== undefined && !containerExit(pod, container)
    );
  };
  const follow = { stillRunning, clock: run.clock, warn: (message: string) => log.warn(message) };
  return followPodLogs(options.kubeConfig, { namespace, name: podName, container }, options.out, follow).then(
    (following) => {
      log.info(`following the log of pod ${namespace}/${podName} (container ${container})`);
      return following;
    },
    async (error: unknown) => {
      if (httpStatusOf(error) === 400 && !run.stop.aborted) {
        await run.clock.sleep(LOG_RETRY_MS, run.stop).catch(() => {});
        follows.delete(podName);
        state.changed();
        return undefined;
      }
      const action = { verb: 'get', resource: 'pods/log', group: '', namespace, name: podName };
      log.warn(`cannot read the log of pod ${namespace}/${podName}: ${kubeError(error, action).message}`);
      return undefined;
    },
  );
}

/**
 * Waits on the watches until the Job ends, times out, fails to be watched or we are interrupted;
 * logs each pod's state as it changes and follows each drill container's log once it has started.
 */
async function awaitVerdict(
  run: GateRun,
  options: ClusterDrillOptions,
  state: JobWatchState,
): Promise<ClusterDrillResult> {
  const { container, log } = run;
  const follows = new Map<string, Promise<LogFollow | undefined>>();
  const described = new Map<string, string>();
  try {
    for (;;) {
      const next = state.next();
      if (state.failure !== undefined) throw state.failure;
      if (state.interrupted) return await cancelled(run, options);
      for (const [podName, pod] of state.pods) {
        const podState = describePodState(pod, container);
        if (described.get(podName) !== podState) {
          described.set(podName, podState);
          log.info(`pod ${run.namespace}/${podName}: ${podState}`);
        }
        if (container && !follows.has(podName) && containerStarted(pod, container))
          follows.set(podName, followLog(run, options, state, follows, podName, container));
      }
      const end = jobEnd(state.job);
      if (end) return await jobFinished(run, state, follows, end);
      if (state.jobDeleted) return deletedBeforeEnd(run, state);
      if (state.timedOut) return await jobTimedOut(run, state);
      await next;
    }
  } finally {
    for (const following of follows.values()) void following.then((f) => f?.stop());
  }
}

/** We were stopped (a cancelled pipeline): the Job we created is deleted, and we say so. */
async function cancelled(run: GateRun, options: ClusterDrillOptions): Promise<ClusterDrillResult> {
  const { namespace, job: name, log } = run;
  const deleted = await deleteGateJob(run, run.batch);
  const message = `Interrupted: stopped following Job ${namespace}/${name}; ${deleted}. Its log so far: ${inspectCommands(namespace, name)}`;
  log.warn(message);
  return { namespace, job: name, verdict: 'interrupted', exitCode: interruptedExit(options.signal), message };
}

/** Someone else deleted the Job (kubectl delete, the CronJob's history limit) before its verdict. */
function deletedBeforeEnd(run: GateRun, state: JobWatchState): ClusterDrillResult {
  const { namespace, job: name, log } = run;
  const pod = latestPod(state.pods);
  const podName = pod?.metadata?.name;
  const last =
    podName && pod ? `; pod ${podName} was last ${describePodState(pod, run.container)}` : '; no pod ran';
  const message = `Job ${namespace}/${name} was deleted before it finished${last}. No verdict: the gate fails.`;
  log.warn(message);
  return {
    namespace,
    job: name,
    ...(podName ? { pod: podName } : {}),
    verdict: 'failed',
    exitCode: 1,
    message,
  };
}

/** Creates the Job from the CronJob's template (as `kubectl create job --from`) and names its pods' selector. */
async function createJob(
  batch: BatchV1Api,
  cronJob: V1CronJob,
  cronJobName: string,
  options: ClusterDrillOptions,
  action: ActionOf,
): Promise<{ name: string; created: V1Job; selector: string }> {
  const { namespace, log } = options;
  const name = ciJobName(cronJobName, (options.clock ?? systemClock).now(), options.nameSuffix);
  const body = jobFromCronJob(cronJob, name);
  // Only a 429 is asked again: it was refused unread, while after a 5xx the Job may exist.
  const created: V1Job = await retriedCall(
    action('create', 'jobs', 'batch'),
    (call) => batch.createNamespacedJob({ namespace, body }, call),
    {
      clock: options.clock ?? systemClock,
      retryOn: (status) => status === 429,
      onRetry: (error, pause) => log.warn(retryNote(error, pause)),
    },
  );
  log.info(`created Job ${namespace}/${name} from CronJob ${namespace}/${cronJobName}`);
  const matchLabels = created.spec?.selector?.matchLabels ?? { 'job-name': name };
  const selector = Object.entries(matchLabels)
    .map(([key, value]) => `${key}=${value}`)
    .join(',');
  return { name, created, selector };
}

/**
 * The CI gate: runs the cluster's restore drill now and returns its verdict. Reads the CronJob, creates a
 * Job from its template as `kubectl create job --from=cronjob/…` does, follows the pod's log into `out`,
 * and waits for the Job's Complete or Failed condition (watching the Job and its pods) within the
 * timeout (gate-timeout.ts). A Job that ends stays for the post-mortem until its ttlSecondsAfterFinished;
 * one we stop following because we were cancelled is deleted (gate-cancel.ts). API calls are bounded
 * and asked again on 429 / 5xx (calls.ts).
 *
 * Throws a KubeApiError (exit 2) when the drill cannot be started: no such CronJob, a missing RBAC
 * permission (named), an unreachable API server.
 */
export async function runClusterDrill(options: ClusterDrillOptions): Promise<ClusterDrillResult> {
  const { kubeConfig, namespace, log } = options;
  const clock = options.clock ?? systemClock;
  const cronJobName = options.cronJob ?? DEFAULT_CRONJOB;
  const batch = kubeConfig.makeApiClient(BatchV1Api);
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const action: ActionOf = (verb, resource, group, name) => ({
    verb,
    resource,
    group,
    namespace,
    ...(name === undefined ? {} : { name }),
  });
  const cronJob = await readCronJob(batch, { ...options, clock }, cronJobName, action);
  if (options.signal?.aborted) {
    const message = `Interrupted before a Job was created from CronJob ${namespace}/${cronJobName}.`;
    log.warn(message);
    return { namespace, job: '', verdict: 'interrupted', exitCode: interruptedExit(options.signal), message };
  }
  const { name, created, selector } = await createJob(batch, cronJob, cronJobName, options, action);
  const container = options.container ?? defaultContainer(cronJob.spec?.jobTemplate.spec?.template);
  const timeout = gateTimeout(cronJob, options.timeoutMs);
  log.info(`waiting up to ${timeout.why}`);
  const stop = new AbortController();
  const run: GateRun = {
    ...{ namespace, job: name, container, selector, timeoutMs: timeout.ms },
    ...{ core, batch, clock, log, stop: stop.signal },
  };
  const state = watchJob({ ...run, kubeConfig, created, action });
  return followToVerdict(run, options, state, stop);
}

/** Waits for the verdict; our signal marks the state interrupted; the watches end with us. */
async function followToVerdict(
  run: GateRun,
  options: ClusterDrillOptions,
  state: JobWatchState,
  stop: AbortController,
): Promise<ClusterDrillResult> {
  const onAbort = () => {
    state.interrupted = true;
    state.changed();
  };
  if (options.signal?.aborted) state.interrupted = true;
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return await awaitVerdict(run, options, state);
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    stop.abort();
  }
}
