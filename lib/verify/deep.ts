import { Readable } from 'node:stream';
import { copyBlocksSink } from '../dump/copy-blocks.ts';
import type { TableDigest } from '../dump/copy-digest.ts';
import { digestHex } from '../dump/row-digest.ts';
import { parsePsqlStderr } from '../restore/psql-errors.ts';
import type { Executor } from '../targets/target.ts';
import { collector } from '../targets/tool-output.ts';
import { fail, pass, type Verdict } from './verdict.ts';

/** What to read back: a table's COPY as the dump wrote it, or a database's large objects. */
export type TableRef = Pick<TableDigest, 'kind' | 'table' | 'columns'>;

/** One table (or a database's large objects) read back from a server with the dump's settings. */
export interface RestoredDigest {
  rows: number | null;
  digest: string | null;
  /** Why it could not be read (missing table, missing column…); rows and digest are null then. */
  error?: string;
  seconds: number;
}

/** One table compared: what the dump holds against what the restored server returns. */
export interface TableCheck {
  kind: TableDigest['kind'];
  /** The database as the dump names it. */
  database: string;
  /** The database read on the server (another name when restored under one). */
  restoredDatabase: string;
  table: string;
  columns: string;
  dumpRows: number;
  restoredRows: number | null;
  dumpDigest: string;
  restoredDigest: string | null;
  digestMatch: boolean;
  seconds: number;
  error?: string;
}

/**
 * The session pg_dump reads data with (pg_dump's setup_connection, seen in a 15.18 server log):
 * DateStyle ISO, IntervalStyle postgres, extra_float_digits 3, client_encoding the dump's. pg_dump sets
 * no TimeZone: timestamptz values are written in the source server's zone, which the dump does not
 * record, hence the option.
 */
export interface ReadSettings {
  /** The dump's `SET client_encoding` (TableDigest.encoding). */
  encoding: string;
  /** The source server's TimeZone when the backup was taken. */
  timeZone: string;
}

/** Production images (postgres:*, most managed services) run in UTC. */
export const DEFAULT_TIME_ZONE = 'UTC';

export interface DeepVerifyOptions {
  /** Runs psql next to the restored server (host or container alike). */
  executor: Executor;
  /** What the dump holds: copyDigest(...).digests. */
  expected: TableDigest[];
  /** The server database holding a dump database; default the same name (a split restore renames). */
  databaseFor?: (dumpDatabase: string) => string;
  /** See ReadSettings.timeZone; default UTC. */
  timeZone?: string;
  /** Monotonic milliseconds (performance.now). */
  clock: () => number;
  signal?: AbortSignal;
}

export interface DeepVerification {
  verdict: Verdict;
  tables: TableCheck[];
}

/** psql's view of a database name: a connection string, so no name (`a=b`, spaces, quotes) is misread. */
function dbConninfo(database: string): string {
  return `dbname='${database.replace(/['\\]/g, '\\$&')}'`;
}

function sqlLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

const SESSION = (settings: ReadSettings) =>
  [
    'SET standard_conforming_strings = on;',
    'SET DateStyle = ISO;',
    'SET IntervalStyle = postgres;',
    'SET extra_float_digits = 3;',
    `SET TimeZone = ${sqlLiteral(settings.timeZone)};`,
    `SET client_encoding = ${sqlLiteral(settings.encoding)};`,
  ].join('\n');

/** `r`, `p` (partitioned), … per table, `-` where the table is missing; large objects need none. */
async function relkinds(executor: Executor, database: string, tables: TableRef[], signal?: AbortSignal) {
  const names = tables.filter((t) => t.kind === 'table').map((t) => t.table);
  const kinds = new Map<string, string>();
  if (names.length === 0) return kinds;
  const sql = `SELECT coalesce((SELECT relkind::text FROM pg_catalog.pg_class WHERE oid = pg_catalog.to_regclass(n)), '-')
    FROM unnest(ARRAY[${names.map(sqlLiteral).join(', ')}]::text[]) WITH ORDINALITY AS u(n, i) ORDER BY i`;
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
      'SET standard_conforming_strings = on',
      '-c',
      sql,
    ],
    { stdout: out.sink, signal },
  );
  if (result.exitCode !== 0)
    throw new Error(parsePsqlStderr(result.stderr).errors[0]?.message ?? result.stderr.trim());
  out
    .text()
    .split('\n')
    .forEach((kind, i) => {
      const name = names[i];
      if (name !== undefined) kinds.set(name, kind);
    });
  return kinds;
}

/** The statement that reads a table back exactly as pg_dump's COPY wrote it. */
function readStatement(ref: TableRef, relkind: string | undefined): string {
  if (ref.kind === 'large-objects') {
    return 'COPY (SELECT oid, pg_catalog.md5(pg_catalog.lo_get(oid)) FROM pg_catalog.pg_largeobject_metadata) TO STDOUT;';
  }
  // A partitioned table cannot be COPied TO directly; its rows are its partitions' (a dump made with
  // --load-via-partition-root writes them under the root). Anything else: COPY reads the table ONLY,
  // as pg_dump did, without inheritance children.
  if (relkind === 'p') return `COPY (SELECT ${ref.columns} FROM ${ref.table}) TO STDOUT;`;
  return `COPY ${ref.table}${ref.columns === '' ? '' : ` (${ref.columns})`} TO STDOUT;`;
}

