import { randomBytes } from 'node:crypto';
import { PostgreSqlContainer, type StartedPostgreSqlContainer } from '@testcontainers/postgresql';
import { Wait } from 'testcontainers';
import { TargetError } from '../errors.ts';
import { CONTAINER_SOCKET_DIR } from '../exec/container.ts';
import type { Logger } from '../log.ts';
import { withClient } from '../pg/databases.ts';
import { versionFromNum } from '../pg/version.ts';
import type { StartedTarget } from './target.ts';

/** The image `--target container` uses unless told otherwise: pinned in the settings table only. */
export { DEFAULT_POSTGRES_IMAGE } from '../config/target-settings.ts';
/** Label on every container the drill starts, so a leftover can be found (`docker ps -a --filter`). */
export const RUN_LABEL = 'pg-restore-drill.run';

const SUPERUSER = 'postgres';

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
  let container: StartedPostgreSqlContainer;
  try {
    container = await postgresContainer(options.image, password, { [RUN_LABEL]: options.runId })
      .withBindMounts(
        options.mountReadOnly
          ? [{ source: options.mountReadOnly, target: options.mountReadOnly, mode: 'ro' }]
          : [],
      )
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
    throw new TargetError(
      `Could not start ${options.image} in the container engine: ${(error as Error).message}. If the image cannot be pulled here, pass --image with one the engine has (or a mirror such as registry.example.com/library/postgres:18), or use --target local.`,
      { cause: error },
    );
  }
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
    const num = await withClient(connection, 'postgres', async (client) => {
      const { rows } = await client.query<{ num: string }>(
        `SELECT current_setting('server_version_num') AS num`,
      );
      return Number(rows[0]?.num);
    });
    const serverVersion = versionFromNum(num);
    const id = container.getId();
    options.log.info(
      `PostgreSQL ${serverVersion.text} started in container ${id.slice(0, 12)} (${options.image}) on ${connection.host}:${connection.port}`,
    );
    return {
      handle: {
        kind: 'container',
        description: `container ${options.image} (${id.slice(0, 12)}) on ${connection.host}:${connection.port}`,
        connection,
        serverVersion,
        scratch: true,
        containerId: id,
        containerMounts: options.mountReadOnly ? [options.mountReadOnly] : [],
      },
      stop,
      keep: async () =>
        [
          `The container ${id.slice(0, 12)} keeps running; PostgreSQL on ${connection.host}:${connection.port}.`,
          `  connect: docker exec -it ${id.slice(0, 12)} psql -U ${SUPERUSER}`,
          `  remove:  docker rm -f ${id.slice(0, 12)}`,
        ].join('\n'),
    };
  } catch (error) {
    await stop().catch(() => {});
    throw new TargetError(
      `The container ${options.image} started but its server cannot be reached: ${(error as Error).message}`,
      { cause: error },
    );
  }
}
