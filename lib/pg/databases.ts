import pg from 'pg';
import { UnsafeTargetError } from '../errors.ts';
import type { Connection, TlsSettings } from './connection.ts';

/** Databases the drill never drops, whatever it is told. */
export const PROTECTED_DATABASES = ['postgres', 'template0', 'template1'] as const;

/**
 * The drill's own sessions (its checks, its read-back, the tools it runs) are not held to the timeouts an
 * operator set for the applications with `ALTER DATABASE|ROLE … SET` or in postgresql.conf: a database
 * whose `statement_timeout` is 1 s would otherwise fail the read-back of its largest table, and the drill
 * would blame the backup. Sent at connect (libpq's `options`, PGOPTIONS for the tools), they outrank
 * those settings; pg_dump and a dump's own header set the same three. transaction_timeout (PostgreSQL 17)
 * is not among them: an older server refuses a session that names a setting it does not know.
 */
export const SESSION_OPTIONS =
  '-c statement_timeout=0 -c lock_timeout=0 -c idle_in_transaction_session_timeout=0';

/** A connected client for one database of the target; the caller ends it. */
export async function connect(
  connection: Connection,
  database = connection.database,
  applicationName = 'pg-restore-drill',
): Promise<pg.Client> {
  const open = async (ssl: pg.ClientConfig['ssl']) => {
    const client = new pg.Client({
      host: connection.host,
      port: connection.port,
      user: connection.user,
      password: connection.password,
      database,
      application_name: applicationName,
      options: SESSION_OPTIONS,
      ssl,
      connectionTimeoutMillis: 15_000,
    });
    // A session can die while idle (the server restarts, is killed): the next query fails and says so.
    // Without a listener, pg's 'error' event would end the whole drill before it can report.
    client.on('error', () => {});
    await client.connect();
    return client;
  };
  const ssl = pgSsl(connection.tls);
  // libpq's allow and prefer take a plain session where the server has no TLS; node-postgres does not.
  const plainToo = connection.tls?.mode === 'allow' || connection.tls?.mode === 'prefer';
  return open(ssl).catch((error: Error) => {
    if (plainToo && /does not support SSL/.test(error.message)) return open(false);
    throw error;
  });
}

/**
 * node-postgres's `ssl` for libpq's sslmode. Always explicit: left undefined, pg would read PGSSLMODE
 * from the environment on its own (and try TLS on a Unix socket). require (and allow, prefer): encrypted,
 * the certificate not checked, as libpq without a root certificate; verify-ca: signed by the root
 * certificate; verify-full: that, and issued to the host connected to.
 */
