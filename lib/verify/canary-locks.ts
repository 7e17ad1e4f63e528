import type pg from 'pg';
import { RestoreTargetFaultError } from '../errors.ts';

/** How long the canary's snapshot waits for a lock another session holds on its tables. */
export const CANARY_LOCK_WAIT_MS = 10_000;

interface LockHolder {
  pid: number;
  mode: string;
  relation: string;
  usename: string | null;
  application_name: string | null;
  xact_start: Date | null;
  state: string | null;
}

/**
 * Proves the canary's tables readable before the snapshot reads them: an ACCESS SHARE lock on both,
 * taken and let go in a transaction of its own, waiting at most `waitMs`. A live canary another session
 * holds exclusively (a migration, a hung ALTER, a LOCK TABLE) would otherwise hold the snapshot until
 * its step's timeout, and the drill would say nothing of why. Throws a target fault (verdict `error`,
 * exit 2: the backup is not in question) naming who holds what and since when; never the holder's
 * statement, whose text is the operator's (it may hold data, or a secret).
 */
export async function probeCanaryLocks(
  client: pg.ClientBase,
  tables: readonly string[],
  waitMs = CANARY_LOCK_WAIT_MS,
): Promise<void> {
  // In a transaction of its own, or, where the caller has one open (`record` reads in BEGIN READ ONLY),
  // in a savepoint of it: the lock and the lock_timeout go with it, the caller's transaction stays.
  const nested = await client.query('SAVEPOINT pg_restore_drill_lock_probe').then(
    () => true,
    (error: { code?: unknown }) => {
      if (error.code !== '25P01') throw error;
      return false;
    },
  );
  if (!nested) await client.query('BEGIN');
  let locked = false;
  try {
    await client.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.round(waitMs))}`);
    await client.query(`LOCK TABLE ${tables.join(', ')} IN ACCESS SHARE MODE`);
  } catch (error) {
    if ((error as { code?: unknown }).code !== '55P03') throw error;
    locked = true;
  } finally {
    await client.query(nested ? 'ROLLBACK TO SAVEPOINT pg_restore_drill_lock_probe' : 'ROLLBACK');
    if (nested) await client.query('RELEASE SAVEPOINT pg_restore_drill_lock_probe');
  }
  if (!locked) return;
  const { rows } = await client.query<LockHolder>(
    `SELECT l.pid, l.mode, l.relation::regclass::text AS relation, a.usename, a.application_name,
            a.xact_start, a.state
       FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'relation' AND l.granted AND l.mode = 'AccessExclusiveLock'
        AND l.relation = ANY ($1::regclass[]) AND l.pid <> pg_backend_pid()
      ORDER BY l.pid`,
    [tables],
  );
  const who = rows.length
    ? rows
        .map(
          (r) =>
            `pid ${r.pid} (user ${r.usename ?? '?'}, application ${r.application_name || '(none)'}, ${r.state ?? '?'}, in a transaction since ${r.xact_start?.toISOString() ?? '?'}) holds ${r.mode} on ${r.relation}`,
        )
        .join('; ')
    : 'the session that held it has let go since';
  throw new RestoreTargetFaultError(
    `The canary's tables (${tables.join(', ')}) are locked by another session: waited ${(waitMs / 1000).toFixed(0)} s to read them and touched nothing. ${who}. End that session or let it finish (SELECT pg_terminate_backend(pid), or COMMIT/ROLLBACK it), then run the drill again.`,
    null,
    [],
  );
}
