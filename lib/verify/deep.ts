import type pg from 'pg';
import type { TableDigest } from '../dump/copy-digest.ts';
import type { Executor } from '../exec/executor.ts';
import { targetStoppedCheck } from '../restore/target-fault.ts';
import {
  DEFAULT_TIME_ZONE,
  type DirectReads,
  type ReadSession,
  type RestoredDigest,
  readDatabase,
} from './deep-read.ts';
import type { ForeignKeyStreams } from './fk-streams.ts';
import { limiter, sessionPool } from './session-pool.ts';
import { timeZoneHint } from './time-zone-hint.ts';
import { fail, pass, type Verdict } from './verdict.ts';

export {
  DEFAULT_TIME_ZONE,
  type ReadSettings,
  type RestoredDigest,
  readDatabase,
  readDigests,
  type TableRef,
} from './deep-read.ts';

/** One table compared: what the dump holds against what the restored server returns. */
export interface TableCheck {
  kind: TableDigest['kind'];
  /** The database as the dump names it. */
  database: string;
  /** The database read on the server (another name when restored under one). */
  restoredDatabase: string;
  table: string;
  columns: string;
  /** COPY, INSERT or none (created without data, so it must be empty). See TableDigest.data. */
  data: 'copy' | 'insert' | 'none';
  dumpRows: number;
  restoredRows: number | null;
  dumpDigest: string;
  restoredDigest: string | null;
  digestMatch: boolean;
  /** Compared and equal (digestMatch), never true for a table whose dump rows could not be digested. */
  verified: boolean;
  /** Why it was not compared: its dump data could not be digested (TableDigest.unverified). */
  unverified?: string;
  /** A partition without data of its own whose rows the dump loads through this root table. */
  coveredBy?: string;
  seconds: number;
  error?: string;
}

/** The session one database was read back in (see ReadSession). */
export interface DatabaseSession extends ReadSession {
  database: string;
}

export interface DeepVerifyOptions {
  /** Runs psql next to the restored server (host or container alike). */
  executor: Executor;
  /**
   * A client of the drill's own on a database of the restored server: the tables are then read back
   * in such sessions (deep-read.ts DirectReads), psql only probes. Without it psql reads them too.
   */
  connect?: (database: string) => Promise<pg.Client>;
  /** What the dump holds: copyDigest(...).digests. */
  expected: TableDigest[];
  /** The server database holding a dump database; default the same name (a split restore renames). */
  databaseFor?: (dumpDatabase: string) => string;
  /** The source server's TimeZone, for databases and roles that set none; default UTC. */
  timeZone?: string;
  /** Tables whose dump data could not be digested do not fail the check (--allow-unverified). */
  allowUnverified?: boolean;
  /** Sessions reading back at once (psql or the drill's own), over all databases; default DEFAULT_READ_SESSIONS. */
  parallel?: number;
  /** Monotonic milliseconds (performance.now). */
  clock: () => number;
  signal?: AbortSignal;
  /** Foreign keys to count from the rows read back, for the constraint check (deep-checks.ts). */
  foreignKeys?: ForeignKeyStreams;
}

/**
 * Sessions reading back at once by default: measured on 2 cores at 150 MB (docs/benchmarks.md), where
 * the server's COPY and the drill's reading and digest share the cores (2 and 4 measured no better at
 * 1 GB in the drill's own sessions, 2026-12-02).
 */
export const DEFAULT_READ_SESSIONS = 3;

export interface DeepVerification {
  verdict: Verdict;
  tables: TableCheck[];
  sessions: DatabaseSession[];
}

/**
 * Deep verification: every table the dump creates or fills (and every database's large objects) is read
 * back from the restored server in pg_dump's own session and must have the same row count and content
 * digest; a table created without data must be empty. Tables whose dump data could not be digested
 * are listed as not verified.
 */
export async function verifyDeep(options: DeepVerifyOptions): Promise<DeepVerification> {
  const byDatabase = new Map<string, TableDigest[]>();
  for (const entry of options.expected)
    byDatabase.set(entry.database, [...(byDatabase.get(entry.database) ?? []), entry]);
  const parallel = Math.max(1, options.parallel ?? DEFAULT_READ_SESSIONS);
  // Every database may read on all `parallel` sessions (a large table in block ranges), but the pool
  // bounds the psql sessions of all databases together to `parallel`.
  const limit = limiter(parallel);
  const executor = sessionPool(options.executor, parallel, limit);
  const direct = options.connect ? { connect: options.connect, limit } : undefined;
  const readers = parallel;
  const databases = [...byDatabase];
  const done: { tables: TableCheck[]; session?: DatabaseSession }[] = [];
  let next = 0;
  async function worker(): Promise<void> {
    for (let at = next++; at < databases.length; at = next++) {
      const [database, entries] = databases[at] as [string, TableDigest[]];
      done[at] = await checkDatabase({ ...options, executor }, readers, database, entries, direct);
    }
  }
  try {
    await Promise.all(Array.from({ length: Math.min(parallel, databases.length) }, worker));
  } finally {
    options.foreignKeys?.end();
  }
  const tables = done.flatMap((d) => d.tables);
  const sessions = done.flatMap((d) => (d.session ? [d.session] : []));
  const verdict = judge(tables, options.allowUnverified === true);
  const differing = tables.filter((t) => t.unverified === undefined && !t.digestMatch && !t.error);
  if (!verdict.ok && differing.length > 0 && options.connect) {
    const hint = await timeZoneHint(differing, sessions, options.connect).catch(() => undefined);
    if (hint) verdict.summary = `${verdict.summary}. ${hint}`;
  }
  return { verdict, tables, sessions };
}

