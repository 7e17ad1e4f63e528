/**
 * The operator's own checks (`assertions:` in the expectations file): one SQL query each, run against
 * the restored server in a read-only transaction with a statement timeout and search_path '', its
 * result held to the assertion's `value`, `rows` or `min`/`max`.
 */
import type pg from 'pg';
import { fail, pass, type Verdict } from '../verify/verdict.ts';
import type { Assertion } from './expectations.ts';

export interface AssertionContext {
  /** statement_timeout when the assertion names none. */
  timeoutSeconds: number;
  /** When the backup was taken (from its name): the SQL reads it as current_setting('drill.backup_taken_at'). */
  backupTakenAt: Date | undefined;
  /** current_setting('drill.run_id'). */
  runId: string;
}

/** Every value as the text PostgreSQL sends (what psql -At prints): `t`, `42`, `2026-12-01 03:00:00+00`. */
const RAW_TEXT = { getTypeParser: () => (value: string) => value } as unknown as pg.CustomTypesConfig;

/** Runs one assertion on `client` (connected to its database) and judges its result. */
export async function runAssertion(
  client: pg.ClientBase,
  assertion: Assertion,
  context: AssertionContext,
): Promise<Verdict> {
  const timeoutSeconds = assertion.timeoutSeconds ?? context.timeoutSeconds;
  // Read-only twice over: the session default (should the SQL end the transaction) and the transaction.
  await client.query('SET default_transaction_read_only = on');
  await client.query('BEGIN READ ONLY');
  let result: pg.QueryArrayResult<(string | null)[]>;
  try {
    await client.query(`SET LOCAL statement_timeout = ${Math.max(1, Math.round(timeoutSeconds * 1000))}`);
    await client.query("SET LOCAL search_path = ''");
    await client.query(
      "SELECT pg_catalog.set_config('drill.backup_taken_at', $1, true), pg_catalog.set_config('drill.run_id', $2, true)",
      [context.backupTakenAt?.toISOString() ?? '', context.runId],
    );
    // The extended protocol takes one statement: no `…; COMMIT; DELETE …` can leave the transaction.
    result = await client.query({
      text: assertion.sql,
      rowMode: 'array',
      types: RAW_TEXT,
      queryMode: 'extended',
    } as pg.QueryArrayConfig);
  } catch (error) {
    const e = error as Error & { code?: string };
    return fail(
      `"${assertion.name}" could not run in ${assertion.database}: ${e.code === '57014' ? `cancelled after its ${timeoutSeconds} s statement timeout` : e.message}`,
      { ...describe(assertion, timeoutSeconds), error: e.message, sqlstate: e.code },
    );
  } finally {
    await client.query('ROLLBACK').catch(() => {});
  }
  return judge(assertion, result.rows, timeoutSeconds);
}

function describe(assertion: Assertion, timeoutSeconds: number): Record<string, unknown> {
  const expected =
    assertion.value !== undefined
      ? { value: assertion.value }
      : assertion.rows !== undefined
        ? { rows: assertion.rows }
        : { min: assertion.min, max: assertion.max };
  return { database: assertion.database, sql: assertion.sql, expected, timeoutSeconds };
}

function judge(assertion: Assertion, rows: (string | null)[][], timeoutSeconds: number): Verdict {
  const facts = { ...describe(assertion, timeoutSeconds), rowsReturned: rows.length };
  const where = `in ${assertion.database}`;
  if (assertion.rows !== undefined) {
    return rows.length === assertion.rows
      ? pass(`returned ${rows.length} row(s) ${where}, as expected`, facts)
      : fail(`returned ${rows.length} row(s) ${where}, expected ${assertion.rows}`, facts);
  }
  const first = rows[0]?.[0];
  const found = { ...facts, found: first ?? null };
  if (rows.length === 0) return fail(`returned no row ${where}: nothing to compare`, found);
  if (assertion.value !== undefined) {
    return first === assertion.value
      ? pass(`returned ${show(first)} ${where}, as expected`, found)
      : fail(`returned ${show(first)} ${where}, expected ${show(assertion.value)}`, found);
  }
  const number = first === null || first === undefined ? Number.NaN : Number(first);
  if (Number.isNaN(number))
    return fail(`returned ${show(first)} ${where}, not a number to hold to min/max`, found);
  const bounds = [
    assertion.min === undefined ? '' : `at least ${assertion.min}`,
    assertion.max === undefined ? '' : `at most ${assertion.max}`,
  ]
    .filter(Boolean)
    .join(' and ');
  const ok =
    (assertion.min === undefined || number >= assertion.min) &&
    (assertion.max === undefined || number <= assertion.max);
  return ok
    ? pass(`returned ${first} ${where}: ${bounds}, as expected`, found)
    : fail(`returned ${first} ${where}, expected ${bounds}`, found);
}

function show(value: string | null | undefined): string {
  return value === null || value === undefined ? 'NULL' : JSON.stringify(value);
}
