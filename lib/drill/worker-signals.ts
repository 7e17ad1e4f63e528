import { afterAll } from 'vitest';

/**
 * In the drill's vitest worker when it is a forked process (pool `forks`) in the CLI's process group: a
 * SIGINT or SIGTERM sent to the whole group reaches the worker as much as the CLI. Left to its default
 * it would kill the worker mid-step, and the run would end without its remaining steps' records. The CLI
 * got the same signal and cancels the run (the running step's `ctx.signal` fires and stops psql), so the
 * worker leaves it to the CLI. Held only while this file's tests run; with no CLI left to cancel (its IPC
 * channel gone), the signal takes its default course. A worker thread (pool `threads`) gets no signals
 * of its own: nothing to hold there.
 */
export function leaveGroupSignalsToTheCli(): void {
  if (typeof process.send !== 'function') return;
  const signals = ['SIGINT', 'SIGTERM'] as const;
  const held = (signal: NodeJS.Signals) => {
    if (process.connected) return;
    release();
    process.kill(process.pid, signal);
  };
  const release = () => {
    for (const signal of signals) process.off(signal, held);
  };
  for (const signal of signals) process.on(signal, held);
  afterAll(release);
}

leaveGroupSignalsToTheCli();
