import { BatchV1Api, CoreV1Api, type KubeConfig, type V1Job, type V1Pod } from '@kubernetes/client-node';
import type { Logger } from '../log.ts';
import { httpStatusOf, kubeError } from './api-errors.ts';
import { type Clock, systemClock } from './clock.ts';
import { CronJobNotFoundError, type KubeAction, KubeApiError } from './errors.ts';
import { ciJobName, jobFromCronJob } from './job-from-cronjob.ts';
import {
  containerExit,
  containerStarted,
  defaultContainer,
  describePodState,
  formatExit,
  type JobEnd,
  jobEnd,
} from './job-status.ts';
import { listAndWatch } from './list-watch.ts';
import { followPodLogs, type LogFollow } from './pod-logs.ts';

/** The CronJob the drill runs as in the cluster (k8s/). */
export const DEFAULT_CRONJOB = 'pg-restore-drill';
/** Once the Job has ended, how long its pods' log streams may take to deliver their last lines. */
const LOG_DRAIN_MS = 10_000;
/** A log request can race the container's start (HTTP 400 "waiting to start"): ask again after this. */
const LOG_RETRY_MS = 500;

export interface ClusterDrillOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  /** The CronJob whose jobTemplate the Job is made from; default `pg-restore-drill`. */
  cronJob?: string;
  /** The longest the Job may take, from its creation to its Complete or Failed condition. */
  timeoutMs: number;
  log: Logger;
  /** Where the drill pod's log goes, as it is written. Never ended. */
  out: NodeJS.WritableStream;
  /** Ctrl-C / SIGTERM: stop following (the Job keeps running) and say how to look at it. */
  signal?: AbortSignal;
  clock?: Clock;
  /** The container whose log to follow; default the template's default container (as kubectl logs). */
  container?: string;
  /** The random end of the Job's name; tests fix it. */
  nameSuffix?: string;
}

/**
 * `passed`: the Job completed. `failed`: the Job failed (the drill failed, or the pod could not run to the
 * end). `timeout`: no verdict within `timeoutMs` (the pod never started, or the drill hung); the Job is
 * left as it is. `interrupted`: we were stopped; the Job runs on.
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

/** What the drill's own exit statuses mean (lib/cli.ts), and the usual signal ones. */
const DRILL_EXIT_MEANING: Record<number, string> = {
  1: 'a drill check failed',
  2: 'the drill could not run: configuration, backups or target',
  130: 'the drill was interrupted (SIGINT)',
  137: 'killed (SIGKILL: out of memory, or the deadline)',
  143: 'terminated (SIGTERM: the Job deadline, or the node going away)',
};

/** The commands that show a Job and its pod's log after we stop looking. */
export function inspectCommands(namespace: string, job: string): string {
  return `kubectl -n ${namespace} logs job/${job}   ·   kubectl -n ${namespace} describe job/${job}`;
}

