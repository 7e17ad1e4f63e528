import type pg from 'pg';
import { DrillError } from '../errors.ts';
import type { Connection } from './connection.ts';
import { connect } from './databases.ts';

/** The advisory lock every drill takes on a server it does not own: (classid, objid) = ('pgRD', 1). */
const LOCK_CLASS = 0x70675244;
const LOCK_OBJECT = 1;

/** Another drill holds the server. */
export class DrillLockedError extends DrillError {
  static override readonly code = 'DRILL_LOCKED';
  override readonly exitCode = 2;
}

interface Holder {
  pid: number;
  application_name: string;
  client_addr: string | null;
  backend_start: Date;
}

/**
 * Takes the drill's advisory lock on a session held open for the run, so two drills never restore into
 * the same server at once. Returns the release; a second drill gets DrillLockedError naming the holder.
 */
export async function takeDrillLock(connection: Connection, runId: string): Promise<() => Promise<void>> {
  const client: pg.Client = await connect(connection, connection.database, `pg-restore-drill ${runId}`);
  try {
    const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS ok', [
      LOCK_CLASS,
      LOCK_OBJECT,
    ]);
    if (!rows[0]?.ok) {
      const holder = await client.query<Holder>(
        `SELECT a.pid, a.application_name, host(a.client_addr) AS client_addr, a.backend_start
           FROM pg_locks l JOIN pg_stat_activity a USING (pid)
          WHERE l.locktype = 'advisory' AND l.classid = $1 AND l.objid = $2 AND l.granted`,
        [LOCK_CLASS, LOCK_OBJECT],
      );
      const h = holder.rows[0];
      const who = h
        ? `${h.application_name || 'an unnamed session'} (backend pid ${h.pid}${h.client_addr ? ` from ${h.client_addr}` : ''}, since ${h.backend_start.toISOString()})`
        : 'a session that has just let go';
      throw new DrillLockedError(
        `Another drill is running on this server: ${who} holds the drill lock. Wait for it to finish (or end that session) and run again.`,
      );
    }
  } catch (error) {
    await client.end().catch(() => {});
    throw error;
  }
  return async () => {
    await client.end().catch(() => {});
  };
}
