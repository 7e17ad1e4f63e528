/**
 * Running lib/k8s's CI gate against the fake in a test: a logger that keeps its lines, a clock whose
 * gate timeout passes only when the test says so (and that records every other pause asked of it),
 * and `startGate`, which runs the gate with a collected stdout.
 */
import { collector } from '../../../lib/exec/tool-output.ts';
import { type ClusterDrillOptions, runClusterDrill } from '../../../lib/k8s/ci-gate.ts';
import { type Clock, systemClock } from '../../../lib/k8s/clock.ts';
import { loadKubeConfig } from '../../../lib/k8s/kube-config.ts';
import type { Logger } from '../../../lib/log.ts';
import type { FakeKubeApi } from './server.ts';

/** The test clock's "now": Job names carry it. */
export const GATE_NOW = new Date('2026-11-24T03:10:00.000Z');
/** GATE_NOW as the Job name's stamp. */
export const GATE_STAMP = '20261124031000';

/** A logger that keeps its lines (warnings prefixed `warning: `). */
export function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, info: (m) => lines.push(m), warn: (m) => lines.push(`warning: ${m}`) };
}

export interface TestClock extends Clock {
  /** Lets a pending sleep of `heldMs` (the gate's timeout) end. */
  expire(): void;
  /** Every other sleep asked for, in ms, in order. */
  readonly sleeps: number[];
}

/**
 * Fixed now. A sleep of `heldMs` (the gate's timeout) ends only on `expire()`; any other is recorded and
 * really slept for at most `capMs` (backoffs and Retry-After pauses are asserted, not waited out).
 */
export function testClock(heldMs: number, capMs = 50): TestClock {
  let expire: () => void = () => {};
  const expired = new Promise<void>((resolve) => {
    expire = resolve;
  });
  const sleeps: number[] = [];
  return {
    now: () => GATE_NOW,
    sleeps,
    sleep: (ms, signal) => {
      if (ms !== heldMs) {
        sleeps.push(ms);
        return systemClock.sleep(Math.min(ms, capMs), signal);
      }
      return new Promise<void>((resolve, reject) => {
        signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
        void expired.then(resolve);
      });
    },
    expire: () => expire(),
  };
}

/** Runs the gate against `fake` (kubeconfig context `fake`, namespace data) with a collected stdout. */
export function startGate(
  fake: FakeKubeApi,
  options: Partial<ClusterDrillOptions> & { nameSuffix: string; clock: Clock },
) {
  const log = recordingLogger();
  const out = collector();
  const { kubeConfig, namespace } = loadKubeConfig({ env: { KUBECONFIG: fake.kubeconfigPath } });
  const run = runClusterDrill({ kubeConfig, namespace, log, out: out.sink, ...options });
  return { run, log, out };
}
