import { Readable } from 'node:stream';
import { copyBlocksSink } from '../dump/copy-blocks.ts';
import type { TableDigest } from '../dump/copy-digest.ts';
import { digestHex, emptyDigest } from '../dump/row-digest.ts';
import type { Executor } from '../exec/executor.ts';
import { collector } from '../exec/tool-output.ts';
import { parsePsqlStderr } from '../restore/psql-errors.ts';

/** What to read back: a table's COPY as the dump wrote it, or a database's large objects. */
export type TableRef = Pick<TableDigest, 'kind' | 'table' | 'columns' | 'data'>;

/** One table (or a database's large objects) read back from a server with the dump's settings. */
export interface RestoredDigest {
  rows: number | null;
  digest: string | null;
  /** Why it could not be read (missing table, missing column…); rows and digest are null then. */
  error?: string;
  /**
   * A partition the dump creates without data of its own (--load-via-partition-root): its rows came in
   * through this root table, whose digest covers them. It was not read on its own.
   */
  coveredBy?: string;
  seconds: number;
}

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

export interface DatabaseReadback {
  session?: ReadSession;
  tables: RestoredDigest[];
}

/** Production images (postgres:*, most managed services) run in UTC. */
export const DEFAULT_TIME_ZONE = 'UTC';

/** Settings that come from pg_db_role_setting: the restored database's (or role's) own. */
const OWN_SETTING_SOURCES = new Set(['database', 'user', 'database user']);

/** psql's view of a database name: a connection string, so no name (`a=b`, spaces, quotes) is misread. */
function dbConninfo(database: string): string {
  return `dbname='${database.replace(/['\\]/g, '\\$&')}'`;
}

function sqlLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/** pg_dump's own `set_config('search_path', '', false)`, its output swallowed by \gset. */
const EMPTY_SEARCH_PATH =
  "SELECT pg_catalog.set_config('search_path', '', false) AS drill_search_path \\gset";

/**
 * The session pg_dump reads data in, as psql script lines: every read-back of rows (deep verification,
 * the canary's rows, `record`) starts with them, so all compare alike. `timeZone` undefined: the
 * database's (or role's) own TimeZone stands.
 */
