import type pg from 'pg';
import type { Connection } from '../pg/connection.ts';
import {
  type DrillMarkRole,
  dropDatabase,
  markedCanary,
  parseDrillMark,
  provenLeftover,
  withClient,
} from '../pg/databases.ts';

/** A database an earlier run created and left behind (it crashed, or was killed), proven by its comment. */
export interface DrillLeftover {
  database: string;
  runId: string;
  role: DrillMarkRole;
}

/** What the server holds of the canary, before this run writes anything. */
export interface CanaryCondition {
  /** present: it has tables (the snapshot reads them); empty: it exists without a single table. */
  state: 'present' | 'missing' | 'empty';
  /** The run whose drill mark the canary carries, if any: who left it in this state, where known. */
  markedBy?: string;
  /** Databases of earlier runs, proven the drill's by their comment: dropped when a canary drill passes. */
  leftovers: DrillLeftover[];
  /** `drill_…` databases whose comment does not prove them the drill's: never dropped, only named. */
  unproven: string[];
}

/** Databases called like the drill's (`drill_…`): proven leftovers of other runs, and the rest. */
async function drillNamed(
  client: pg.ClientBase,
  runId: string,
  canary: string,
): Promise<{ leftovers: DrillLeftover[]; unproven: string[] }> {
  const { rows } = await client.query<{ datname: string; comment: string | null }>(
    `SELECT datname, pg_catalog.shobj_description(oid, 'pg_database') AS comment
       FROM pg_catalog.pg_database WHERE datname LIKE 'drill\\_%' ORDER BY datname`,
  );
  const leftovers: DrillLeftover[] = [];
  const unproven: string[] = [];
  for (const row of rows) {
    const proof = provenLeftover(row.datname, row.comment);
    if (proof?.runId === runId) continue;
    // A drill of another canary on this server made it: that drill's to recognise, never ours to drop.
    if (proof && markedCanary(row.comment) !== canary) continue;
    if (proof) leftovers.push({ database: row.datname, ...proof });
    else unproven.push(row.datname);
  }
  return { leftovers, unproven };
}

/**
 * Looks at the canary and at what earlier runs may have left, read-only. A canary left empty by an
 * earlier drill (the old drop-then-restore flow, interrupted) or missing is recognised rather than
 * failing the snapshot: the restore is held to the canary's contract instead, and the swap replaces it.
 */
export async function inspectCanary(
  connection: Connection,
  canary: string,
  runId: string,
): Promise<CanaryCondition> {
  const seen = await withClient(connection, connection.database, async (client) => {
    const { rows } = await client.query<{ comment: string | null }>(
      `SELECT pg_catalog.shobj_description(oid, 'pg_database') AS comment FROM pg_catalog.pg_database WHERE datname = $1`,
      [canary],
    );
    return {
      exists: rows.length > 0,
      comment: rows[0]?.comment ?? null,
      ...(await drillNamed(client, runId, canary)),
    };
  });
  const markedBy = parseDrillMark(seen.comment)?.runId;
  const base = { leftovers: seen.leftovers, unproven: seen.unproven, ...(markedBy ? { markedBy } : {}) };
  if (!seen.exists) return { state: 'missing', ...base };
  const tables = await withClient(connection, canary, async (client) => {
    const { rows } = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'`,
    );
    return rows[0]?.n ?? 0;
  });
  return { state: tables === 0 ? 'empty' : 'present', ...base };
}

/** One sentence on the canary's condition and the leftovers, for the snapshot step's summary. */
export function describeCondition(canary: string, condition: CanaryCondition, replacedBy: string): string {
  const parts: string[] = [];
  if (condition.state === 'empty') {
    parts.push(
      `${canary} is empty (it exists without a single table): left broken by an earlier run${
        condition.markedBy
          ? ` (run ${condition.markedBy}, from its comment)`
          : ' (it carries no drill mark: an earlier version of the drill, or by hand)'
      }; nothing to snapshot, the restored rows are held to the canary's contract; ${replacedBy}`,
    );
  }
  if (condition.leftovers.length) {
    parts.push(
      `${condition.leftovers.length} leftover(s) of earlier runs that did not finish: ${condition.leftovers
        .map(
          (l) =>
            `${l.database} (run ${l.runId}, ${l.role === 'scratch' ? 'its scratch restore' : 'the canary it replaced'})`,
        )
        .join(', ')}; dropped when a --mode canary drill passes`,
    );
  }
  if (condition.unproven.length) {
    parts.push(
      `${condition.unproven.join(', ')} named like the drill's databases but without a drill mark that proves it: never dropped by the drill`,
    );
  }
  return parts.join('; ');
}

/** Drops the proven leftovers of earlier runs (the guard rereads each one's comment). */
export async function dropLeftovers(
  connection: Connection,
  canary: string,
  leftovers: readonly DrillLeftover[],
): Promise<string[]> {
  if (!leftovers.length) return [];
  return withClient(connection, connection.database, async (client) => {
    const dropped: string[] = [];
    for (const leftover of leftovers) {
      if (leftover.database === canary) continue;
      await dropDatabase(client, leftover.database, { canary, createdThisRun: [], leftovers: true });
      dropped.push(leftover.database);
    }
    return dropped;
  });
}
