import type { Executor } from '../exec/executor.ts';

/**
 * The executor `executor` with at most `size` tool runs at a time (the others wait their turn, in
 * order): deep verification's bounded pool of psql sessions, shared by every database it reads.
 */
export function sessionPool(executor: Executor, size: number): Executor {
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
  return {
    where: executor.where,
    readsHostPaths: executor.readsHostPaths,
    toolVersion: (tool) => executor.toolVersion(tool),
    async run(tool, args, options) {
      await acquire();
      try {
        return await executor.run(tool, args, options);
      } finally {
        release();
      }
    },
  };
}