export function dumpSessionLines(options: {
  encoding: string;
  timeZone: string | undefined;
  quoteAllIdentifiers: boolean;
}): string[] {
  return [
    'SET standard_conforming_strings = on;',
    EMPTY_SEARCH_PATH,
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

interface Probe {
  timeZone: string;
  timeZoneSource: string;
  /** Per table name: relkind (`-` missing), how its name is quoted, its oid, its partition root's oid. */
  relations: Map<string, Relation>;
}

interface Relation {
  relkind: string;
  quoting: string;
  oid: string;
  root: string;
  /** Its columns but generated ones, quoted (what an INSERT without a column list gives values for). */
  columns: string;
  /** An extension's configuration table: the condition pg_dump dumped its rows with (`WHERE …`). */
  condition: string;
}

/**
 * One look at the database before reading: where its TimeZone comes from, and per table its relkind,
 * whether the dump wrote its name quoted as --quote-all-identifiers does, and its partition root.
 */
async function probe(executor: Executor, database: string, tables: TableRef[], signal?: AbortSignal) {
  const names = tables.filter((t) => t.kind === 'table').map((t) => t.table);
  const relations: Probe['relations'] = new Map();
  const list = names.length ? `ARRAY[${names.map(sqlLiteral).join(', ')}]::text[]` : 'ARRAY[]::text[]';
  const quoted = (part: string) => `'"' || pg_catalog.replace(${part}, '"', '""') || '"'`;
  const sql = `SELECT s.source || '|' || s.setting FROM pg_catalog.pg_settings s WHERE s.name = 'TimeZone'
    UNION ALL (SELECT coalesce(c.relkind::text, '-') || '|' ||
        CASE WHEN c.oid IS NULL THEN '-'
             WHEN u.n = pg_catalog.quote_ident(ns.nspname) || '.' || pg_catalog.quote_ident(c.relname) THEN 'plain'
             WHEN u.n = ${quoted('ns.nspname')} || '.' || ${quoted('c.relname')} THEN 'all'
             ELSE '?' END || '|' || coalesce(c.oid::text, '-') || '|' ||
        coalesce(pg_catalog.pg_partition_root(c.oid)::oid::text, '-') || '|' ||
        coalesce(pg_catalog.encode(pg_catalog.convert_to((SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum)
           FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''), 'UTF8'), 'hex'), '') || '|' ||
        coalesce((SELECT pg_catalog.encode(pg_catalog.convert_to(e.extcondition[pg_catalog.array_position(e.extconfig, c.oid)], 'UTF8'), 'hex')
           FROM pg_catalog.pg_extension e WHERE c.oid = ANY (e.extconfig)), '')
      FROM unnest(${list}) WITH ORDINALITY AS u(n, i)
      LEFT JOIN pg_catalog.pg_class c ON c.oid = pg_catalog.to_regclass(u.n)
      LEFT JOIN pg_catalog.pg_namespace ns ON ns.oid = c.relnamespace
     ORDER BY u.i)`;
  const out = collector();
  const result = await executor.run(
    'psql',
    [
      '-X',
      '-q',
      '-w',
      '-At',
      '-v',
      'ON_ERROR_STOP=1',
      '-d',
      dbConninfo(database),
      '-c',
      'SET standard_conforming_strings = on; SET quote_all_identifiers = off',
      '-c',
      "SELECT pg_catalog.set_config('search_path', '', false)",
      '-c',
      sql,
    ],
    { stdout: out.sink, signal },
  );
  if (result.exitCode !== 0)
    throw new Error(parsePsqlStderr(result.stderr).errors[0]?.message ?? result.stderr.trim());
  // The set_config row prints an empty line first.
  const [, zone = '', ...rows] = out.text().split('\n');
  const [timeZoneSource = '', timeZone = ''] = zone.split('|');
  rows.forEach((row, i) => {
    const name = names[i];
    const [relkind = '-', quoting = '-', oid = '-', root = '-', columns = '', condition = ''] =
      row.split('|');
    const text = (hex: string) => Buffer.from(hex, 'hex').toString('utf8');
    if (name !== undefined)
      relations.set(name, {
        relkind,
        quoting,
        oid,
        root,
        columns: text(columns),
        condition: text(condition),
      });
  });
  return { timeZone, timeZoneSource, relations } satisfies Probe;
}

/** The statement that reads a table back exactly as pg_dump's COPY (or INSERTs) wrote it. */
function readStatement(ref: TableRef, relation: Relation | undefined): string {
  if (ref.kind === 'large-objects') {
    return 'COPY (SELECT oid, pg_catalog.md5(pg_catalog.lo_get(oid)) FROM pg_catalog.pg_largeobject_metadata) TO STDOUT;';
  }
  // Created without data: the table itself (ONLY: not its children or partitions) holds no row.
  if (ref.data === 'none') return `COPY (SELECT FROM ONLY ${ref.table}) TO STDOUT;`;
  const columns = ref.columns === '' ? (relation?.columns ?? '') : ref.columns;
  // An extension's configuration table: pg_dump dumped only the rows its condition selects (the
  // extension's own script creates the others).
  if (relation?.condition)
    return `COPY (SELECT ${columns} FROM ONLY ${ref.table} ${relation.condition}) TO STDOUT;`;
  // A partitioned table cannot be COPied TO directly; its rows are its partitions' (a dump made with
  // --load-via-partition-root writes them under the root). Anything else: COPY reads the table ONLY,
  // as pg_dump did, without inheritance children.
  if (relation?.relkind === 'p') return `COPY (SELECT ${columns} FROM ${ref.table}) TO STDOUT;`;
  return `COPY ${ref.table}${ref.columns === '' ? '' : ` (${ref.columns})`} TO STDOUT;`;
}

/**
 * Reads tables of one database back with `COPY … TO STDOUT` through one psql, each block followed by
 * a `\.` line (which COPY text never writes for data), and digests each as the dump's was digested;
 * says in which session (TimeZone and its source, quoting) it read them.
 */
export async function readDatabase(
  executor: Executor,
  database: string,
  tables: TableRef[],
  settings: ReadSettings,
  clock: () => number,
  signal?: AbortSignal,
  /** psql sessions reading at once (issue #12: reading back should cost a fraction of the restore). */
  readers = 1,
): Promise<DatabaseReadback> {
  const results: RestoredDigest[] = tables.map(() => ({ rows: null, digest: null, seconds: 0 }));
  let found: Probe;
  try {
    found = await probe(executor, database, tables, signal);
  } catch (error) {
    return {
      tables: results.map((r) => ({
        ...r,
        error: `cannot read database ${database}: ${(error as Error).message}`,
      })),
    };
  }
  const own = OWN_SETTING_SOURCES.has(found.timeZoneSource);
  const session: ReadSession = {
    timeZone: own ? found.timeZone : settings.timeZone,
    timeZoneFrom: own ? (found.timeZoneSource as TimeZoneSource) : '--source-time-zone',
    quoteAllIdentifiers: [...found.relations.values()].some((r) => r.quoting === 'all'),
  };
  const lines = dumpSessionLines({
    encoding: settings.encoding,
    timeZone: own ? undefined : settings.timeZone,
    quoteAllIdentifiers: session.quoteAllIdentifiers,
  });
  const sessionLines = lines.length;
  // Tables whose rows the dump loaded through their partition root (by oid: the same table).
  const withData = new Map<string, string>();
  for (const ref of tables) {
    const relation = found.relations.get(ref.table);
    if (ref.kind === 'table' && ref.data !== 'none' && relation && relation.oid !== '-')
      withData.set(relation.oid, ref.table);
  }
  const read: number[] = [];
  const statements: string[] = [];
  tables.forEach((ref, i) => {
    const relation = ref.kind === 'table' ? found.relations.get(ref.table) : undefined;
    const result = results[i] as RestoredDigest;
    if (ref.kind === 'table' && (relation === undefined || relation.relkind === '-')) {
      result.error = `table ${ref.table} does not exist`;
      return;
    }
    const root = relation && relation.root !== relation.oid ? withData.get(relation.root) : undefined;
    if (ref.data === 'none' && root !== undefined) {
      Object.assign(result, { rows: 0, digest: digestHex(emptyDigest()), coveredBy: root });
      return;
    }
    statements[i] = readStatement(ref, relation);
    read.push(i);
  });

  /** One psql reads the tables `group` (indexes into `tables`) in pg_dump's session. */
  async function reader(group: number[]): Promise<string | undefined> {
    const script = [...lines];
    const statementLine: number[] = [];
    for (const i of group) {
      script.push(statements[i] as string, "\\echo '\\\\.'");
      statementLine[i] = script.length - 1;
    }
    let block = 0;
    let last = clock();
    const sink = copyBlocksSink((digest) => {
      const index = group[block++];
      const now = clock();
      if (index === undefined) return;
      results[index] = { rows: digest.rows, digest: digestHex(digest), seconds: (now - last) / 1000 };
      last = now;
    });
    const run = await executor.run(
      'psql',
      ['-X', '-q', '-w', '-v', 'ON_ERROR_STOP=0', '-d', dbConninfo(database), '-f', '-'],
      {
        stdin: Readable.from([Buffer.from(`${script.join('\n')}\n`)]),
        stdout: sink,
        signal,
      },
    );
    const { errors } = parsePsqlStderr(run.stderr);
    const sessionError = errors.find((e) => e.line !== undefined && e.line <= sessionLines);
    // Read in another session than pg_dump's: no digest of this database means anything.
    if (sessionError) return `cannot set up pg_dump's session in ${database}: ${sessionError.message}`;
    for (const error of errors) {
      const index = error.line === undefined ? -1 : statementLine.indexOf(error.line);
      const result = results[index];
      if (result) Object.assign(result, { rows: null, digest: null, error: error.message });
    }
    if (run.exitCode !== 0) {
      const why = errors[0]?.message ?? `psql exited with ${run.exitCode ?? run.signal}`;
      for (const i of group) {
        const result = results[i] as RestoredDigest;
        if (result.rows === null && !result.error) result.error = why;
      }
    }
    return undefined;
  }

  const failed = (await Promise.all(balance(read, tables, readers).map(reader))).find(Boolean);
  if (failed)
    return { session, tables: results.map((r) => ({ ...r, rows: null, digest: null, error: failed })) };
  return { session, tables: results };
}

/**
 * Splits the tables to read into up to `readers` groups of about the same number of rows (the dump's
 * count where the ref is a TableDigest), each in dump order; empty groups are dropped.
 */
function balance(read: number[], tables: TableRef[], readers: number): number[][] {
  const weight = (i: number) => ((tables[i] as { rows?: number }).rows ?? 0) + 1;
  const groups = Array.from({ length: Math.max(1, Math.min(readers, read.length)) }, () => ({
    load: 0,
    members: [] as number[],
  }));
  for (const i of [...read].sort((a, b) => weight(b) - weight(a) || a - b)) {
    const lightest = groups.reduce((min, g) => (g.load < min.load ? g : min));
    lightest.members.push(i);
    lightest.load += weight(i);
  }
  return groups.map((g) => g.members.sort((a, b) => a - b)).filter((g) => g.length > 0);
}

/** readDatabase's digests alone (the canary checks' entry point). */
export async function readDigests(
  executor: Executor,
  database: string,
  tables: TableRef[],
  settings: ReadSettings,
  clock: () => number,
  signal?: AbortSignal,
): Promise<RestoredDigest[]> {
  return (await readDatabase(executor, database, tables, settings, clock, signal)).tables;
}
