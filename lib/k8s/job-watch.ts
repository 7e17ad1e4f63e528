import type { BatchV1Api, CoreV1Api, KubeConfig, V1Job, V1Pod } from '@kubernetes/client-node';
import { kubeError } from './api-errors.ts';
import { retriedCall } from './calls.ts';
import type { Clock } from './clock.ts';
import { type KubeAction, KubeApiError } from './errors.ts';
import { listAndWatch } from './list-watch.ts';

/** Builds the KubeAction an API error names (verb, resource, group in the gate's namespace). */
export type ActionOf = (verb: string, resource: string, group: string, name?: string) => KubeAction;

/** What the gate's watches have seen so far; `changed()` wakes whoever awaits `next()`. */
export interface JobWatchState {
  job: V1Job;
  jobDeleted: boolean;
  /** By name; a deleted pod keeps its last state (the verdict may be read from it). */
  pods: Map<string, V1Pod>;
  /** Names of the pods that were deleted. */
  podsGone: Set<string>;
  failure: unknown;
  timedOut: boolean;
  interrupted: boolean;
  changed(): void;
  /** Resolves at the next change after this call. */
  next(): Promise<void>;
}

export interface JobWatchOptions {
  kubeConfig: KubeConfig;
  batch: BatchV1Api;
  core: CoreV1Api;
  namespace: string;
  /** The Job, as created. */
  created: V1Job;
  /** The label selector of the Job's pods. */
  selector: string;
  timeoutMs: number;
  clock: Clock;
  action: ActionOf;
  /** Ends the watches and the timeout. */
  stop: AbortSignal;
}

/** A state whose `next()` resolves on the following `changed()`. */
function watchState(created: V1Job): JobWatchState {
  let wake: () => void = () => {};
  return {
    job: created,
    jobDeleted: false,
    pods: new Map(),
    podsGone: new Set(),
    failure: undefined,
    timedOut: false,
    interrupted: false,
    changed: () => wake(),
    next: () =>
      new Promise<void>((resolve) => {
        wake = resolve;
      }),
  };
}

/**
 * Watches the Job (by name) and its pods (by selector), each listed then watched, and times out after
 * `timeoutMs`; every change lands in the returned state.
 */
export function watchJob(options: JobWatchOptions): JobWatchState {
  const { kubeConfig, batch, core, namespace, action, clock, stop } = options;
  const state = watchState(options.created);
  const name = options.created.metadata?.name ?? '';
  const watchFailed = (verb: string, resource: string, group: string) => (error: unknown) => {
    state.failure ??= error instanceof KubeApiError ? error : kubeError(error, action(verb, resource, group));
    state.changed();
  };
  const jobFields = `metadata.name=${name}`;
  void listAndWatch<V1Job>({
    kubeConfig,
    path: `/apis/batch/v1/namespaces/${namespace}/jobs`,
    fieldSelector: jobFields,
    list: () =>
      retriedCall(
        action('list', 'jobs', 'batch'),
        (call) => batch.listNamespacedJob({ namespace, fieldSelector: jobFields }, call),
        { clock, signal: stop },
      ),
    onEvent: (type, object) => {
      // A deleted Job's last state still carries its conditions (a ttlSecondsAfterFinished of 0).
      state.job = object;
      if (type === 'DELETED') state.jobDeleted = true;
      state.changed();
    },
    signal: stop,
    clock,
  }).catch(watchFailed('watch', 'jobs', 'batch'));
  void listAndWatch<V1Pod>({
    kubeConfig,
    path: `/api/v1/namespaces/${namespace}/pods`,
    labelSelector: options.selector,
    list: () =>
      retriedCall(
        action('list', 'pods', ''),
        (call) => core.listNamespacedPod({ namespace, labelSelector: options.selector }, call),
        { clock, signal: stop },
      ),
    onEvent: (type, pod) => {
      const podName = pod.metadata?.name ?? '';
      if (type !== 'DELETED' || !state.pods.has(podName)) state.pods.set(podName, pod);
      if (type === 'DELETED') state.podsGone.add(podName);
      state.changed();
    },
    signal: stop,
    clock,
  }).catch(watchFailed('watch', 'pods', ''));
  clock.sleep(options.timeoutMs, stop).then(
    () => {
      state.timedOut = true;
      state.changed();
    },
    () => {},
  );
  return state;
}

/** Creation time in ms; watched objects carry strings, listed ones Dates. */
function createdAt(pod: V1Pod): number {
  const at: unknown = pod.metadata?.creationTimestamp;
  return at instanceof Date || typeof at === 'string' ? new Date(at).getTime() : 0;
}

/** The newest pod seen. */
export function latestPod(pods: Map<string, V1Pod>): V1Pod | undefined {
  return [...pods.values()].sort((a, b) => createdAt(a) - createdAt(b)).at(-1);
}