/**
 * Reads tables of one database back with `COPY … TO STDOUT` through one psql, each block followed by
 * a `\.` line (which COPY text never writes for data), and digests each as the dump's was digested.
 */
export async function readDigests(
  executor: Executor,
  database: string,
  tables: TableRef[],
  settings: ReadSettings,
  clock: () => number,
  signal?: AbortSignal,
): Promise<RestoredDigest[]> {
  const results: RestoredDigest[] = tables.map(() => ({ rows: null, digest: null, seconds: 0 }));
  let kinds: Map<string, string>;
  try {
    kinds = await relkinds(executor, database, tables, signal);
  } catch (error) {
    return results.map((r) => ({
      ...r,
      error: `cannot read database ${database}: ${(error as Error).message}`,
    }));
  }
  const lines = SESSION(settings).split('\n');
  const statementLine: number[] = [];
  const read: number[] = [];
  tables.forEach((ref, i) => {
    const relkind = ref.kind === 'table' ? kinds.get(ref.table) : 'large objects';
    const result = results[i] as RestoredDigest;
    if (relkind === '-') {
      result.error = `table ${ref.table} does not exist`;
      return;
    }
    lines.push(readStatement(ref, relkind), "\\echo '\\\\.'");
    statementLine[i] = lines.length - 1;
    read.push(i);
  });
  let block = 0;
  let last = clock();
  const sink = copyBlocksSink((digest) => {
    const index = read[block++];
    const now = clock();
    if (index === undefined) return;
    results[index] = { rows: digest.rows, digest: digestHex(digest), seconds: (now - last) / 1000 };
    last = now;
  });
  const run = await executor.run(
    'psql',
    ['-X', '-q', '-w', '-v', 'ON_ERROR_STOP=0', '-d', dbConninfo(database), '-f', '-'],
    {
      stdin: Readable.from([Buffer.from(`${lines.join('\n')}\n`)]),
      stdout: sink,
      signal,
    },
  );
  const { errors } = parsePsqlStderr(run.stderr);
  for (const error of errors) {
    const index = error.line === undefined ? -1 : statementLine.indexOf(error.line);
    const result = results[index];
    if (result) Object.assign(result, { rows: null, digest: null, error: error.message });
  }
  if (run.exitCode !== 0) {
    const why = errors[0]?.message ?? `psql exited with ${run.exitCode ?? run.signal}`;
    for (const result of results) if (result.rows === null && !result.error) result.error = why;
  }
  return results;
}

/**
 * Deep verification: every table the dump holds (and every database's large objects) is read back
 * from the restored server and must have the same row count and the same content digest.
 */
export async function verifyDeep(options: DeepVerifyOptions): Promise<DeepVerification> {
  const databaseFor = options.databaseFor ?? ((name: string) => name);
  const timeZone = options.timeZone ?? DEFAULT_TIME_ZONE;
  const byDatabase = new Map<string, TableDigest[]>();
  for (const entry of options.expected)
    byDatabase.set(entry.database, [...(byDatabase.get(entry.database) ?? []), entry]);
  const tables: TableCheck[] = [];
  for (const [database, entries] of byDatabase) {
    const restoredDatabase = databaseFor(database);
    const encoding = entries[0]?.encoding ?? 'UTF8';
    const restored = await readDigests(
      options.executor,
      restoredDatabase,
      entries,
      { encoding, timeZone },
      options.clock,
      options.signal,
    );
    entries.forEach((entry, i) => {
      const got = restored[i] as RestoredDigest;
      tables.push({
        kind: entry.kind,
        database,
        restoredDatabase,
        table: entry.table,
        columns: entry.columns,
        dumpRows: entry.rows,
        restoredRows: got.rows,
        dumpDigest: entry.digest,
        restoredDigest: got.digest,
        digestMatch: got.digest === entry.digest && got.rows === entry.rows,
        seconds: got.seconds,
        ...(got.error ? { error: got.error } : {}),
      });
    });
  }
  return { verdict: judge(tables), tables };
}

function describe(check: TableCheck): string {
  const what = check.kind === 'large-objects' ? 'large objects' : check.table;
  const where =
    check.restoredDatabase === check.database
      ? check.database
      : `${check.database} (restored as ${check.restoredDatabase})`;
  if (check.error)
    return `${where} ${what}: dump ${check.dumpRows} row(s), restored unreadable: ${check.error}`;
  const restored = `restored ${check.restoredRows} row(s) digest ${check.restoredDigest}`;
  const dump = `dump ${check.dumpRows} row(s) digest ${check.dumpDigest}`;
  return `${where} ${what}: ${dump}, ${restored}`;
}

function judge(tables: TableCheck[]): Verdict {
  const bad = tables.filter((t) => !t.digestMatch);
  const rows = tables.reduce((sum, t) => sum + t.dumpRows, 0);
  const databases = new Set(tables.map((t) => t.database)).size;
  if (bad.length > 0) {
    return fail(
      `${bad.length} of ${tables.length} table(s) differ from the dump: ${bad.map(describe).join('; ')}`,
      { tables },
    );
  }
  return pass(
    `${tables.length} table(s) in ${databases} database(s) match the dump row for row (${rows} rows)`,
    { tables },
  );
}
