import { resolve } from 'node:path';
import type { BackupCandidate } from '../backups/backup-source.ts';
import type { DrillConfig } from '../config.ts';
import { ConfigError, TargetError, ToolsNotFoundError, UnsafeTargetError } from '../errors.ts';
import { parsePodRef } from '../exec/pod.ts';
import { loadKubeConfig } from '../k8s/kube-config.ts';
import type { Logger } from '../log.ts';
import { findPgBinDir } from '../pg/binaries.ts';
import { connectionFromUrl } from '../pg/connection.ts';
import { userDatabases, withClient } from '../pg/databases.ts';
import { takeDrillLock } from '../pg/drill-lock.ts';
import { startContainerTarget } from './container.ts';
import { probeContainerEngine } from './container-engine.ts';
import { newestDumpVersion } from './dump-version.ts';
import { startLocalTarget } from './local.ts';
import type { StartedTarget } from './target.ts';
import { attachUrlTarget } from './url.ts';

export interface TargetDeps {
  env: NodeJS.ProcessEnv;
  log: Logger;
  /** Labels what the drill starts, so leftovers can be traced to a run. */
  runId: string;
  /** The backup the drill will restore, when known before the target starts (`--backups`). */
  newestBackup?: BackupCandidate;
}

/**
 * Starts or attaches to the server the drill restores into. `auto`: a container engine that answers
 * → container (the production major, tools inside); else PostgreSQL binaries here → local; else exit 2
 * naming both ways out.
 */
export async function startTarget(config: DrillConfig, deps: TargetDeps): Promise<StartedTarget> {
  const search = { explicit: config.pgBinDir, path: deps.env.PATH ?? '', versionRoots: config.pgSearchRoots };
  const container = () =>
    startContainerTarget({
      image: config.image,
      runId: deps.runId,
      log: deps.log,
      mountReadOnly:
        deps.newestBackup?.format === 'directory' && config.backups ? resolve(config.backups) : undefined,
    });
  const local = async () => {
    // A local server can only take a dump of its own major or older: with several majors installed,
    // the backup's header chooses (the self-contained drill's backup is made by the same binaries).
    const version = deps.newestBackup ? await newestDumpVersion(deps.newestBackup) : undefined;
    const dump = version && deps.newestBackup ? { version, file: deps.newestBackup.path } : undefined;
    const { binDir, choice, fits } = await findPgBinDir({ ...search, dump });
    if (fits) deps.log.info(choice);
    else deps.log.warn(choice);
    return startLocalTarget({ binDir, tempRoot: config.tempDir, baseEnv: deps.env, log: deps.log });
  };
  switch (config.target) {
    case 'url': {
      const connection = connectionFromUrl(config.databaseUrl, deps.env);
      const { binDir } = await findPgBinDir({ ...search, tools: ['psql', 'pg_dumpall'] });
      const target = await attachUrlTarget(connection, binDir, config.scratch);
      // The lock comes first: a second drill must hear "another drill is running", not a guard's
      // complaint about the first drill's canary.
      const release = await takeDrillLock(connection, deps.runId);
      try {
        // Only a whole-cluster restore needs an empty scratch server; canary modes write one database.
        if (config.mode === 'cluster') await assertScratchUrl(target, config.canary);
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
    }
    case 'pod':
      return attachPodTarget(config, deps);
    case 'local':
      return local();
    case 'container': {
      const engine = await probeContainerEngine();
      if (!engine.ok) {
        throw new TargetError(
          `--target container needs a container engine, and none answered (${engine.reason}). Start Docker, or podman's API socket with DOCKER_HOST=unix:///run/podman/podman.sock; or use --target local.`,
        );
      }
      return container();
    }
    case 'auto': {
      const engine = await probeContainerEngine();
      if (engine.ok) {
        deps.log.info(
          `container engine found (${engine.client.info.containerRuntime.host}): restoring into ${config.image}`,
        );
        return container();
      }
      try {
        return await local();
      } catch (error) {
        if (!(error instanceof ToolsNotFoundError)) throw error;
        throw new ToolsNotFoundError(
          error.searched,
          `Nothing to restore into: no container engine answered (${engine.reason}), and ${error.searched}. Either start a container engine (Docker, or podman with DOCKER_HOST=unix:///run/podman/podman.sock) for --target container, or install the PostgreSQL server binaries (Debian: apt-get install postgresql; or --pg-bindir DIR) for --target local.`,
        );
      }
    }
  }
}

/**
 * The operator's live database pod: the tools run inside it (exec API, the backup streamed in), the
 * checks connect with --database-url / PG*. It is production: never scratch, canary modes only.
 */
async function attachPodTarget(config: DrillConfig, deps: TargetDeps): Promise<StartedTarget> {
  if (!config.pod)
    throw new ConfigError('pod', '--target pod needs --pod NAMESPACE/POD (e.g. data/postgres-postgresql-0).');
  if (config.mode === 'cluster') {
    throw new UnsafeTargetError(
      `Refusing --mode cluster on --target pod: ${config.pod} is a live server, and a whole pg_dumpall would rewrite its roles and every database. Use --mode canary or --mode canary-copy.`,
    );
  }
  const { namespace } = loadKubeConfig({
    env: deps.env,
    kubeconfig: config.kubeconfig,
    context: config.context,
    namespace: config.namespace,
  });
  const pod = {
    ...parsePodRef(config.pod, namespace, config.podContainer),
    kubeconfig: config.kubeconfig,
    context: config.context,
  };
  const connection = connectionFromUrl(config.databaseUrl, deps.env);
  const attached = await attachUrlTarget(connection, undefined, false);
  const release = await takeDrillLock(connection, deps.runId);
  return {
    handle: {
      ...attached.handle,
      kind: 'pod',
      description: `pod ${pod.namespace}/${pod.name} (${attached.handle.description})`,
      pod,
    },
    stop: release,
    keep: attached.keep,
  };
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