/**
 * The CI gate: runs the cluster's restore drill now and returns its verdict. Reads the CronJob, creates a
 * Job from its template as `kubectl create job --from=cronjob/…` does, follows the pod's log into `out`,
 * and waits for the Job's Complete or Failed condition (watching the Job and its pods) within
 * `timeoutMs`. Deletes nothing: the Job stays for the post-mortem until its ttlSecondsAfterFinished.
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
  const action = (verb: string, resource: string, group: string, name?: string): KubeAction => ({
    verb,
    resource,
    group,
    namespace,
    ...(name === undefined ? {} : { name }),
  });

  const cronJob = await batch.readNamespacedCronJob({ name: cronJobName, namespace }).catch((error) => {
    const get = action('get', 'cronjobs', 'batch', cronJobName);
    if (httpStatusOf(error) === 404) {
      throw new CronJobNotFoundError(
        get,
        404,
        `CronJob ${namespace}/${cronJobName} does not exist (kubectl -n ${namespace} get cronjobs): apply k8s/ to this cluster, or check --context and --namespace.`,
        { cause: error },
      );
    }
    throw kubeError(error, get);
  });
  if (options.signal?.aborted) {
    const message = `Interrupted before a Job was created from CronJob ${namespace}/${cronJobName}.`;
    log.warn(message);
    return { namespace, job: '', verdict: 'interrupted', exitCode: interruptedExit(options.signal), message };
  }
  const name = ciJobName(cronJobName, clock.now(), options.nameSuffix);
  const created = await batch
    .createNamespacedJob({ namespace, body: jobFromCronJob(cronJob, name) })
    .catch((error) => {
      throw kubeError(error, action('create', 'jobs', 'batch'));
    });
  log.info(`created Job ${namespace}/${name} from CronJob ${namespace}/${cronJobName}`);

  const container = options.container ?? defaultContainer(cronJob.spec?.jobTemplate.spec?.template);
  const matchLabels = created.spec?.selector?.matchLabels ?? { 'job-name': name };
  const selector = Object.entries(matchLabels)
    .map(([key, value]) => `${key}=${value}`)
    .join(',');

  let job: V1Job = created;
  let jobDeleted = false;
  const pods = new Map<string, V1Pod>();
  const follows = new Map<string, Promise<LogFollow | undefined>>();
  const described = new Map<string, string>();
  let failure: unknown;
  let timedOut = false;
  let interrupted = false;
  let wake: () => void = () => {};
  const changed = () => wake();

  const stop = new AbortController();
  const onAbort = () => {
    interrupted = true;
    changed();
  };
  if (options.signal?.aborted) interrupted = true;
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const watchFailed = (verb: string, resource: string, group: string) => (error: unknown) => {
    failure ??= error instanceof KubeApiError ? error : kubeError(error, action(verb, resource, group));
    changed();
  };
  const jobFields = `metadata.name=${name}`;
  void listAndWatch<V1Job>({
    kubeConfig,
    path: `/apis/batch/v1/namespaces/${namespace}/jobs`,
    fieldSelector: jobFields,
    list: () =>
      batch.listNamespacedJob({ namespace, fieldSelector: jobFields }).catch((error) => {
        throw kubeError(error, action('list', 'jobs', 'batch'));
      }),
    onEvent: (type, object) => {
      // A deleted Job's last state still carries its conditions (a ttlSecondsAfterFinished of 0).
      job = object;
      if (type === 'DELETED') jobDeleted = true;
      changed();
    },
    signal: stop.signal,
    clock,
  }).catch(watchFailed('watch', 'jobs', 'batch'));
  void listAndWatch<V1Pod>({
    kubeConfig,
    path: `/api/v1/namespaces/${namespace}/pods`,
    labelSelector: selector,
    list: () =>
      core.listNamespacedPod({ namespace, labelSelector: selector }).catch((error) => {
        throw kubeError(error, action('list', 'pods', ''));
      }),
    onEvent: (type, pod) => {
      const podName = pod.metadata?.name ?? '';
      // A deleted pod keeps its last state here: it may be the one the verdict is read from.
      if (type !== 'DELETED' || !pods.has(podName)) pods.set(podName, pod);
      changed();
    },
    signal: stop.signal,
    clock,
  }).catch(watchFailed('watch', 'pods', ''));
  clock.sleep(options.timeoutMs, stop.signal).then(
    () => {
      timedOut = true;
      changed();
    },
    () => {},
  );

  const follow = (podName: string, cont: string): Promise<LogFollow | undefined> =>
    followPodLogs(kubeConfig, { namespace, name: podName, container: cont }, options.out).then(
      (following) => {
        log.info(`following the log of pod ${namespace}/${podName} (container ${cont})`);
        return following;
      },
      async (error: unknown) => {
        const status = httpStatusOf(error);
        if (status === 400 && !stop.signal.aborted) {
          // The container is still being created: ask again shortly.
          await clock.sleep(LOG_RETRY_MS, stop.signal).catch(() => {});
          follows.delete(podName);
          changed();
          return undefined;
        }
        log.warn(
          `cannot read the log of pod ${namespace}/${podName}: ${kubeError(error, action('get', 'pods/log', '', podName)).message}`,
        );
        return undefined;
      },
    );

  const latestPod = (): V1Pod | undefined =>
    [...pods.values()].sort((a, b) => created_(a) - created_(b)).at(-1);

  const finish = async (end: JobEnd): Promise<ClusterDrillResult> => {
    // Let the log streams deliver the pod's last lines: they end when its container has exited.
    const streams = (await Promise.all(follows.values())).filter((f) => f !== undefined);
    await Promise.race([
      Promise.all(streams.map((f) => f.done)),
      clock.sleep(LOG_DRAIN_MS, stop.signal).catch(() => {}),
    ]);
    // The Job's watch may have told of its end before the pods' watch told of the exit: read them again.
    const fresh = await core.listNamespacedPod({ namespace, labelSelector: selector }).catch(() => undefined);
    for (const item of fresh?.items ?? []) pods.set(item.metadata?.name ?? '', item);
    const pod = latestPod();
    const podName = pod?.metadata?.name;
    const exit = pod && container ? containerExit(pod, container) : undefined;
    const condition = {
      type: end.type,
      ...(end.reason ? { reason: end.reason } : {}),
      ...(end.message ? { message: end.message } : {}),
    };
    const base = { namespace, job: name, condition, ...(podName ? { pod: podName } : {}) };
    const exitFacts = exit ? { podExitCode: exit.exitCode } : {};
    if (end.succeeded) {
      const message = `Job ${namespace}/${name} completed: the drill passed${podName ? ` (pod ${podName})` : ''}.`;
      log.info(message);
      return { ...base, ...exitFacts, verdict: 'passed', exitCode: 0, message };
    }
    const why = [end.reason, end.message].filter(Boolean).join(': ') || 'no reason given';
    const meaning = exit ? DRILL_EXIT_MEANING[exit.exitCode] : undefined;
    const podPart =
      podName && container && exit
        ? `; pod ${podName}: ${formatExit(container, exit)}${meaning ? ` — ${meaning}` : ''}`
        : podName
          ? `; pod ${podName}: ${describePodState(pod ?? {}, container)}`
          : '; no pod ran';
    const message = `Job ${namespace}/${name} failed (${why})${podPart}. Inspect: ${inspectCommands(namespace, name)}`;
    log.warn(message);
    return { ...base, ...exitFacts, verdict: 'failed', exitCode: 1, message };
  };

  const timeout = async (): Promise<ClusterDrillResult> => {
    const pod = latestPod();
    const podName = pod?.metadata?.name;
    const seconds = Math.round(options.timeoutMs / 1000);
    const event = await lastEvent(core, namespace, podName ? 'Pod' : 'Job', podName ?? name);
    const held = podName
      ? `pod ${namespace}/${podName} is ${describePodState(pod ?? {}, container)}`
      : 'no pod was created for it';
    const message = `Job ${namespace}/${name} did not finish within ${seconds} s: ${held}${event ? `. Last event: ${event}` : ''}. The Job was left as it is: ${inspectCommands(namespace, name)}; stop it with kubectl -n ${namespace} delete job/${name}`;
    log.warn(message);
    return {
      namespace,
      job: name,
      ...(podName ? { pod: podName } : {}),
      verdict: 'timeout',
      exitCode: 1,
      message,
    };
  };

  try {
    for (;;) {
      const next = new Promise<void>((resolve) => {
        wake = resolve;
      });
      if (failure !== undefined) throw failure;
      if (interrupted) {
        const message = `Interrupted: stopped following Job ${namespace}/${name}, which keeps running. Look at it with: ${inspectCommands(namespace, name)}`;
        log.warn(message);
        return {
          namespace,
          job: name,
          verdict: 'interrupted',
          exitCode: interruptedExit(options.signal),
          message,
        };
      }
      for (const [podName, pod] of pods) {
        const state = describePodState(pod, container);
        if (described.get(podName) !== state) {
          described.set(podName, state);
          log.info(`pod ${namespace}/${podName}: ${state}`);
        }
        if (container && !follows.has(podName) && containerStarted(pod, container)) {
          follows.set(podName, follow(podName, container));
        }
      }
      const end = jobEnd(job);
      if (end) return await finish(end);
      if (jobDeleted) {
        const message = `Job ${namespace}/${name} was deleted before it finished.`;
        log.warn(message);
        return { namespace, job: name, verdict: 'failed', exitCode: 1, message };
      }
      if (timedOut) return await timeout();
      await next;
    }
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    stop.abort();
    for (const following of follows.values()) void following.then((f) => f?.stop());
  }
}

/** As a shell reports the signal that stopped us: 143 for SIGTERM, else 130 (Ctrl-C). */
function interruptedExit(signal: AbortSignal | undefined): number {
  return signal?.reason === 'SIGTERM' ? 143 : 130;
}

/** Creation time in ms; watched objects carry strings, listed ones Dates. */
function created_(pod: V1Pod): number {
  const at: unknown = pod.metadata?.creationTimestamp;
  return at instanceof Date || typeof at === 'string' ? new Date(at).getTime() : 0;
}

/** `Warning FailedScheduling: 0/3 nodes are available: …` for the newest event on an object, if readable. */
async function lastEvent(
  core: CoreV1Api,
  namespace: string,
  kind: string,
  name: string,
): Promise<string | undefined> {
  try {
    const list = await core.listNamespacedEvent({
      namespace,
      fieldSelector: `involvedObject.kind=${kind},involvedObject.name=${name}`,
    });
    const time = (e: (typeof list.items)[number]) =>
      new Date(e.lastTimestamp ?? e.eventTime ?? e.metadata.creationTimestamp ?? 0).getTime();
    const last = [...list.items].sort((a, b) => time(a) - time(b)).at(-1);
    if (!last) return undefined;
    return `${last.type ?? 'Normal'} ${last.reason ?? ''}: ${last.message ?? ''}`.trim();
  } catch {
    // Without `list events` the timeout message names the pod's state only.
    return undefined;
  }
}
