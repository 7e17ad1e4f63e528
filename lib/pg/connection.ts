import { ConfigError } from '../errors.ts';

/** How to reach a server from where the drill's `pg` client runs. */
export interface Connection {
  /** Host name, IP, or a Unix socket directory (starts with `/`). */
  host: string;
  port: number;
  user: string;
  /** Never logged, never put in argv; `describeConnection` is what a log may say. */
  password: string | undefined;
  /** The maintenance database to connect to first. */
  database: string;
}

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
