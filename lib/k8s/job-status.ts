import type { V1ContainerStatus, V1Job, V1Pod, V1PodTemplateSpec } from '@kubernetes/client-node';

/** How a Job ended, read from its terminal condition (Complete or Failed, status True). */
export interface JobEnd {
  succeeded: boolean;
  /** `Complete` / `Failed`. */
  type: string;
  /** e.g. BackoffLimitExceeded, DeadlineExceeded, PodFailurePolicy, CompletionsReached. */
  reason: string | undefined;
  message: string | undefined;
}

/** The Job's end, or undefined while it runs. FailureTarget/SuccessCriteriaMet come first: wait for the end. */
export function jobEnd(job: V1Job): JobEnd | undefined {
  for (const condition of job.status?.conditions ?? []) {
    if (condition.status !== 'True') continue;
    if (condition.type === 'Complete' || condition.type === 'Failed') {
      return {
        succeeded: condition.type === 'Complete',
        type: condition.type,
        reason: condition.reason || undefined,
        message: condition.message || undefined,
      };
    }
  }
  return undefined;
}

/** The container kubectl shows by default: the `kubectl.kubernetes.io/default-container` one, else the first. */
export function defaultContainer(template: V1PodTemplateSpec | V1Pod | undefined): string | undefined {
  const named = template?.metadata?.annotations?.['kubectl.kubernetes.io/default-container'];
  return named ?? template?.spec?.containers[0]?.name;
}

function containerStatus(pod: V1Pod, container: string): V1ContainerStatus | undefined {
  return pod.status?.containerStatuses?.find((s) => s.name === container);
}

/** The container has run (or runs): its logs can be read. */
export function containerStarted(pod: V1Pod, container: string): boolean {
  const state = containerStatus(pod, container)?.state;
  return state?.running !== undefined || state?.terminated !== undefined;
}

/** How a container ended, if it has. */
export interface ContainerExit {
  exitCode: number;
  reason: string | undefined;
  message: string | undefined;
}

export function containerExit(pod: V1Pod, container: string): ContainerExit | undefined {
  const terminated = containerStatus(pod, container)?.state?.terminated;
  if (!terminated) return undefined;
  return {
    exitCode: terminated.exitCode,
    reason: terminated.reason || undefined,
    message: terminated.message?.trim() || undefined,
  };
}

/** `container drill exited with code 1 (Error)`. */
export function formatExit(container: string, exit: ContainerExit): string {
  return `container ${container} exited with code ${exit.exitCode}${exit.reason ? ` (${exit.reason})` : ''}${exit.message ? `: ${exit.message}` : ''}`;
}

/** Waiting reasons every container passes through: not worth naming. */
const ROUTINE_WAITING = new Set(['ContainerCreating', 'PodInitializing']);

/**
 * Why a pod is where it is, in one line: its phase, then what holds it (an unscheduled condition, a
 * container waiting on an image or a missing Secret), or how its container ended.
 * `Pending: PodScheduled=False Unschedulable: 0/3 nodes are available: 3 Insufficient memory.`
 */
export function describePodState(pod: V1Pod, container: string | undefined): string {
  const phase = pod.status?.phase ?? 'Unknown';
  const parts: string[] = [];
  const unscheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False');
  if (unscheduled) {
    parts.push(
      `PodScheduled=False${unscheduled.reason ? ` ${unscheduled.reason}` : ''}${unscheduled.message ? `: ${unscheduled.message}` : ''}`,
    );
  }
  const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
  for (const status of statuses) {
    const waiting = status.state?.waiting;
    if (waiting?.reason && !ROUTINE_WAITING.has(waiting.reason)) {
      parts.push(
        `container ${status.name} waiting: ${waiting.reason}${waiting.message ? `: ${waiting.message}` : ''}`,
      );
    }
  }
  const exit = container ? containerExit(pod, container) : undefined;
  if (container && exit) parts.push(formatExit(container, exit));
  return parts.length ? `${phase}: ${parts.join('; ')}` : phase;
}
