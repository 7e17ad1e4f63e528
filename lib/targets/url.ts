import { TargetError, UnsafeTargetError } from '../errors.ts';
import { findPgBinDir } from '../pg/binaries.ts';
import type { Connection } from '../pg/connection.ts';
import { connectionFromUrl, describeConnection } from '../pg/connection.ts';
import { userDatabases, withClient } from '../pg/databases.ts';
import { takeDrillLock } from '../pg/drill-lock.ts';
import { serverVersion } from './server-version.ts';
import type { StartedTarget, Target, TargetHandle, TargetTools } from './target.ts';

/**
 * `--target url`: an existing server, the client tools from this host. With `--scratch` it is declared
 * disposable (the CronJob's sidecar): only then, and only while it holds nothing but the canary, may a
 * whole cluster be restored into it.
 */
export const urlTarget: Target = {
  kind: 'url',
  async start(options, deps) {
    const connection = connectionFromUrl(options.databaseUrl, deps.env);
    const { binDir } = await findPgBinDir({
      explicit: options.pgBinDir,
      path: deps.env.PATH ?? '',
      versionRoots: options.pgSearchRoots,
      tools: ['psql', 'pg_dumpall'],
    });
    const target = await attachUrlTarget(connection, { kind: 'host', binDir }, options.scratch);
    // The lock comes first: a second drill must hear "another drill is running", not a guard's
    // complaint about the first drill's canary.
    const release = await takeDrillLock(connection, deps.runId);
    try {
      // Only a whole-cluster restore needs an empty scratch server; canary modes write one database.
      if (options.mode === 'cluster' && !options.table) await assertScratch(target.handle, options.canary);
    } catch (error) {
      await release();
      throw error;
    }
    return {
      ...target,
      stop: async () => {
        await release();
        await target.stop();
      },
    };
  },
};

/** Attaches to an existing server; stopping it is not ours to do. */
export async function attachUrlTarget(
  connection: Connection,
  tools: TargetTools,
  scratch: boolean,
): Promise<StartedTarget> {
  const version = await withClient(connection, connection.database, serverVersion).catch((error: Error) => {
    throw new TargetError(`Cannot reach ${describeConnection(connection)}: ${error.message}`, {
      cause: error,
    });
  });
  return {
    handle: {
      kind: 'url',
      description: `${scratch ? 'scratch' : 'existing'} server ${describeConnection(connection)} (PostgreSQL ${version.text})`,
      connection,
      serverVersion: version,
      scratch,
      tools,
    },
    stop: async () => {},
    keep: async () =>
      `The server ${describeConnection(connection)} was not started by the drill; it keeps running.`,
  };
}

/**
 * A whole pg_dumpall rewrites roles and every database it holds: it goes only into a server declared
 * disposable, and only while that server holds nothing but (at most) the canary.
 */
async function assertScratch(handle: TargetHandle, canary: string): Promise<void> {
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
