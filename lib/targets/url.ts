import { TargetError } from '../errors.ts';
import type { Connection } from '../pg/connection.ts';
import { describeConnection } from '../pg/connection.ts';
import { withClient } from '../pg/databases.ts';
import { versionFromNum } from '../pg/version.ts';
import type { StartedTarget } from './target.ts';

/** Attaches to an existing server; stopping it is not ours to do. */
export async function attachUrlTarget(
  connection: Connection,
  binDir: string | undefined,
  scratch: boolean,
): Promise<StartedTarget> {
  const num = await withClient(connection, connection.database, async (client) => {
    const { rows } = await client.query<{ num: string }>(
      `SELECT current_setting('server_version_num') AS num`,
    );
    return Number(rows[0]?.num);
  }).catch((error: Error) => {
    throw new TargetError(`Cannot reach ${describeConnection(connection)}: ${error.message}`, {
      cause: error,
    });
  });
  const serverVersion = versionFromNum(num);
  return {
    handle: {
      kind: 'url',
      description: `${scratch ? 'scratch' : 'existing'} server ${describeConnection(connection)} (PostgreSQL ${serverVersion.text})`,
      connection,
      serverVersion,
      scratch,
      binDir,
    },
    stop: async () => {},
    keep: async () =>
      `The server ${describeConnection(connection)} was not started by the drill; it keeps running.`,
  };
}
