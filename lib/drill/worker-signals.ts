import { afterAll } from 'vitest';

/**
 * In the drill's vitest worker (a forked process in the CLI's process group): a SIGINT or SIGTERM sent
 * to the whole group reaches the worker as much as the CLI. Left to its default it would kill the worker
 * mid-step, and the run would end without its remaining steps' records. The CLI got the same signal and
 * cancels the run (the running step's `ctx.signal` fires and stops psql), so the worker lets it do that.
 * Held once per signal, and only while this file's tests run: afterwards vitest's own SIGTERM stops the
 * worker as usual. With no CLI left to cancel (its IPC channel gone), the signal takes its default course.
 */
export function leaveGroupSignalsToTheCli(): void {
  const signals = ['SIGINT', 'SIGTERM'] as const;
  // Once each: the group's copy is held; the next (vitest stopping its worker after the cancelled run,
  // possibly before afterAll ran) takes its default course, as it does without a CLI left to cancel.
  const held = (signal: NodeJS.Signals) => {
    process.off(signal, held);
    if (!process.connected) process.kill(process.pid, signal);
  };
  const release = () => {
    for (const signal of signals) process.off(signal, held);
  };
  for (const signal of signals) process.on(signal, held);
  afterAll(release);
}

leaveGroupSignalsToTheCli();