export function pgSsl(tls: TlsSettings | undefined): pg.ClientConfig['ssl'] {
  if (!tls || tls.mode === 'disable') return false;
  if (tls.mode === 'verify-full') return { ca: tls.rootCert };
  if (tls.mode === 'verify-ca') return { ca: tls.rootCert, checkServerIdentity: () => undefined };
  return { rejectUnauthorized: false };
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
 * The databases a run may drop: its canary, and the databases it created itself (named `drill_<run id>`,
 * and in canary mode `drill_<run id>_old` for the canary it replaced). With `leftovers`, also a database
 * an earlier run created and left behind (it crashed), but only when the database's own comment proves
 * it (see provenLeftover). Nothing else, and never postgres or the templates, whatever the configuration
 * says.
 */
export interface DropAllowance {
  canary: string;
  createdThisRun: readonly string[];
  /** Accept a drill-marked leftover of an earlier run: the guard reads its comment itself. */
  leftovers?: boolean;
}

/** The name of the database a copy-mode run restores the canary's section into. */
export function copyDatabaseName(runId: string): string {
  return `drill_${runId.replaceAll('-', '_')}`;
}

/** The name a canary-mode run gives the canary it replaces, between the swap and its drop. */
export function replacedCanaryName(runId: string): string {
  return `${copyDatabaseName(runId)}_old`;
}

/** What a drill-made database is: the scratch restore, or the canary a swap replaced. */
export type DrillMarkRole = 'scratch' | 'replaced';

const MARK_PREFIX = 'pg-restore-drill run ';
const MARK_WORDS: Record<DrillMarkRole, string> = {
  scratch: 'scratch restore of',
  replaced: 'the canary it replaced,',
};

/**
 * The comment (COMMENT ON DATABASE) the drill puts on every database it creates, so that a later run
 * knows a leftover of a crashed run for what it is, and which run left it.
 */
export function drillMark(runId: string, role: DrillMarkRole, canary: string, detail: string): string {
  return `${MARK_PREFIX}${runId}: ${MARK_WORDS[role]} ${canary}; ${detail}`;
}

/** The run and role a drill mark names, or undefined for any other comment. */
export function parseDrillMark(
  comment: string | null | undefined,
): { runId: string; role: DrillMarkRole } | undefined {
  const mark = parseMark(comment);
  return mark ? { runId: mark.runId, role: mark.role } : undefined;
}

/** The canary a drill mark names (the drill of which canary made the database), or undefined. */
export function markedCanary(comment: string | null | undefined): string | undefined {
  return parseMark(comment)?.canary;
}

function parseMark(
  comment: string | null | undefined,
): { runId: string; role: DrillMarkRole; canary: string } | undefined {
  const match =
    /^pg-restore-drill run (\d{8}-\d{6}-[0-9a-f]{6}): (scratch restore of|the canary it replaced,) (.*); /s.exec(
      comment ?? '',
    );
  if (!match?.[1] || match[3] === undefined) return undefined;
  return {
    runId: match[1],
    role: match[2] === MARK_WORDS.scratch ? 'scratch' : 'replaced',
    canary: match[3],
  };
}

/**
 * The run that left `name` behind, when the database's comment proves it is a drill's: a drill mark
 * naming a run and a role whose database is called exactly `name` (drill_<run id>, drill_<run id>_old).
 * A comment alone, or a name alone, proves nothing.
 */
export function provenLeftover(
  name: string,
  comment: string | null | undefined,
): { runId: string; role: DrillMarkRole } | undefined {
  const mark = parseDrillMark(comment);
  if (!mark) return undefined;
  const expected = mark.role === 'scratch' ? copyDatabaseName(mark.runId) : replacedCanaryName(mark.runId);
  return expected === name ? mark : undefined;
}

/** The database's comment (shobj_description), or null; undefined when there is no such database. */
export async function databaseComment(
  client: pg.ClientBase,
  name: string,
): Promise<string | null | undefined> {
  const { rows } = await client.query<{ comment: string | null }>(
    `SELECT pg_catalog.shobj_description(oid, 'pg_database') AS comment FROM pg_catalog.pg_database WHERE datname = $1`,
    [name],
  );
  return rows.length === 0 ? undefined : (rows[0]?.comment ?? null);
}

/** COMMENT ON DATABASE; null removes the comment. */
export async function commentOnDatabase(
  client: pg.ClientBase,
  name: string,
  comment: string | null,
): Promise<void> {
  await client.query(
    `COMMENT ON DATABASE ${pg.escapeIdentifier(name)} IS ${comment === null ? 'NULL' : pg.escapeLiteral(comment)}`,
  );
}

export function assertDroppable(name: string, allowed: DropAllowance, comment?: string | null): void {
  if ((PROTECTED_DATABASES as readonly string[]).includes(name)) {
    throw new UnsafeTargetError(
      `Refusing to drop ${name}: the drill never drops postgres, template0 or template1. Choose another --canary.`,
    );
  }
  if (name === allowed.canary || allowed.createdThisRun.includes(name)) return;
  if (allowed.leftovers && provenLeftover(name, comment)) return;
  throw new UnsafeTargetError(
    `Refusing to drop ${name}: the drill drops only its canary (${allowed.canary}), the databases it created in this run, and leftovers of earlier runs whose comment proves them the drill's.`,
  );
}

/**
 * Drops a database the guard allows, ending its sessions (WITH FORCE, PostgreSQL 13+). The guard runs
 * first, on the database's comment as the server holds it now: this is the only DROP DATABASE in the
 * drill.
 */
export async function dropDatabase(
  client: pg.ClientBase,
  name: string,
  allowed: DropAllowance,
): Promise<void> {
  const comment = allowed.leftovers ? await databaseComment(client, name) : undefined;
  assertDroppable(name, allowed, comment);
  await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
}
