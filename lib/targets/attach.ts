import { TargetError } from '../errors.ts';
import { hostExecutor } from './host-executor.ts';
import type { Executor, TargetHandle } from './target.ts';

/** The executor that runs client tools for a target, from its handle. */
export function executorFor(handle: TargetHandle, baseEnv: NodeJS.ProcessEnv): Executor {
  if (handle.binDir) return hostExecutor(handle.binDir, handle.connection, baseEnv);
  throw new TargetError(`No way to run the PostgreSQL client tools for ${handle.description}.`);
}
