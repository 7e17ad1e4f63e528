import type { BatchV1Api, CoreV1Api } from '@kubernetes/client-node';
import type { Logger } from '../log.ts';
import { boundedCall } from './calls.ts';
import type { ClusterDrillResult } from './ci-gate.ts';
import type { Clock } from './clock.ts';
import { containerExit, describePodState, formatExit, type JobEnd } from './job-status.ts';
import { type JobWatchState, latestPod } from './job-watch.ts';
import type { LogFollow } from './pod-logs.ts';

/** Once the Job has ended, how long its pods' log streams may take to deliver their last lines. */
const LOG_DRAIN_MS = 10_000;

/** What the drill's own exit statuses mean (lib/cli.ts), and the usual signal ones. */
const DRILL_EXIT_MEANING: Record<number, string> = {
  1: 'a drill check failed',
  2: "the drill could not run or finish: configuration, backups, or its target (a full disk, out of memory, a crash: not the backup's)",
  130: 'the drill was interrupted (SIGINT)',
  137: 'killed (SIGKILL: out of memory, or the deadline)',
  143: 'terminated (SIGTERM: the Job deadline, or the node going away)',
};

/** One gate run: the Job it created and what it needs to read its end. */
export interface GateRun {
  namespace: string;
  /** The Job's name. */
  job: string;
  /** The container whose exit is the verdict's (the drill's). */
  container: string | undefined;
  selector: string;
  timeoutMs: number;
  core: CoreV1Api;
  batch: BatchV1Api;
  clock: Clock;
  log: Logger;
  stop: AbortSignal;
}

/** The commands that show a Job and its pod's log after we stop looking. */
export function inspectCommands(namespace: string, job: string): string {
  return `kubectl -n ${namespace} logs job/${job}   ·   kubectl -n ${namespace} describe job/${job}`;
}

/** As a shell reports the signal that stopped us: 143 for SIGTERM, else 130 (Ctrl-C). */
export function interruptedExit(signal: AbortSignal | undefined): number {
  return signal?.reason === 'SIGTERM' ? 143 : 130;
}

/** Waits for the log streams' last lines, then reads the pods once more (the Job may have told first). */
async function settlePods(
  run: GateRun,
  state: JobWatchState,
  follows: Map<string, Promise<LogFollow | undefined>>,
): Promise<void> {
  const streams = (await Promise.all(follows.values())).filter((f) => f !== undefined);
  await Promise.race([
    Promise.all(streams.map((f) => f.done)),
    run.clock.sleep(LOG_DRAIN_MS, run.stop).catch(() => {}),
  ]);
  const { namespace, selector } = run;
  const fresh = await boundedCall({ verb: 'list', resource: 'pods', group: '', namespace }, (call) =>
    run.core.listNamespacedPod({ namespace, labelSelector: selector }, call),
  ).catch(() => undefined);
  for (const item of fresh?.items ?? []) state.pods.set(item.metadata?.name ?? '', item);
}

/** The Job ended (Complete or Failed): its verdict, with the drill pod's exit and what it means. */
export async function jobFinished(
  run: GateRun,
  state: JobWatchState,
  follows: Map<string, Promise<LogFollow | undefined>>,
  end: JobEnd,
): Promise<ClusterDrillResult> {
  const { namespace, job: name, container, log } = run;
  await settlePods(run, state, follows);
  const pod = latestPod(state.pods);
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
}

/** No verdict within the timeout: what held the pod (its state, the last event); the Job is left. */
export async function jobTimedOut(run: GateRun, state: JobWatchState): Promise<ClusterDrillResult> {
  const { namespace, job: name } = run;
  const pod = latestPod(state.pods);
  const podName = pod?.metadata?.name;
  const seconds = Math.round(run.timeoutMs / 1000);
  const event = await lastEvent(run.core, namespace, podName ? 'Pod' : 'Job', podName ?? name);
  const held = podName
    ? `pod ${namespace}/${podName} is ${describePodState(pod ?? {}, run.container)}`
    : 'no pod was created for it';
  const message = `Job ${namespace}/${name} did not finish within ${seconds} s: ${held}${event ? `. Last event: ${event}` : ''}. The Job was left as it is: ${inspectCommands(namespace, name)}; stop it with kubectl -n ${namespace} delete job/${name}`;
  run.log.warn(message);
  return {
    namespace,
    job: name,
    ...(podName ? { pod: podName } : {}),
    verdict: 'timeout',
    exitCode: 1,
    message,
  };
}

/** `Warning FailedScheduling: 0/3 nodes are available: …` for the newest event on an object, if readable. */
async function lastEvent(
  core: CoreV1Api,
  namespace: string,
  kind: string,
  name: string,
): Promise<string | undefined> {
  try {
    const fieldSelector = `involvedObject.kind=${kind},involvedObject.name=${name}`;
    const list = await boundedCall({ verb: 'list', resource: 'events', group: '', namespace }, (call) =>
      core.listNamespacedEvent({ namespace, fieldSelector }, call),
    );
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
