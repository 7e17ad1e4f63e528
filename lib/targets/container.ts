import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { PostgreSqlContainer, type StartedPostgreSqlContainer } from '@testcontainers/postgresql';
import { getContainerRuntimeClient, Wait } from 'testcontainers';
import { raceAbort } from '../abort.ts';
import { TargetError } from '../errors.ts';
import { CONTAINER_SOCKET_DIR } from '../exec/container.ts';
import { probeContainerEngine } from '../exec/container-engine.ts';
import type { Logger } from '../log.ts';
import type { Connection } from '../pg/connection.ts';
import { withClient } from '../pg/databases.ts';
import { serverVersion } from './server-version.ts';
import type { StartedTarget, Target } from './target.ts';

/** Label on every container the drill starts, so a leftover can be found (`docker ps -a --filter`). */
export const RUN_LABEL = 'pg-restore-drill.run';

const SUPERUSER = 'postgres';
/** How long the removal of a container that did not start may take. */
const REMOVE_TIMEOUT_MS = 10_000;

/** `--target container`: the production major in a container, the client tools run inside it. */
export const containerTarget: Target = {
  kind: 'container',
  async start(options, deps) {
    const engine = await probeContainerEngine(deps.env);
    if (!engine.ok) {
      throw new TargetError(
        `--target container needs a container engine, and none answered (${engine.reason}). Start Docker, or podman's API socket with DOCKER_HOST=unix:///run/podman/podman.sock; or use --target local.`,
      );
    }
    return startContainerTarget({
      image: options.image,
      runId: deps.runId,
      log: deps.log,
      mountReadOnly:
        deps.newestBackup?.format === 'directory' && options.backups ? resolve(options.backups) : undefined,
    });
  },
};

export interface ContainerTargetOptions {
  image: string;
  runId: string;
  log: Logger;
  /**
   * A host directory to mount read-only at its own path: the backups, when the newest is a directory
   * archive (pg_restore must read it as a directory; every other backup is streamed in).
   */
  mountReadOnly?: string;
}

/**
 * The official image's server, not yet started: superuser postgres with `password`, database postgres,
 * `labels`, and the readiness startContainerTarget describes. Its health check uses the trusted local
 * socket: the module's default carries the password in its command line. Also the tests' source servers.
 */
export function postgresContainer(
  image: string,
  password: string,
  labels: Record<string, string>,
): PostgreSqlContainer {
  return new PostgreSqlContainer(image)
    .withUsername(SUPERUSER)
    .withPassword(password)
    .withDatabase('postgres')
    .withLabels(labels)
    .withHealthCheck({
      test: ['CMD-SHELL', `pg_isready -h ${CONTAINER_SOCKET_DIR} -U ${SUPERUSER}`],
      interval: 1000,
      timeout: 1000,
      retries: 120,
    })
    .withWaitStrategy(
      Wait.forAll([
        Wait.forListeningPorts(),
        Wait.forLogMessage(/database system is ready to accept connections/, 2),
      ]),
    );
}

/**
 * Starts PostgreSQL in a container. Readiness is the server's own log line (the official image prints it
 * twice: once for its init server, once for the real one) plus the mapped port: some engines (podman
 * without systemd) never run HEALTHCHECKs, so health is never waited on.
 */
