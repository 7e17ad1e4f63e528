import { randomBytes } from 'node:crypto';
import { withClient } from '../../lib/pg/databases.ts';
import { versionFromNum } from '../../lib/pg/version.ts';
import { postgresContainer } from '../../lib/targets/container.ts';
import type { TargetHandle } from '../../lib/targets/target.ts';

/** Marks the tests' own source servers: not the drill's (RUN_LABEL), so no leftover check counts them. */
export const SOURCE_LABEL = 'pg-restore-drill.test-source';

export interface SourceContainer {
  /** Not scratch; the tools (pg_dumpall, pg_dump, psql of its own major) run inside the container. */
  handle: TargetHandle;
  /** DATABASE_URL (no password) and PGPASSWORD: a CLI run against it as a live server. */
  cliEnv: { DATABASE_URL: string; PGPASSWORD: string };
  stop(): Promise<void>;
}

/**
 * A PostgreSQL server of another major than the host's, in a container of an image scripts/
 * container-engine.sh builds: the source of real dumps of that major, or a live server for canary drills.
 */
export async function startSourceContainer(image: string): Promise<SourceContainer> {
  const password = randomBytes(18).toString('base64url');
  const container = await postgresContainer(image, password, { [SOURCE_LABEL]: 'true' }).start();
  const connection = {
    host: container.getHost(),
    port: container.getPort(),
    user: 'postgres',
    password,
    database: 'postgres',
  };
  const num = await withClient(connection, 'postgres', async (client) => {
    const { rows } = await client.query<{ num: string }>(
      `SELECT current_setting('server_version_num') AS num`,
    );
    return Number(rows[0]?.num);
  });
  return {
    handle: {
      kind: 'url',
      description: `source ${image} on ${connection.host}:${connection.port}`,
      connection,
      serverVersion: versionFromNum(num),
      scratch: false,
      tools: { kind: 'container', containerId: container.getId(), mounts: [] },
    },
    cliEnv: {
      DATABASE_URL: `postgres://postgres@${connection.host}:${connection.port}/postgres`,
      PGPASSWORD: password,
    },
    stop: async () => {
      await container.stop({ remove: true, removeVolumes: true, timeout: 5000 });
    },
  };
}
