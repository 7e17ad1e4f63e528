import type { V1CronJob } from '@kubernetes/client-node';

/**
 * Over the Job's own limits, what the gate also waits for: the Job controller noticing the deadline,
 * the watch bringing the Failed condition, the log's last lines (gate-verdict.ts, LOG_DRAIN_MS).
 */
export const GATE_MARGIN_SECONDS = 60;
/** The pod's grace after SIGTERM when the template does not set one (the Kubernetes default). */
export const DEFAULT_GRACE_SECONDS = 30;
/** What the gate waits when the template has no activeDeadlineSeconds (nor --cluster-timeout is given). */
export const GATE_FALLBACK_SECONDS = 1800;

export interface GateTimeout {
  ms: number;
  /** How it was arrived at, for the log: `activeDeadlineSeconds 3600 + terminationGracePeriodSeconds 30 + margin 60`. */
  why: string;
}

/**
 * How long the gate waits for the Job: `overrideMs` (--cluster-timeout) when given; else the template's
 * activeDeadlineSeconds (counted from the Job's start, Pending time included) plus the pod's
 * terminationGracePeriodSeconds (the drill's SIGTERM handling after the deadline) plus a margin, so the
 * gate sees the Job's own DeadlineExceeded verdict rather than timing out first.
 */
export function gateTimeout(cronJob: V1CronJob, overrideMs: number | undefined): GateTimeout {
  if (overrideMs !== undefined) return { ms: overrideMs, why: `--cluster-timeout ${overrideMs / 1000} s` };
  const spec = cronJob.spec?.jobTemplate.spec;
  const deadline = spec?.activeDeadlineSeconds;
  if (deadline === undefined) {
    return {
      ms: GATE_FALLBACK_SECONDS * 1000,
      why: `${GATE_FALLBACK_SECONDS} s: the CronJob's jobTemplate sets no activeDeadlineSeconds (set it, or --cluster-timeout)`,
    };
  }
  const grace = spec?.template.spec?.terminationGracePeriodSeconds ?? DEFAULT_GRACE_SECONDS;
  const seconds = deadline + grace + GATE_MARGIN_SECONDS;
  return {
    ms: seconds * 1000,
    why: `${seconds} s: activeDeadlineSeconds ${deadline} + terminationGracePeriodSeconds ${grace} + margin ${GATE_MARGIN_SECONDS}`,
  };
}
