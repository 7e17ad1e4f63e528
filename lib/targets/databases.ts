import pg from 'pg';
import { UnsafeTargetError } from '../errors.ts';
import type { Connection } from './target.ts';

/** Databases the drill never drops, whatever it is told. */
export const PROTECTED_DATABASES = ['postgres', 'template0', 'template1'] as const;

/** A connected client for one database of the target; the caller ends it. */
export async function connect(
  connection: Connection,
  database = connection.database,
  applicationName = 'pg-restore-drill',
): Promise<pg.Client> {
  const client = new pg.Client({
    host: connection.host,
    port: connection.port,
    user: connection.user,
    password: connection.password,
    database,
    application_name: applicationName,
    connectionTimeoutMillis: 15_000,
  });
  // A session can die while idle (the server restarts, is killed): the next query fails and says so.
  // Without a listener, pg's 'error' event would end the whole drill before it can report.
  client.on('error', () => {});
  await client.connect();
  return client;
}

/** application_name of the tools' sessions (PGAPPNAME); the drill's own clients name themselves too. */
export const TOOL_APPLICATION_NAME = 'pg-restore-drill';

/**
 * Ends the server sessions of the restore tools this drill started. A psql that is killed or stopped
 * mid-restore leaves its session running until its statement ends (a long CREATE INDEX keeps its locks
 * and its transaction open meanwhile): the drill does not leave that behind on a server. The advisory
 * lock keeps other drills off the server, so every such session is this run's.
 */
export async function endToolSessions(connection: Connection): Promise<number> {
  return withClient(connection, connection.database, async (client) => {
    const { rows } = await client.query<{ ended: number }>(
      `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS ended
         FROM pg_stat_activity
        WHERE application_name = $1 AND pid <> pg_backend_pid() AND backend_type = 'client backend'`,
      [TOOL_APPLICATION_NAME],
    );
    return rows[0]?.ended ?? 0;
  });
}

/** Runs `fn` with a client on `database` and always ends the client. */
export async function withClient<T>(
  connection: Connection,
  database: string,
  fn: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const client = await connect(connection, database);
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

export async function databaseExists(client: pg.ClientBase, name: string): Promise<boolean> {
  const { rows } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
  return rows.length > 0;
}

/** Names of databases other than the templates and `postgres`. */
export async function userDatabases(client: pg.ClientBase): Promise<string[]> {
  const { rows } = await client.query<{ datname: string }>(
    `SELECT datname FROM pg_database WHERE datname <> ALL($1) ORDER BY 1`,
    [PROTECTED_DATABASES],
  );
  return rows.map((r) => r.datname);
}

/**
 * The databases a run may drop: its canary, and the databases it created itself (named `drill_<run id>`).
 * Nothing else, and never postgres or the templates, whatever the configuration says.
 */
export interface DropAllowance {
  canary: string;
  createdThisRun: readonly string[];
}

/** The name of the database a copy-mode run restores the canary's section into. */
export function copyDatabaseName(runId: string): string {
  return `drill_${runId.replaceAll('-', '_')}`;
}

export function assertDroppable(name: string, allowed: DropAllowance): void {
  if ((PROTECTED_DATABASES as readonly string[]).includes(name)) {
    throw new UnsafeTargetError(
      `Refusing to drop ${name}: the drill never drops postgres, template0 or template1. Choose another --canary.`,
    );
  }
  if (name !== allowed.canary && !allowed.createdThisRun.includes(name)) {
    throw new UnsafeTargetError(
      `Refusing to drop ${name}: the drill drops only its canary (${allowed.canary}) and the databases it created in this run.`,
    );
  }
}

/**
 * Drops a database the guard allows, ending its sessions (WITH FORCE, PostgreSQL 13+). The guard runs
 * first: this is the only DROP DATABASE in the drill.
 */
export async function dropDatabase(
  client: pg.ClientBase,
  name: string,
  allowed: DropAllowance,
): Promise<void> {
  assertDroppable(name, allowed);
  await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
}
