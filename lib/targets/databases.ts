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
  await client.connect();
  return client;
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

/** Refuses to drop anything but the configured canary, and never a protected database. */
export function assertDroppable(name: string, canary: string): void {
  if ((PROTECTED_DATABASES as readonly string[]).includes(name)) {
    throw new UnsafeTargetError(
      `Refusing to drop ${name}: the drill never drops postgres, template0 or template1. Choose another --canary.`,
    );
  }
  if (name !== canary) {
    throw new UnsafeTargetError(`Refusing to drop ${name}: the drill drops only its canary (${canary}).`);
  }
}

/**
 * Drops the canary, ending its sessions (WITH FORCE, PostgreSQL 13+). The guard runs first: this is the
 * only DROP DATABASE in the drill.
 */
export async function dropCanary(client: pg.ClientBase, name: string, canary: string): Promise<void> {
  assertDroppable(name, canary);
  await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
}
