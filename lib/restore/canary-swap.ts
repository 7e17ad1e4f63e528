import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { CanaryBusyError } from '../errors.ts';
import type { Connection } from '../pg/connection.ts';
import {
  commentOnDatabase,
  databaseExists,
  drillMark,
  dropDatabase,
  replacedCanaryName,
  TOOL_APPLICATION_NAME,
  withClient,
} from '../pg/databases.ts';

export interface CanarySwapOptions {
  connection: Connection;
  canary: string;
  /** The verified restore (drill_<run id>): it becomes the canary. */
  scratch: string;
  runId: string;
  /** The comment the restored canary is to carry: the dump's own COMMENT ON DATABASE, or none. */
  comment: string | null;
  /** How long sessions that are not the drill's may take to leave the canary before the swap gives up. */
  waitMs: number;
  signal?: AbortSignal;
  /** Monotonic milliseconds. */
  clock: () => number;
}

export interface CanarySwapOutcome {
  /** The canary the swap replaced, renamed and then dropped; null when there was none. */
  replaced: string | null;
  /** The drill's own sessions on the two databases that had to be ended first. */
  endedOwnSessions: number;
}

const OBJECT_IN_USE = '55006';

/** Sessions on `databases` that are not this drill's, described for the message. */
async function othersOn(client: pg.ClientBase, databases: string[]): Promise<string[]> {
  const { rows } = await client.query<{ s: string }>(
    `SELECT format('pid %s on %s, user %s, application %L%s', pid, datname, usename, application_name,
                   coalesce(' from ' || host(client_addr), '')) AS s
       FROM pg_catalog.pg_stat_activity
      WHERE datname = ANY($1) AND pid <> pg_backend_pid() AND application_name <> $2
        AND backend_type = 'client backend'
      ORDER BY pid`,
    [databases, TOOL_APPLICATION_NAME],
  );
  return rows.map((r) => r.s);
}

/** Ends the drill's own sessions on `databases` (a tool's session left over, a check's client). */
async function endOwnOn(client: pg.ClientBase, databases: string[]): Promise<number> {
  const { rows } = await client.query<{ ended: number }>(
    `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS ended
       FROM pg_catalog.pg_stat_activity
      WHERE datname = ANY($1) AND pid <> pg_backend_pid() AND application_name = $2`,
    [databases, TOOL_APPLICATION_NAME],
  );
  return rows[0]?.ended ?? 0;
}

/**
 * Puts the verified restore in the canary's place, in one transaction: the canary is renamed to
 * drill_<run id>_old (marked as the canary this run replaced), the restore takes the canary's name, and
 * only after the commit is the old one dropped. No reader ever finds the canary missing or half restored:
 * it is the old one until the commit and the verified one after. Renaming needs both databases idle:
 * the drill ends only its own sessions there; when someone else is connected it waits up to `waitMs`
 * for them to leave, then fails with CanaryBusyError, and the canary is as it was.
 */
export async function swapCanary(options: CanarySwapOptions): Promise<CanarySwapOutcome> {
  const { canary, scratch, runId } = options;
  const old = replacedCanaryName(runId);
  const databases = [canary, scratch];
  const deadline = options.clock() + options.waitMs;
  return withClient(options.connection, options.connection.database, async (client) => {
    let endedOwnSessions = 0;
    let replaced: string | null = null;
    for (;;) {
      options.signal?.throwIfAborted();
      endedOwnSessions += await endOwnOn(client, databases);
      const others = await othersOn(client, databases);
      let busy: unknown;
      if (others.length === 0) {
        try {
          await client.query('BEGIN');
          replaced = (await databaseExists(client, canary)) ? old : null;
          if (replaced) {
            await client.query(
              `ALTER DATABASE ${pg.escapeIdentifier(canary)} RENAME TO ${pg.escapeIdentifier(old)}`,
            );
            await commentOnDatabase(
              client,
              old,
              drillMark(runId, 'replaced', canary, 'dropped right after the swap'),
            );
          }
          await client.query(
            `ALTER DATABASE ${pg.escapeIdentifier(scratch)} RENAME TO ${pg.escapeIdentifier(canary)}`,
          );
          await commentOnDatabase(client, canary, options.comment);
          await client.query('COMMIT');
          break;
        } catch (error) {
          await client.query('ROLLBACK').catch(() => {});
          // Someone connected between the look and the rename: the same as being there before.
          if ((error as { code?: string }).code !== OBJECT_IN_USE) throw error;
          busy = error;
        }
      }
      if (options.clock() >= deadline) {
        const still = others.length ? others : await othersOn(client, databases);
        throw new CanaryBusyError(
          still,
          `Cannot swap the verified restore in: ${still.length || 'some'} session(s) that are not the drill's are connected (${still.join('; ') || 'they came and went'}) and did not leave within ${options.waitMs / 1000} s; renaming a database needs it idle. ${canary} is left as it was; ${scratch} is dropped. Run the drill when nothing else is connected to ${canary}, or use --mode canary-copy.`,
          busy ? { cause: busy } : undefined,
        );
      }
      await sleep(100, undefined, { signal: options.signal });
    }
    if (replaced) await dropDatabase(client, replaced, { canary, createdThisRun: [scratch, replaced] });
    return { replaced, endedOwnSessions };
  });
}
