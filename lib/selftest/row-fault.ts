/**
 * Deep verification against one changed row: one row of one restored table changed in a transaction
 * that only the check's own psql sessions see and that is rolled back, then that table read back and
 * compared with the dump by the real check. The change never commits; the real checks run afterwards
 * on the data as restored.
 */
import type { TableDigest } from '../dump/copy-digest.ts';
import type { Executor } from '../exec/executor.ts';
import { type DeepVerification, type DeepVerifyOptions, verifyDeep } from '../verify/deep.ts';
import { dbConninfo, sqlLiteral } from '../verify/read-session.ts';
import { connectWithRolledBackFault, type FaultLog, tryFault, withRolledBackFault } from './fault-session.ts';
import type { FaultOutcome } from './outcome.ts';

/**
 * Changes one column of one row of the first table of `tables` that lets one be changed, so that its
 * COPY text differs: set to NULL, or a number ±1, a string longer or shorter, a boolean negated, a date
 * a day later; each try in a subtransaction of its own, kept only if the row's text really changed.
 * Triggers and foreign-key actions are off for it (session_replication_role = replica, where allowed):
 * nothing but that row changes. Says what it changed in a notice; fails when nothing could change.
 */
export function changeOneRowSql(tables: readonly string[]): string {
  const names = tables.map(sqlLiteral).join(', ');
  return `DO $pg_restore_drill$
DECLARE
  rels regclass[] := ARRAY[${names}]::regclass[];
  rel regclass; victim tid; part oid; moved tid; before text; after text; col record; attempt text;
BEGIN
  BEGIN SET LOCAL session_replication_role = replica; EXCEPTION WHEN OTHERS THEN NULL; END;
  SET LOCAL search_path = '';
  FOR i IN 1 .. cardinality(rels) LOOP
    rel := rels[i];
    EXECUTE format('SELECT tableoid, ctid, t::text FROM %s t LIMIT 1', rel) INTO part, victim, before;
    CONTINUE WHEN victim IS NULL;
    FOR col IN SELECT a.attname, t.typcategory, a.attnotnull FROM pg_catalog.pg_attribute a
        JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
        WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
        ORDER BY a.attnum LOOP
      FOREACH attempt IN ARRAY ARRAY[
          CASE WHEN NOT col.attnotnull THEN 'NULL' END,
          CASE col.typcategory WHEN 'N' THEN '%1$I + 1' WHEN 'S' THEN '%1$I || ''~''' WHEN 'B' THEN 'NOT %1$I'
            WHEN 'D' THEN '%1$I + interval ''1 day''' END,
          CASE col.typcategory WHEN 'N' THEN '%1$I - 1' WHEN 'S' THEN 'left(%1$I, -1)' END] LOOP
        CONTINUE WHEN attempt IS NULL;
        BEGIN
          EXECUTE format('UPDATE %s SET %I = %s WHERE tableoid = $1 AND ctid = $2 AND %I IS NOT NULL RETURNING ctid',
            rel, col.attname, format(attempt, col.attname), col.attname) INTO moved USING part, victim;
          EXECUTE format('SELECT t::text FROM %s t WHERE tableoid = $1 AND ctid = $2', rel) INTO after USING part, moved;
          IF moved IS NULL OR after IS NOT DISTINCT FROM before THEN RAISE EXCEPTION 'unchanged'; END IF;
          RAISE NOTICE 'pg-restore-drill self-test: #% %.% set to %', i, rel, quote_ident(col.attname), format(attempt, col.attname);
          RETURN;
        EXCEPTION WHEN OTHERS THEN NULL;
        END;
      END LOOP;
    END LOOP;
  END LOOP;
  RAISE EXCEPTION 'pg-restore-drill self-test: no row of % could be changed', array_to_string(ARRAY[${names}], ', ');
END
$pg_restore_drill$;`;
}

export interface RowFaultRequest {
  executor: Executor;
  /** The real check's own sessions (DeepVerifyOptions.connect), when it reads in them: the fault goes there. */
  connect?: DeepVerifyOptions['connect'];
  /** What the dump holds (the restore's digests). */
  expected: readonly TableDigest[];
  /** The server database holding a dump database (a split restore renames the canary's). */
  databaseFor: (dumpDatabase: string) => string;
  timeZone: string;
  clock: () => number;
  signal?: AbortSignal;
  /** The check under test; default the real one. A test passes one that cannot fail. */
  verify?: (options: DeepVerifyOptions) => Promise<DeepVerification>;
}

/** Tables worth changing a row of, smallest first: compared rows, a database at a time. */
function candidates(expected: readonly TableDigest[]): Map<string, TableDigest[]> {
  const tables = expected
    .filter((t) => t.kind === 'table' && t.rows > 0 && t.unverified === undefined && t.data !== 'none')
    .sort((a, b) => a.rows - b.rows);
  const byDatabase = new Map<string, TableDigest[]>();
  for (const t of tables) byDatabase.set(t.database, [...(byDatabase.get(t.database) ?? []), t].slice(0, 8));
  return byDatabase;
}

/** The first table (of at most three databases) one row of which the fault can change. */
async function chooseRow(request: RowFaultRequest): Promise<{ table: TableDigest; change: string } | string> {
  const tried: string[] = [];
  for (const [database, tables] of [...candidates(request.expected)].slice(0, 3)) {
    const conninfo = dbConninfo(request.databaseFor(database));
    const log = await tryFault(
      request.executor,
      conninfo,
      changeOneRowSql(tables.map((t) => t.table)),
      request.signal,
    );
    const said = /^pg-restore-drill self-test: #(\d+) (.*)$/.exec(log.notices[0] ?? '');
    const table = said ? tables[Number(said[1]) - 1] : undefined;
    if (said?.[2] && table) return { table, change: said[2] };
    tried.push(`${database}: ${log.errors[0] ?? 'no change reported'}`);
  }
  return tried.length
    ? `no row could be changed (${tried.join('; ')})`
    : 'the dump holds no table with rows to change';
}

/** The real deep check, on one table with one row changed: it must find the table differing from the dump. */
export async function rowFault(request: RowFaultRequest): Promise<FaultOutcome> {
  const base = {
    fault: 'changed row',
    check: 'verify: every table matches the backup',
    isolation: "in a transaction of the check's own session, rolled back; no other session saw it",
  };
  const chosen = await chooseRow(request);
  if (typeof chosen === 'string') return { ...base, applied: 'none', result: 'inconclusive', said: chosen };
  const { table, change } = chosen;
  const log: FaultLog = { notices: [], errors: [] };
  const sql = changeOneRowSql([table.table]);
  const { verdict, tables } = await (request.verify ?? verifyDeep)({
    executor: withRolledBackFault(request.executor, sql, log),
    ...(request.connect ? { connect: connectWithRolledBackFault(request.connect, sql, log) } : {}),
    expected: [table],
    databaseFor: request.databaseFor,
    timeZone: request.timeZone,
    parallel: 1,
    clock: request.clock,
    ...(request.signal ? { signal: request.signal } : {}),
  });
  const restored = request.databaseFor(table.database);
  const where = restored === table.database ? restored : `${restored} (${table.database} restored there)`;
  const applied = `${where}: ${change} in one row (of ${table.rows})`;
  const check = tables[0];
  if (log.errors.length || check?.error || !log.notices.length)
    return {
      ...base,
      applied,
      result: 'inconclusive',
      said: `the fault or the read failed: ${log.errors[0] ?? check?.error ?? 'the change was not reported'}`,
    };
  return { ...base, applied, result: verdict.ok ? 'stayed green' : 'went red', said: verdict.summary };
}
