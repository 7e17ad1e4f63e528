import type { DrillConfig } from '../config.ts';
import { UnsafeTargetError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { userDatabases, withClient } from './databases.ts';
import { startLocalTarget } from './local.ts';
import { DEFAULT_SEARCH_GLOBS, findPgBinDir } from './pg-binaries.ts';
import type { StartedTarget } from './target.ts';
import { attachUrlTarget, connectionFromUrl } from './url.ts';

export interface TargetDeps {
  env: NodeJS.ProcessEnv;
  log: Logger;
  /** Version roots searched for PostgreSQL binaries (tests point this elsewhere). */
  versionRoots?: readonly string[];
}

/**
 * Starts or attaches to the server the drill restores into. `auto` is `local` for now; the container
 * target slots in here.
 */
export async function startTarget(config: DrillConfig, deps: TargetDeps): Promise<StartedTarget> {
  const search = {
    explicit: config.pgBinDir,
    path: deps.env.PATH ?? '',
    versionRoots: deps.versionRoots ?? DEFAULT_SEARCH_GLOBS,
  };
  if (config.target === 'url') {
    const connection = connectionFromUrl(config.databaseUrl, deps.env);
    const { binDir } = await findPgBinDir({ ...search, tools: ['psql', 'pg_dumpall'] });
    const target = await attachUrlTarget(connection, binDir, config.scratch);
    await assertScratchUrl(target, config.canary);
    return target;
  }
  const { binDir } = await findPgBinDir(search);
  return startLocalTarget({ binDir, tempRoot: config.tempDir, baseEnv: deps.env, log: deps.log });
}

/**
 * A whole pg_dumpall rewrites roles and every database it holds: it goes only into a server declared
 * disposable, and only while that server holds nothing but (at most) the canary.
 */
async function assertScratchUrl(target: StartedTarget, canary: string): Promise<void> {
  const { handle } = target;
  if (!handle.scratch) {
    throw new UnsafeTargetError(
      `Refusing to restore a whole cluster into ${handle.description}: the drill did not start it, and replaying a pg_dumpall there would reset role passwords and duplicate rows in every other database. If it is a disposable scratch server (like the CronJob's sidecar), pass --scratch / DRILL_SCRATCH=true.`,
    );
  }
  const others = await withClient(handle.connection, handle.connection.database, userDatabases);
  const foreign = others.filter((name) => name !== canary);
  if (foreign.length > 0) {
    throw new UnsafeTargetError(
      `Refusing to restore a whole cluster into ${handle.description}: it is marked scratch but already holds database(s) ${foreign.join(', ')}. Give the drill an empty scratch server.`,
    );
  }
}
