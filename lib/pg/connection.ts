import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { ConfigError } from '../errors.ts';

/** libpq's sslmode values, in its order: from never to a verified certificate for this very host. */
export const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
export type SslMode = (typeof SSL_MODES)[number];

/**
 * TLS to the server, as libpq's sslmode and sslrootcert say (`?sslmode=` in --database-url, else
 * PGSSLMODE / PGSSLROOTCERT). Named `tls`, not `ssl`: a Connection is never pg's ClientConfig, and a
 * spread of it into one must not pass this as pg's own option.
 */
export interface TlsSettings {
  mode: SslMode;
  /** verify-ca / verify-full: the root certificate file, as given (or libpq's ~/.postgresql/root.crt). */
  rootCertFile?: string;
  /** Its PEM text, read when the setting is read: a missing file is said before any work. */
  rootCert?: string;
}

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
  /** TLS, when sslmode was given; absent: none (the local, container and pod targets use sockets). */
  tls?: TlsSettings;
}

/**
 * A connection from `--database-url` / `DATABASE_URL`, else from the libpq variables (PGHOST, PGPORT,
 * PGUSER, PGPASSWORD, PGDATABASE), with libpq's own defaults.
 */
export function connectionFromUrl(url: string | undefined, env: NodeJS.ProcessEnv): Connection {
  return url === undefined ? connectionFromEnv(env) : connectionOfUrl(url, env);
}

function connectionFromEnv(env: NodeJS.ProcessEnv): Connection {
  if (!env.PGHOST) {
    throw new ConfigError(
      'database-url',
      '--target url needs a server: set --database-url / DATABASE_URL, or PGHOST (with PGPORT, PGUSER, PGPASSWORD).',
    );
  }
  return withTls(
    {
      host: env.PGHOST,
      port: portOf(env.PGPORT ?? '5432', 'PGPORT'),
      user: env.PGUSER ?? 'postgres',
      password: env.PGPASSWORD,
      database: env.PGDATABASE ?? 'postgres',
    },
    env.PGSSLMODE,
    env.PGSSLROOTCERT,
    'PGSSLMODE',
  );
}

function connectionOfUrl(url: string, env: NodeJS.ProcessEnv): Connection {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(
      'database-url',
      'Expected --database-url / DATABASE_URL to be a URL like postgres://user@host:5432/postgres (value not shown: it may hold a password).',
    );
  }
  // A parameter the drill did not read was dropped without a word: `?sslmode=require` sent the password
  // over a plain TCP session. What it cannot honour, it refuses.
  const unread = [...parsed.searchParams.keys()].filter((name) => !URL_PARAMETERS.includes(name));
  if (unread.length > 0) {
    throw new ConfigError(
      'database-url',
      `--database-url / DATABASE_URL names ${unread.map((name) => `?${name}=`).join(', ')}, which the drill does not read: remove it (it reads ${URL_PARAMETERS.map((name) => `${name}=`).join(', ')}; other libpq settings are not passed on).`,
    );
  }
  const socketDir = parsed.searchParams.get('host');
  const sslmode = parsed.searchParams.get('sslmode');
  return withTls(
    {
      host: socketDir ?? (decodePart(parsed.hostname.replace(/^\[|\]$/g, ''), 'host') || 'localhost'),
      port: portOf(parsed.port || parsed.searchParams.get('port') || '5432', '--database-url / DATABASE_URL'),
      user: decodePart(parsed.username, 'user') || env.PGUSER || 'postgres',
      password: parsed.password ? decodePart(parsed.password, 'password') : env.PGPASSWORD,
      database: decodePart(parsed.pathname.replace(/^\//, ''), 'database name') || 'postgres',
    },
    sslmode ?? env.PGSSLMODE,
    parsed.searchParams.get('sslrootcert') ?? env.PGSSLROOTCERT,
    sslmode === null ? 'PGSSLMODE' : '--database-url ?sslmode=',
  );
}

/** A %-escaped part of the URL, or a ConfigError naming the part (never its value: it may be the password). */
function decodePart(part: string, what: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new ConfigError(
      'database-url',
      `--database-url / DATABASE_URL: its ${what} holds a % not followed by two hex digits; write a literal % as %25 (value not shown: it may hold a password).`,
    );
  }
}

/** A TCP port, 1 to 65535, or a ConfigError naming where it came from. */
function portOf(text: string, from: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port < 1 || port > 65535) {
    throw new ConfigError(
      'database-url',
      `Expected the port in ${from} to be a number from 1 to 65535, got \`${text}\`.`,
    );
  }
  return port;
}

/** The query parameters of --database-url the drill reads. */
const URL_PARAMETERS = ['host', 'port', 'sslmode', 'sslrootcert'];

/** The connection with its TLS settings, checked: a mode libpq knows, a root certificate that reads. */
function withTls(
  connection: Connection,
  mode: string | undefined,
  rootCertFile: string | undefined,
  from: string,
): Connection {
  if (mode === undefined || mode === '') return connection;
  if (!(SSL_MODES as readonly string[]).includes(mode)) {
    throw new ConfigError(
      'database-url',
      `Expected ${from} to be one of ${SSL_MODES.join(', ')}, got \`${mode}\`.`,
    );
  }
  const tls: TlsSettings = { mode: mode as SslMode };
  if (mode === 'verify-ca' || mode === 'verify-full') {
    const file = rootCertFile || join(homedir(), '.postgresql', 'root.crt');
    if (!isAbsolute(file)) {
      throw new ConfigError(
        'database-url',
        `sslrootcert ${file}: give the root certificate as an absolute path.`,
      );
    }
    try {
      tls.rootCert = readFileSync(file, 'utf8');
    } catch (error) {
      throw new ConfigError(
        'database-url',
        `sslmode ${mode} needs the root certificate that signed the server's: ${file} cannot be read (${(error as Error).message}); give it with ?sslrootcert=FILE or PGSSLROOTCERT.`,
      );
    }
    tls.rootCertFile = file;
  }
  return { ...connection, tls };
}

/** `user@host:port/db`: what a log or report may say of a connection. */
export function describeConnection(connection: Connection): string {
  return `${connection.user}@${connection.host}:${connection.port}/${connection.database}`;
}
