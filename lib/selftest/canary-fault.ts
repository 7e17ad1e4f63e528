/**
 * The canary's users check against a canary missing a user: one of the expected users deleted in a
 * transaction that only the check's own psql session sees and that is rolled back, then the canary read
 * and judged by the real check. The delete never commits.
 */
import pg from 'pg';
import type { Executor } from '../exec/executor.ts';
import type { Connection } from '../pg/connection.ts';
import { withClient } from '../pg/databases.ts';
import { type CanaryBasis, type CanarySnapshot, checkUsers, snapshotCanary } from '../verify/canary.ts';
import type { CanaryContract, DiscoveredCanary } from '../verify/canary-contract.ts';
import { discoverCanary } from '../verify/canary-discovery.ts';
import type { ReadSettings } from '../verify/deep.ts';
import { sqlLiteral } from '../verify/read-session.ts';
import type { Verdict } from '../verify/verdict.ts';
import { type FaultLog, withRolledBackFault } from './fault-session.ts';
import type { FaultOutcome } from './outcome.ts';

/** Deletes the user `name` (triggers and foreign-key actions off where allowed: nothing else changes). */
export function deleteUserSql(found: DiscoveredCanary, name: string): string {
  const column = pg.escapeIdentifier(found.users.nameColumn);
  return `DO $pg_restore_drill$
DECLARE gone bigint;
BEGIN
  BEGIN SET LOCAL session_replication_role = replica; EXCEPTION WHEN OTHERS THEN NULL; END;
  DELETE FROM ${found.users.table} WHERE ${column} = ${sqlLiteral(name)};
  GET DIAGNOSTICS gone = ROW_COUNT;
  IF gone = 0 THEN RAISE EXCEPTION 'pg-restore-drill self-test: no user % to delete', ${sqlLiteral(name)}; END IF;
  RAISE NOTICE 'pg-restore-drill self-test: % row(s) of % deleted', gone, ${sqlLiteral(`${found.users.table} where ${found.users.nameColumn} = '${name}'`)};
END
$pg_restore_drill$;`;
}

export interface CanaryFaultRequest {
  executor: Executor;
  connection: Connection;
  /** The database the verify steps read (the canary, or its copy). */
  database: string;
  contract: CanaryContract;
  settings: ReadSettings;
  /** What the real check compares with (snapshot, expectations or the contract). */
  basis: CanaryBasis;
  signal?: AbortSignal;
  /** The check under test; default the real one. A test passes one that cannot fail. */
  check?: (current: CanarySnapshot, basis: CanaryBasis) => Verdict;
}

/** The real users check, on the canary with one user deleted: it must fail. */
export async function canaryFault(request: CanaryFaultRequest): Promise<FaultOutcome> {
  const check = request.check ?? checkUsers;
  const base = {
    fault: 'missing user',
    check: 'verify: users are exactly alice, bob and charlie',
    isolation: "in a transaction of the check's own psql session, rolled back; no other session saw it",
  };
  return withClient(request.connection, request.database, async (client) => {
    const found = await discoverCanary(client, request.contract);
    const name = found.users.expected[found.users.expected.length - 1];
    if (name === undefined)
      return { ...base, applied: 'none', result: 'inconclusive', said: 'the contract expects no user' };
    const applied = `${request.database}: ${found.users.table}: user ${name} (${found.users.nameColumn}) deleted`;
    const log: FaultLog = { notices: [], errors: [] };
    const executor = withRolledBackFault(request.executor, deleteUserSql(found, name), log);
    let current: CanarySnapshot;
    try {
      current = await snapshotCanary(client, { ...request, executor });
    } catch (error) {
      const why = log.errors[0] ?? (error as Error).message;
      return { ...base, applied, result: 'inconclusive', said: `the fault or the read failed: ${why}` };
    }
    if (!log.notices.length)
      return { ...base, applied, result: 'inconclusive', said: 'the delete was not reported' };
    const verdict = check(current, request.basis);
    return { ...base, applied, result: verdict.ok ? 'stayed green' : 'went red', said: verdict.summary };
  });
}
