import { digestHex, emptyDigest } from '../dump/row-digest.ts';
import type { Executor } from '../exec/executor.ts';
import { planForeignKeys } from './fk-plan.ts';
import { keyCounting, type StreamSink } from './fk-streams.ts';
import { type DirectReads, type ReadContext, type RestoredDigest, readGroup } from './read-groups.ts';
import { balance, type ReadUnit, type TableRef, unitsFor } from './read-plan.ts';
import { type Probe, probe, probeForeignKeys } from './read-probe.ts';
import { type ReadSession, type ReadSettings, readSessionFor } from './read-session.ts';

export type { DirectReads, RestoredDigest } from './read-groups.ts';

export type { TableRef } from './read-plan.ts';
export {
  DEFAULT_TIME_ZONE,
  dumpSessionLines,
  type ReadSession,
  type ReadSettings,
  type TimeZoneSource,
} from './read-session.ts';

export interface DatabaseReadback {
  session?: ReadSession;
  tables: RestoredDigest[];
}

/**
 * What to read: the units (statements) of every table that exists, and a result already known for
 * the others (missing; a partition whose rows came through its root).
 */
function planReads(tables: TableRef[], found: Probe, results: RestoredDigest[], readers: number): ReadUnit[] {
  // Tables whose rows the dump loaded through their partition root (by oid: the same table).
  const withData = new Map<string, string>();
  for (const ref of tables) {
    const relation = found.relations.get(ref.table);
    if (ref.kind === 'table' && ref.data !== 'none' && relation && relation.oid !== '-')
      withData.set(relation.oid, ref.table);
  }
  return tables.flatMap((ref, i) => {
    const relation = ref.kind === 'table' ? found.relations.get(ref.table) : undefined;
    const result = results[i] as RestoredDigest;
    if (ref.kind === 'table' && (relation === undefined || relation.relkind === '-')) {
      result.error = `table ${ref.table} does not exist`;
      return [];
    }
    const root = relation && relation.root !== relation.oid ? withData.get(relation.root) : undefined;
    if (ref.data === 'none' && root !== undefined) {
      Object.assign(result, { rows: 0, digest: digestHex(emptyDigest()), coveredBy: root });
      return [];
    }
    return unitsFor(ref, i, relation, found, readers);
  });
}

/**
 * Reads tables of one database back with `COPY … TO STDOUT` on up to `readers` psql sessions, each
 * block followed by a `\.` line (which COPY text never writes for data), and digests each as the
 * dump's was digested; a large plain table is read in block ranges on several sessions and its parts'
 * digests added up (the digest is a sum). Says in which session (TimeZone and its source, quoting) it
 * read them.
 */
export async function readDatabase(
  executor: Executor,
  database: string,
  tables: TableRef[],
  settings: ReadSettings,
  clock: () => number,
  signal?: AbortSignal,
  /** psql sessions reading at once (issue #12: reading back should cost a fraction of the restore). */
  readers = 1,
  /** Told which foreign keys are counted from the lines read, and then their counts (fk-streams.ts). */
  keys?: StreamSink,
  /** Read in sessions of the drill's own, not through psql (the probe still runs psql). */
  direct?: DirectReads,
): Promise<DatabaseReadback> {
  const results: RestoredDigest[] = tables.map(() => ({ rows: null, digest: null, seconds: 0 }));
  let found: Probe;
  // Not listed (the query failed): every key is counted on the server, as the constraint check says.
  const listed = keys ? probeForeignKeys(executor, database, signal).catch(() => []) : Promise.resolve([]);
  try {
    found = await probe(executor, database, tables, signal);
  } catch (error) {
    keys?.planned([]);
    keys?.counted(new Map());
    const why = `cannot read database ${database}: ${(error as Error).message}`;
    return { tables: results.map((r) => ({ ...r, error: why })) };
  }
  const quoteAllIdentifiers = [...found.relations.values()].some((r) => r.quoting === 'all');
  const { session, lines, statements } = readSessionFor(settings, { ...found, quoteAllIdentifiers });
  const units = planReads(tables, found, results, readers);
  const unitsOf = new Map<number, number>();
  for (const unit of units) unitsOf.set(unit.index, (unitsOf.get(unit.index) ?? 0) + 1);
  const ways = planForeignKeys(await listed, tables, found.relations);
  keys?.planned(ways);
  const counting = keys ? keyCounting(ways, unitsOf, keys.budget) : undefined;
  const ctx: ReadContext = {
    executor,
    direct,
    database,
    lines,
    statements,
    results,
    unitsOf,
    partials: new Map(),
    clock,
    signal,
    hooks: counting?.hooks,
  };
  const failed = (await Promise.all(balance(units, readers).map((g) => readGroup(ctx, g)))).find(Boolean);
  const read = failed ? results.map((r) => ({ ...r, rows: null, digest: null, error: failed })) : results;
  if (counting) keys?.counted(counting.outcomes(read));
  return { session, tables: read };
}

/** readDatabase's digests alone (the canary checks' entry point). */
export async function readDigests(
  executor: Executor,
  database: string,
  tables: TableRef[],
  settings: ReadSettings,
  clock: () => number,
  signal?: AbortSignal,
): Promise<RestoredDigest[]> {
  return (await readDatabase(executor, database, tables, settings, clock, signal)).tables;
}
