import { IDENT_PATTERN, unquoteIdent } from '../dump/sql-ident.ts';
/**
 * The DROP statements `pg_dumpall --clean [--if-exists]` writes at the head of its globals part
 * (PostgreSQL 15: `DROP DATABASE x;` for every database but postgres and template1, `DROP TABLESPACE`,
 * `DROP ROLE` for every role, the dumping superuser included), judged against the server they replay
 * into. Two kinds can never succeed there and are expected: the DROP of the role the drill connects as
 * (a session cannot drop its own role: 55006, with or without IF EXISTS), and, without IF EXISTS, the
 * DROP of an object an empty scratch server does not have (3D000 / 42704). Every other DROP runs.
 */

/** A single-line `DROP DATABASE|ROLE|TABLESPACE [IF EXISTS] name;` as pg_dumpall writes it. */
export interface DropStatement {
  kind: 'DATABASE' | 'ROLE' | 'TABLESPACE';
  ifExists: boolean;
  /** The object's name, unquoted. */
  name: string;
}

/** What the server holds before the restore starts: what a DROP can find. */
export interface ServerObjects {
  roles: string[];
  databases: string[];
  tablespaces: string[];
}

/** A DROP the drill commented out, with why: listed in the report, never hidden. */
export interface ExpectedDrop {
  line: number;
  statement: string;
  reason: string;
}

const IDENT = IDENT_PATTERN;
const DROP = new RegExp(`^DROP (DATABASE|ROLE|TABLESPACE) (IF EXISTS )?(${IDENT});$`);

/** Reads one line holding a whole DROP statement, or undefined for anything else. */
export function parseDrop(text: string): DropStatement | undefined {
  const match = DROP.exec(text);
  if (!match?.[1] || !match[3]) return undefined;
  return {
    kind: match[1] as DropStatement['kind'],
    ifExists: match[2] !== undefined,
    name: unquoteIdent(match[3]),
  };
}

/**
 * Why a DROP is expected to fail (or do nothing) on this server, or undefined when it should run:
 * the connecting role can never be dropped; an object the server does not have cannot be either.
 */
export function expectedDropReason(
  drop: DropStatement,
  existing: ServerObjects,
  connectingRole: string,
): string | undefined {
  if (drop.kind === 'ROLE' && drop.name === connectingRole) {
    return `the role the drill connects as (a session can never drop its own role)`;
  }
  const have =
    drop.kind === 'ROLE'
      ? existing.roles
      : drop.kind === 'DATABASE'
        ? existing.databases
        : existing.tablespaces;
  if (!have.includes(drop.name)) return `the server has no ${drop.kind.toLowerCase()} ${drop.name}`;
  return undefined;
}

/** The roles, databases and tablespaces a server holds, read through any pg client. */
export async function readServerObjects(client: {
  query<R extends object>(sql: string): Promise<{ rows: R[] }>;
}): Promise<ServerObjects> {
  const names = async (sql: string) => (await client.query<{ name: string }>(sql)).rows.map((r) => r.name);
  return {
    roles: await names('SELECT rolname AS name FROM pg_catalog.pg_roles'),
    databases: await names('SELECT datname AS name FROM pg_catalog.pg_database'),
    tablespaces: await names('SELECT spcname AS name FROM pg_catalog.pg_tablespace'),
  };
}

/** The summary's words for the expected DROPs: `2 DROP statement(s) for objects it did not have: …`. */
export function describeExpectedDrops(drops: readonly ExpectedDrop[]): string {
  const listed = (list: readonly ExpectedDrop[]) =>
    list.map((d) => `line ${d.line} ${d.statement.replace(/;$/, '')}`).join(', ');
  const absent = drops.filter((d) => d.reason.startsWith('the server has no'));
  const own = drops.filter((d) => d.reason.startsWith('the role the drill connects as'));
  const kept = drops.filter((d) => !absent.includes(d) && !own.includes(d));
  const parts: string[] = [];
  if (absent.length)
    parts.push(`${absent.length} DROP statement(s) for objects it did not have: ${listed(absent)}`);
  if (own.length) parts.push(`${own.length} DROP of the role the drill connects as: ${listed(own)}`);
  if (kept.length) {
    parts.push(
      `${kept.length} statement(s) of the database the drill holds its session in, which it keeps: ${listed(kept)}`,
    );
  }
  return `expected on an empty scratch server: ${parts.join('; ')}`;
}
