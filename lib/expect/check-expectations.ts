/**
 * The drill step for an expectations file: every database and table it names must be in the restored
 * backup, with its recorded row count (or within its tolerance) and content digest. A backup job that
 * silently stopped dumping a database is the classic hidden loss: this is where it shows.
 */
import type { RestoreMode } from '../config.ts';
import type { Executor } from '../exec/executor.ts';
import type { Connection } from '../pg/connection.ts';
import { withClient } from '../pg/databases.ts';
import { describeRows, rowsWithin } from '../verify/canary.ts';
import { type RestoredDigest, readDigests } from '../verify/deep.ts';
import { columnList } from '../verify/table-rows.ts';
import { fail, pass, type Verdict } from '../verify/verdict.ts';
import type { Expectations, TableExpectation } from './expectations.ts';

export interface ExpectationsCheckOptions {
  expectations: Expectations;
  executor: Executor;
  connection: Connection;
  restoreMode: RestoreMode;
  /** The canary as the backup names it. */
  canary: string;
  /** The server database holding a backup database (the canary's copy in copy mode). */
  databaseFor: (database: string) => string;
  timeZone: string;
  clock: () => number;
  signal?: AbortSignal;
}

export interface TableExpectationCheck {
  database: string;
  table: string;
  expected: string;
  rows: number | null;
  digest: string | null;
  ok: boolean;
  problem?: string;
}

/** The restored server's databases and their encodings. */
async function restoredDatabases(options: ExpectationsCheckOptions): Promise<Map<string, string>> {
  return withClient(options.connection, options.connection.database, async (client) => {
    const { rows } = await client.query<{ datname: string; encoding: string }>(
      'SELECT datname, pg_catalog.pg_encoding_to_char(encoding) AS encoding FROM pg_catalog.pg_database',
    );
    return new Map(rows.map((r) => [r.datname, r.encoding]));
  });
}

/** One expected table against what was read back: ok, or the problem in the operator's words. */
function judgeTable(
  database: string,
  table: string,
  entry: TableExpectation,
  got: RestoredDigest | undefined,
): TableExpectationCheck {
  const expected = `${describeRows(entry)}${entry.digest ? ` digest ${entry.digest}` : ''}`;
  const check: TableExpectationCheck = {
    database,
    table,
    expected,
    rows: got?.rows ?? null,
    digest: got?.digest ?? null,
    ok: false,
  };
  if (!got || got.error || got.rows === null) {
    check.problem = `${database} ${table} is missing from the restored backup: ${got?.error ?? 'not read'}`;
  } else if (!rowsWithin(entry, got.rows)) {
    check.problem = `${database} ${table} holds ${got.rows} row(s), expected ${describeRows(entry)}`;
  } else if (entry.digest && entry.digest !== got.digest) {
    check.problem = `${database} ${table}: ${got.rows} row(s) digest ${got.digest}, expected digest ${entry.digest} (its contents changed)`;
  } else {
    check.ok = true;
  }
  return check;
}

/** Reads one database's expected tables back (in pg_dump's session) and judges each. */
async function checkDatabase(
  options: ExpectationsCheckOptions,
  database: string,
  encoding: string,
): Promise<TableExpectationCheck[]> {
  const tables = Object.entries(options.expectations.databases[database]?.tables ?? {});
  const digests = await readDigests(
    options.executor,
    options.databaseFor(database),
    // The recorded columns, where known: a partitioned root (--load-via-partition-root) needs them.
    tables.map(([table, entry]) => ({
      kind: 'table' as const,
      table,
      columns: entry.columns ? columnList(entry.columns) : '',
    })),
    { encoding, timeZone: options.timeZone },
    options.clock,
    options.signal,
  );
  return tables.map(([table, entry], i) => judgeTable(database, table, entry, digests[i]));
}

/** Reads every expected table back from the restored server and holds it to its expectation. */
export async function checkExpectations(options: ExpectationsCheckOptions): Promise<Verdict> {
  const { expectations } = options;
  const named = Object.keys(expectations.databases);
  // In canary modes only the canary's section was restored: the other databases are not on this server.
  const read = options.restoreMode === 'cluster' ? named : named.filter((d) => d === options.canary);
  const notRead = named.filter((d) => !read.includes(d));
  const present = await restoredDatabases(options);
  const problems: string[] = [];
  const checks: TableExpectationCheck[] = [];
  const missingDatabases: string[] = [];
  for (const database of read) {
    const encoding = present.get(options.databaseFor(database));
    if (encoding === undefined) {
      const count = Object.keys(expectations.databases[database]?.tables ?? {}).length;
      missingDatabases.push(database);
      problems.push(`database ${database} (with ${count} expected table(s)) is not in the restored backup`);
      continue;
    }
    for (const check of await checkDatabase(options, database, encoding)) {
      if (check.problem) problems.push(check.problem);
      checks.push(check);
    }
  }
  const skipped = notRead.length
    ? `; not read: ${notRead.join(', ')} (--mode ${options.restoreMode} restores only ${options.canary}'s section)`
    : '';
  const facts = { file: expectations.file, tables: checks, missingDatabases, notRead };
  return verdictOf({ file: expectations.file, named, read, problems, checks, skipped, facts });
}

/** The step's verdict: every problem, or nothing read, or only presence checked, else what held. */
function verdictOf(run: {
  file: string;
  named: string[];
  read: string[];
  problems: string[];
  checks: TableExpectationCheck[];
  skipped: string;
  facts: Record<string, unknown>;
}): Verdict {
  const { file, named, read, problems, checks, skipped, facts } = run;
  if (problems.length > 0)
    return fail(`${problems.length} expectation(s) of ${file} fail: ${problems.join('; ')}${skipped}`, facts);
  if (read.length === 0) {
    return fail(
      `nothing of ${file} could be checked: it names no database this drill restored (${named.join(', ') || 'none'})${skipped}`,
      facts,
    );
  }
  const byDigest = checks.filter((c) => c.ok && c.expected.includes('digest')).length;
  // A database the file names without tables is checked for its presence alone: say so, never count it
  // among the databases whose tables hold.
  const withTables = new Set(checks.map((c) => c.database));
  const presentOnly = read.filter((d) => !withTables.has(d));
  const presence = presentOnly.length
    ? `; ${presentOnly.length} database(s) with no table expected, present: ${presentOnly.join(', ')}`
    : '';
  if (checks.length === 0) {
    return fail(
      `${file} expects no table of the databases this drill restored, only their presence (${presentOnly.join(', ')}): 0 tables checked; record it again with its tables${skipped}`,
      facts,
    );
  }
  return pass(
    `${checks.length} table(s) in ${withTables.size} database(s) hold what ${file} expects (${byDigest} by content digest, ${checks.length - byDigest} by row count)${presence}${skipped}`,
    facts,
  );
}
