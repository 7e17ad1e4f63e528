import type { Executor } from '../exec/executor.ts';

/** Runs `fn` when one of its slots is free: the others wait their turn, in order. */
export type Limiter = <T>(fn: () => Promise<T>) => Promise<T>;

/** At most `size` calls at a time. */
export function limiter(size: number): Limiter {
  let running = 0;
  const waiting: (() => void)[] = [];
  const acquire = async () => {
    if (running < size) {
      running++;
      return;
    }
    // The slot is handed over by release(), so `running` stays counted.
    await new Promise<void>((resolve) => waiting.push(resolve));
  };
  const release = () => {
    const next = waiting.shift();
    if (next) next();
    else running--;
  };
  return async (fn) => {
    await acquire();
    try {
      return await fn();
    } finally {
      release();
    }
  };
}

/**
 * The executor `executor` with at most `size` tool runs at a time (the others wait their turn, in
 * order): deep verification's bounded pool of psql sessions, shared by every database it reads, and
 * (with `limit`) by its sessions of its own (deep-read.ts's direct reads).
 */
export function sessionPool(executor: Executor, size: number, limit: Limiter = limiter(size)): Executor {
  return {
    where: executor.where,
    readsHostPaths: executor.readsHostPaths,
    toolVersion: (tool) => executor.toolVersion(tool),
    run: (tool, args, options) => limit(() => executor.run(tool, args, options)),
  };
}
