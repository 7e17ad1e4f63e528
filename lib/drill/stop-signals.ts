import type { Logger } from '../log.ts';

/**
 * A signal sent to a whole process group reaches the drill more than once: directly, and relayed by
 * every wrapper above it (npm run relays its copy to its child; so do tsx and some CI runners), a few
 * milliseconds apart. Copies within this window of the first are that one request; only a signal sent
 * deliberately later, the operator's "stop now", exits at once.
 */
export const REPEAT_WINDOW_MS = 2000;

export type StopSignal = 'SIGINT' | 'SIGTERM';

export interface StopSignalDeps {
  log: Logger;
  /** Registers the handler for a signal (the CLI: process.on). */
  listen: (signal: StopSignal, handler: (signal: StopSignal) => void) => void;
  /** Ends the process at once (the CLI: process.exit). */
  exit: (code: number) => void;
  /** Monotonic milliseconds. */
  now: () => number;
}

/**
 * SIGINT / SIGTERM: the first asks the drill to stop (the returned controller aborts with the signal's
 * name: the running step is cancelled, psql stopped, the target removed, the report written, exit
 * 130 / 143). The copies a group signal brings within REPEAT_WINDOW_MS are the same request; a signal
 * after that exits at once (the throwaway server's guardian still removes it).
 */
export function stopOnSignals(deps: StopSignalDeps): AbortController {
  const controller = new AbortController();
  let firstAt = 0;
  const onSignal = (signal: StopSignal) => {
    const at = deps.now();
    if (!controller.signal.aborted) {
      firstAt = at;
      deps.log.warn(`${signal} received: stopping the drill, cleaning up and writing the report`);
      controller.abort(signal);
    } else if (at - firstAt < REPEAT_WINDOW_MS) {
      deps.log.info(
        `${signal} again within ${REPEAT_WINDOW_MS / 1000} s: the same request (a relayed copy), still stopping`,
      );
    } else {
      deps.log.warn(`${signal} again: exiting now; the throwaway server's guardian still removes it`);
      deps.exit(signal === 'SIGINT' ? 130 : 143);
    }
  };
  deps.listen('SIGINT', onSignal);
  deps.listen('SIGTERM', onSignal);
  return controller;
}