/** One database read back and compared, table by table. */
async function checkDatabase(
  options: DeepVerifyOptions,
  readers: number,
  database: string,
  entries: TableDigest[],
  direct: DirectReads | undefined,
): Promise<{ tables: TableCheck[]; session?: DatabaseSession }> {
  const databaseFor = options.databaseFor ?? ((name: string) => name);
  const timeZone = options.timeZone ?? DEFAULT_TIME_ZONE;
  const restoredDatabase = databaseFor(database);
  const encoding = entries[0]?.encoding ?? 'UTF8';
  const readable = entries.filter((e) => e.unverified === undefined);
  const restored = await readDatabase(
    options.executor,
    restoredDatabase,
    readable,
    { encoding, timeZone },
    options.clock,
    options.signal,
    readers,
    options.foreignKeys?.sink(restoredDatabase),
    direct,
  );
  const checks = entries.map((entry): TableCheck => {
    const index = readable.indexOf(entry);
    const got: RestoredDigest =
      index < 0 ? { rows: null, digest: null, seconds: 0 } : (restored.tables[index] as RestoredDigest);
    const digestMatch = got.digest === entry.digest && got.rows === entry.rows;
    return {
      kind: entry.kind,
      database,
      restoredDatabase,
      table: entry.table,
      columns: entry.columns,
      data: entry.data ?? 'copy',
      dumpRows: entry.rows,
      restoredRows: got.rows,
      dumpDigest: entry.digest,
      restoredDigest: got.digest,
      digestMatch,
      verified: digestMatch && entry.unverified === undefined,
      seconds: got.seconds,
      ...(entry.unverified !== undefined ? { unverified: entry.unverified } : {}),
      ...(got.coveredBy !== undefined ? { coveredBy: got.coveredBy } : {}),
      ...(got.error ? { error: got.error } : {}),
    };
  });
  return { tables: checks, ...(restored.session ? { session: { database, ...restored.session } } : {}) };
}

function where(check: TableCheck): string {
  return check.restoredDatabase === check.database
    ? check.database
    : `${check.database} (restored as ${check.restoredDatabase})`;
}

function describe(check: TableCheck): string {
  const what = check.kind === 'large-objects' ? 'large objects' : check.table;
  const dump =
    check.data === 'none'
      ? 'the dump creates it without data (0 rows)'
      : `dump ${check.dumpRows} row(s) digest ${check.dumpDigest}`;
  if (check.error) return `${where(check)} ${what}: ${dump}, restored unreadable: ${check.error}`;
  return `${where(check)} ${what}: ${dump}, restored ${check.restoredRows} row(s) digest ${check.restoredDigest}`;
}

function judge(tables: TableCheck[], allowUnverified: boolean): Verdict {
  const facts = { tables };
  const all = tables.filter((t) => t.kind === 'table');
  const objects = tables.filter((t) => t.kind === 'large-objects');
  const verified = all.filter((t) => t.verified);
  const unverified = all.filter((t) => t.unverified !== undefined);
  const bad = tables.filter((t) => t.unverified === undefined && !t.digestMatch);
  const counted = `${verified.length} of ${all.length} table(s) verified`;
  const notVerified = unverified.map((t) => `${where(t)} ${t.table} (${t.unverified})`).join('; ');
  if (bad.length > 0) {
    // Every difference a read-back the target could not serve (it went away): the target's, not the dump's.
    const stopped = targetStoppedCheck(
      'Verification stopped by the target, not by the backup',
      bad.map((t) => (t.error ? `${where(t)} ${t.table}: ${t.error}` : '')),
    );
    if (stopped) throw stopped;
    return fail(
      `${counted}; ${bad.length} differ from the dump: ${bad.map(describe).join('; ')}${unverified.length ? `; not verified: ${notVerified}` : ''}`,
      facts,
    );
  }
  if (all.length === 0) return fail('nothing to verify: the dump creates no table', facts);
  if (unverified.length > 0 && !allowUnverified) {
    return fail(
      `${counted}; not verified, their dump data could not be digested: ${notVerified} (--allow-unverified accepts this)`,
      facts,
    );
  }
  if (verified.length === 0) return fail(`${counted}: nothing was compared`, facts);
  const rows = verified.reduce((sum, t) => sum + t.dumpRows, 0);
  // Empty tables that came back empty prove the schema, not that the data restores: a backup job
  // turned schema-only (pg_dumpall -s, pg_dump --exclude-table-data) would pass every night.
  if (rows === 0 && objects.length === 0) {
    return fail(
      `${counted}, and 0 rows compared: the dump holds no row in any of its ${all.length} table(s) (a schema-only dump: pg_dumpall -s, pg_dump --schema-only or --exclude-table-data), so nothing shows that its data restores; take the backup with its data`,
      facts,
    );
  }
  const databases = new Set(verified.map((t) => t.database)).size;
  const empty = verified.filter((t) => t.data === 'none' && t.coveredBy === undefined).length;
  const covered = verified.filter((t) => t.coveredBy !== undefined).length;
  const extras = [
    empty ? `${empty} created without data and empty` : '',
    covered ? `${covered} partition(s) loaded through their root` : '',
    objects.length ? `large objects of ${objects.length} database(s) match` : '',
    unverified.length ? `not verified (allowed by --allow-unverified): ${notVerified}` : '',
  ].filter(Boolean);
  return pass(
    `${counted} in ${databases} database(s), row for row (${rows} rows)${extras.length ? `; ${extras.join('; ')}` : ''}`,
    facts,
  );
}
