/**
 * The session pg_dump reads data with (pg_dump's setup_connection, seen in a 15.18 server log):
 * search_path '', DateStyle ISO, IntervalStyle postgres, extra_float_digits 3, row_security off,
 * client_encoding the dump's, quote_all_identifiers with --quote-all-identifiers; everything else
 * (TimeZone, bytea_output, …) as the database and role settings of the source server had it.
 */
export interface ReadSettings {
  /** The dump's `SET client_encoding` (TableDigest.encoding). */
  encoding: string;
  /**
   * The source server's own TimeZone (postgresql.conf), which the dump does not record: used where the
   * restored database and role set none (`ALTER DATABASE … SET timezone` is restored with the dump and
   * applies to the reading session as it applied to pg_dump's).
   */
  timeZone: string;
}

/** Where the reading session's TimeZone came from. */
export type TimeZoneSource = 'database' | 'user' | 'database user' | '--source-time-zone';

/** The session a database was read back in. */
export interface ReadSession {
  timeZone: string;
  timeZoneFrom: TimeZoneSource;
  /** The dump was made with --quote-all-identifiers (its table names are quoted where none need it). */
  quoteAllIdentifiers: boolean;
}

/** Production images (postgres:*, most managed services) run in UTC. */
export const DEFAULT_TIME_ZONE = 'UTC';

/** Settings that come from pg_db_role_setting: the restored database's (or role's) own. */
const OWN_SETTING_SOURCES = new Set(['database', 'user', 'database user']);

/** psql's view of a database name: a connection string, so no name (`a=b`, spaces, quotes) is misread. */
export function dbConninfo(database: string): string {
  return `dbname='${database.replace(/['\\]/g, '\\$&')}'`;
}

export function sqlLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/** pg_dump's own `set_config('search_path', '', false)`. */
const EMPTY_SEARCH_PATH = "SELECT pg_catalog.set_config('search_path', '', false)";

export interface DumpSessionOptions {
  encoding: string;
  timeZone: string | undefined;
  quoteAllIdentifiers: boolean;
}

/**
 * The session pg_dump reads data in, as SQL statements, one each: a session of the drill's own (deep
 * verification's direct reads, lib/pg/copy-out.ts) runs them as they are. `timeZone` undefined: the
 * database's (or role's) own TimeZone stands.
 */
export function dumpSessionStatements(options: DumpSessionOptions): string[] {
  return [
    'SET standard_conforming_strings = on;',
    `${EMPTY_SEARCH_PATH};`,
    'SET DateStyle = ISO;',
    'SET IntervalStyle = postgres;',
    'SET extra_float_digits = 3;',
    // A row-level security policy that would hide rows makes the read fail, never filter.
    'SET row_security = off;',
    `SET quote_all_identifiers = ${options.quoteAllIdentifiers ? 'on' : 'off'};`,
    ...(options.timeZone === undefined ? [] : [`SET TimeZone = ${sqlLiteral(options.timeZone)};`]),
    `SET client_encoding = ${sqlLiteral(options.encoding)};`,
  ];
}

/**
 * The same session as psql script lines: every read-back of rows through psql (deep verification, the
 * canary's rows, `record`) starts with them, so all compare alike. The search_path's SELECT has its
 * output swallowed by \gset.
 */
export function dumpSessionLines(options: DumpSessionOptions): string[] {
  return dumpSessionStatements(options).map((statement) =>
    statement.startsWith(EMPTY_SEARCH_PATH) ? `${EMPTY_SEARCH_PATH} AS drill_search_path \\gset` : statement,
  );
}

/**
 * The session to read a database in: its own TimeZone where the database or role sets one (the
 * probe's `source`), else the source server's; quoting as the dump quoted.
 */
export function readSessionFor(
  settings: ReadSettings,
  probed: { timeZone: string; timeZoneSource: string; quoteAllIdentifiers: boolean },
): { session: ReadSession; lines: string[]; statements: string[] } {
  const own = OWN_SETTING_SOURCES.has(probed.timeZoneSource);
  const session: ReadSession = {
    timeZone: own ? probed.timeZone : settings.timeZone,
    timeZoneFrom: own ? (probed.timeZoneSource as TimeZoneSource) : '--source-time-zone',
    quoteAllIdentifiers: probed.quoteAllIdentifiers,
  };
  const options: DumpSessionOptions = {
    encoding: settings.encoding,
    timeZone: own ? undefined : settings.timeZone,
    quoteAllIdentifiers: session.quoteAllIdentifiers,
  };
  return { session, lines: dumpSessionLines(options), statements: dumpSessionStatements(options) };
}
