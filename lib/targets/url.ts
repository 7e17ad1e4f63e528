import { versionFromNum } from '../backups/dump-header.ts';
import { ConfigError, TargetError } from '../errors.ts';
import { withClient } from './databases.ts';
import type { Connection, StartedTarget } from './target.ts';

/**
 * A connection from `--database-url` / `DATABASE_URL`, else from the libpq variables (PGHOST, PGPORT,
 * PGUSER, PGPASSWORD, PGDATABASE), with libpq's own defaults.
 */
export function connectionFromUrl(url: string | undefined, env: NodeJS.ProcessEnv): Connection {
  if (url === undefined) {
    if (!env.PGHOST) {
      throw new ConfigError(
        'database-url',
        '--target url needs a server: set --database-url / DATABASE_URL, or PGHOST (with PGPORT, PGUSER, PGPASSWORD).',
      );
    }
    return {
      host: env.PGHOST,
      port: Number(env.PGPORT ?? 5432),
      user: env.PGUSER ?? 'postgres',
      password: env.PGPASSWORD,
      database: env.PGDATABASE ?? 'postgres',
    };
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(
      'database-url',
      'Expected --database-url / DATABASE_URL to be a URL like postgres://user@host:5432/postgres (value not shown: it may hold a password).',
    );
  }
  const socketDir = parsed.searchParams.get('host');
  return {
    host: socketDir ?? (decodeURIComponent(parsed.hostname.replace(/^\[|\]$/g, '')) || 'localhost'),
    port: Number(parsed.port || parsed.searchParams.get('port') || 5432),
    user: decodeURIComponent(parsed.username) || env.PGUSER || 'postgres',
    password: parsed.password ? decodeURIComponent(parsed.password) : env.PGPASSWORD,
    database: decodeURIComponent(parsed.pathname.replace(/^\//, '')) || 'postgres',
  };
}

/** `user@host:port/db`: what a log or report may say of a connection. */
export function describeConnection(connection: Connection): string {
  return `${connection.user}@${connection.host}:${connection.port}/${connection.database}`;
}

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
