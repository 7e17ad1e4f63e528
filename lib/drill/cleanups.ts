import type { Logger } from '../log.ts';

/** One thing a stage set up and the drill must undo, whatever happens after. */
export interface Cleanup {
  /** What it does, in the operator's words: "stop the target", "remove /tmp/…". */
  what: string;
  run: () => Promise<unknown>;
}

/**
 * The cleanups of one run as a stack: each stage pushes what it set up, in order, and `runAll` undoes
 * them in reverse (the restore's sessions end before their database is dropped, the database before the
 * server stops, the server before its temp directory goes) on success, failure, timeout and signal alike.
 * A cleanup that fails is logged and listed; it never stops the ones after it.
 */
export class CleanupStack {
  readonly #stack: Cleanup[] = [];

  push(what: string, run: () => Promise<unknown>): void {
    this.#stack.push({ what, run });
  }

  /** What is on the stack, in the order it will run. */
  get pending(): string[] {
    return this.#stack.map((c) => c.what).reverse();
  }

  /** Runs every cleanup once, newest first; returns the ones that failed, with why. */
  async runAll(log: Logger): Promise<string[]> {
    const failures: string[] = [];
    while (this.#stack.length > 0) {
      const cleanup = this.#stack.pop() as Cleanup;
      try {
        await cleanup.run();
      } catch (error) {
        const message = `could not ${cleanup.what}: ${error instanceof Error ? error.message : String(error)}`;
        log.warn(message);
        failures.push(message);
      }
    }
    return failures;
  }
}
