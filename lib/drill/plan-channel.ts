import { BroadcastChannel } from 'node:worker_threads';
import type { DrillPlan } from './plan.ts';

/**
 * How the plan reaches the drill spec when vitest starts before the target is up: the CLI starts the
 * vitest run (its worker thread, the spec's imports) while the server starts, and the spec waits at its
 * top for the plan on a BroadcastChannel of the run (the spec runs in a worker thread of the CLI's own
 * process, the `threads` pool). A BroadcastChannel only delivers to channels open when a message is
 * posted, so the spec says it is waiting and the CLI answers, whichever comes first.
 *
 * No plan (`undefined`): the drill ended before its target was ready, and the spec declares no checks.
 */

type ToCli = { waiting: true };
type ToSpec = { plan: DrillPlan | undefined };

export function planChannelName(runId: string): string {
  return `pg-restore-drill:plan:${runId}`;
}

export interface PlanSender {
  /** Hands the plan (or, when the run ends without one, `undefined`) to the spec, now or once it waits. */
  deliver(plan: DrillPlan | undefined): void;
  /** Whether a plan (not `undefined`) was handed over. */
  readonly delivered: boolean;
  close(): void;
}

/** The CLI's end. */
export function planSender(name: string): PlanSender {
  const channel = new BroadcastChannel(name);
  // Never what keeps the CLI's process alive.
  channel.unref();
  let answer: ToSpec | undefined;
  let waiting = false;
  channel.onmessage = (event) => {
    if (!(event as { data?: ToCli }).data?.waiting) return;
    waiting = true;
    if (answer) channel.postMessage(answer);
  };
  return {
    deliver(plan) {
      if (answer) return;
      answer = { plan };
      if (waiting) channel.postMessage(answer);
    },
    get delivered() {
      return answer?.plan !== undefined;
    },
    close() {
      channel.close();
    },
  };
}

/** The spec's end: waits for the CLI's answer. */
export function receivePlan(name: string): Promise<DrillPlan | undefined> {
  const channel = new BroadcastChannel(name);
  return new Promise((resolve) => {
    channel.onmessage = (event) => {
      const data = (event as { data?: ToSpec }).data;
      if (!data || !('plan' in data)) return;
      channel.close();
      resolve(data.plan);
    };
    channel.postMessage({ waiting: true } satisfies ToCli);
  });
}