export async function startContainerTarget(options: ContainerTargetOptions): Promise<StartedTarget> {
  const password = randomBytes(18).toString('base64url');
  const container = await startContainer(options, password);
  const connection = {
    host: container.getHost(),
    port: container.getPort(),
    user: SUPERUSER,
    password,
    database: 'postgres',
  };
  const stop = async () => {
    await container.stop({ remove: true, removeVolumes: true, timeout: 5000 });
  };
  try {
    const version = await withClient(connection, 'postgres', serverVersion);
    const id = container.getId().slice(0, 12);
    options.log.info(
      `PostgreSQL ${version.text} started in container ${id} (${options.image}) on ${connection.host}:${connection.port}`,
    );
    return startedContainer(options, container.getId(), connection, version, stop);
  } catch (error) {
    await stop().catch(() => {});
    throw new TargetError(
      `The container ${options.image} started but its server cannot be reached: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

/** The server's container, started with the throwaway settings (and the backups mounted, if asked). */
async function startContainer(
  options: ContainerTargetOptions,
  password: string,
): Promise<StartedPostgreSqlContainer> {
  const mounts = options.mountReadOnly
    ? [{ source: options.mountReadOnly, target: options.mountReadOnly, mode: 'ro' as const }]
    : [];
  try {
    return await postgresContainer(options.image, password, { [RUN_LABEL]: options.runId })
      .withBindMounts(mounts)
      .withCommand([
        'postgres',
        '-c',
        'fsync=off',
        '-c',
        'synchronous_commit=off',
        '-c',
        'full_page_writes=off',
      ])
      .start();
  } catch (error) {
    // testcontainers leaves a container that was made but did not start (Ryuk would remove it; podman
    // runs without Ryuk): the run's label finds it. Bounded: an engine that failed the start may not
    // answer at all.
    const left = await raceAbort(
      removeRunContainers(options.runId),
      AbortSignal.timeout(REMOVE_TIMEOUT_MS),
    ).then(
      (ids) => (ids.length ? ` (the container ${ids.join(', ')} made for it is removed)` : ''),
      (removal: Error) =>
        ` (a container made for it may be left: docker rm -f $(docker ps -aq --filter label=${RUN_LABEL}=${options.runId}); removing it failed: ${removal.name === 'TimeoutError' ? `no answer within ${REMOVE_TIMEOUT_MS / 1000} s` : removal.message})`,
    );
    throw new TargetError(
      `Could not start ${options.image} in the container engine: ${(error as Error).message}${left}. If the image cannot be pulled here, pass --image with one the engine has (or a mirror such as registry.example.com/library/postgres:18), or use --target local.`,
      { cause: error },
    );
  }
}

/** A container of the drill's, as the engine lists it. */
export interface RunContainer {
  /** The short (12-digit) id, as docker ps shows it. */
  id: string;
  image: string;
  /** created, running, exited, …: the engine's word. */
  state: string;
}

/**
 * The containers, running or not, labelled with this run's id; with none given, those of every drill
 * run (any value of the label).
 */
export async function runContainers(runId?: string): Promise<RunContainer[]> {
  const docker = (await getContainerRuntimeClient()).container.dockerode;
  const label = runId === undefined ? RUN_LABEL : `${RUN_LABEL}=${runId}`;
  const listed = await docker.listContainers({ all: true, filters: { label: [label] } });
  return listed.map((c) => ({ id: c.Id.slice(0, 12), image: c.Image, state: c.State }));
}

/** Removes every container, running or not, labelled with this run's id; returns their short ids. */
export async function removeRunContainers(runId: string): Promise<string[]> {
  const docker = (await getContainerRuntimeClient()).container.dockerode;
  const left = await runContainers(runId);
  await Promise.all(left.map((c) => docker.getContainer(c.id).remove({ force: true, v: true })));
  return left.map((c) => c.id);
}

/** The handle of a running container, and how to stop or keep it. */
function startedContainer(
  options: ContainerTargetOptions,
  containerId: string,
  connection: Connection,
  version: StartedTarget['handle']['serverVersion'],
  stop: () => Promise<void>,
): StartedTarget {
  const id = containerId.slice(0, 12);
  const at = `${connection.host}:${connection.port}`;
  return {
    handle: {
      kind: 'container',
      description: `container ${options.image} (${id}) on ${at}`,
      connection,
      serverVersion: version,
      scratch: true,
      tools: { kind: 'container', containerId, mounts: options.mountReadOnly ? [options.mountReadOnly] : [] },
    },
    stop,
    keep: async () =>
      [
        `The container ${id} keeps running; PostgreSQL on ${at}.`,
        `  connect: docker exec -it ${id} psql -U ${SUPERUSER}`,
        `  remove:  docker rm -f ${id}`,
      ].join('\n'),
  };
}
