import { Readable } from 'node:stream';
import { copyBlocksSink } from '../dump/copy-blocks.ts';
import { digestHex, emptyDigest, mergeDigest, type RowDigest } from '../dump/row-digest.ts';
import type { Executor } from '../exec/executor.ts';
import { parsePsqlStderr } from '../restore/psql-errors.ts';
import { planForeignKeys } from './fk-plan.ts';
import { keyCounting, type RowHooks, type StreamSink } from './fk-streams.ts';
import { balance, type ReadUnit, type TableRef, unitsFor } from './read-plan.ts';
import { type Probe, probe, probeForeignKeys } from './read-probe.ts';
import { dbConninfo, type ReadSession, type ReadSettings, readSessionFor } from './read-session.ts';

export type { TableRef } from './read-plan.ts';
export {
  DEFAULT_TIME_ZONE,
  dumpSessionLines,
  type ReadSession,
  type ReadSettings,
  type TimeZoneSource,
} from './read-session.ts';

/** One table (or a database's large objects) read back from a server with the dump's settings. */
export interface RestoredDigest {
  rows: number | null;
  digest: string | null;
  /** Why it could not be read (missing table, missing column…); rows and digest are null then. */
  error?: string;
  /**
   * A partition the dump creates without data of its own (--load-via-partition-root): its rows came in
   * through this root table, whose digest covers them. It was not read on its own.
   */
  coveredBy?: string;
  seconds: number;
}

export interface DatabaseReadback {
  session?: ReadSession;
  tables: RestoredDigest[];
}

/** A table's parts as they come in (a table read in block ranges has several). */
interface Partial {
  digest: RowDigest;
  parts: number;
  seconds: number;
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

interface ReadContext {
  executor: Executor;
  database: string;
  lines: string[];
  results: RestoredDigest[];
  /** Per table index: its units' count. */
  unitsOf: Map<number, number>;
  partials: Map<number, Partial>;
  clock: () => number;
  signal: AbortSignal | undefined;
  /** Foreign keys counted from the lines read (fk-streams.ts). */
  hooks: RowHooks | undefined;
}

/** A unit's digest arrived: the table's result once all its parts have. */
function unitDone(ctx: ReadContext, unit: ReadUnit, digest: RowDigest, seconds: number): void {
  const partial = ctx.partials.get(unit.index) ?? { digest: emptyDigest(), parts: 0, seconds: 0 };
  ctx.partials.set(unit.index, partial);
  mergeDigest(partial.digest, digest);
  partial.parts++;
  partial.seconds += seconds;
  ctx.hooks?.unitDone(unit.index);
  const result = ctx.results[unit.index] as RestoredDigest;
  if (partial.parts === ctx.unitsOf.get(unit.index) && !result.error)
    Object.assign(result, {
      rows: partial.digest.rows,
      digest: digestHex(partial.digest),
      seconds: partial.seconds,
    });
}

/** The sink's row hook for a group's blocks (block k is unit k), when a foreign key counts from one. */
function rowHook(
  hooks: RowHooks | undefined,
  group: ReadUnit[],
): ((block: number, bytes: Buffer, start: number, end: number) => void) | undefined {
  const fns = group.map((unit) => hooks?.rowsOf(unit.index));
  if (!fns.some(Boolean)) return undefined;
  return (block, bytes, start, end) => fns[block]?.(bytes, start, end);
}

/** One psql reads the units of `group` in pg_dump's session; says why the session failed, if it did. */
async function readGroup(ctx: ReadContext, group: ReadUnit[]): Promise<string | undefined> {
  const script = [...ctx.lines];
  const statementLine: number[] = [];
  group.forEach((unit, u) => {
    script.push(unit.statement, "\\echo '\\\\.'");
    statementLine[u] = script.length - 1;
  });
  let block = 0;
  let last = ctx.clock();
  const sink = copyBlocksSink(
    (digest) => {
      const unit = group[block++];
      const now = ctx.clock();
      if (unit === undefined) return;
      unitDone(ctx, unit, digest, (now - last) / 1000);
      last = now;
    },
    rowHook(ctx.hooks, group),
  );
  const run = await ctx.executor.run(
    'psql',
    ['-X', '-q', '-w', '-v', 'ON_ERROR_STOP=0', '-d', dbConninfo(ctx.database), '-f', '-'],
    { stdin: Readable.from([Buffer.from(`${script.join('\n')}\n`)]), stdout: sink, signal: ctx.signal },
  );
  const { errors } = parsePsqlStderr(run.stderr);
  const sessionError = errors.find((e) => e.line !== undefined && e.line <= ctx.lines.length);
  // Read in another session than pg_dump's: no digest of this database means anything.
  if (sessionError) return `cannot set up pg_dump's session in ${ctx.database}: ${sessionError.message}`;
  for (const error of errors) {
    const unit = group[error.line === undefined ? -1 : statementLine.indexOf(error.line)];
    const result = unit && ctx.results[unit.index];
    if (result) Object.assign(result, { rows: null, digest: null, error: error.message });
  }
  if (run.exitCode !== 0) {
    const why = errors[0]?.message ?? `psql exited with ${run.exitCode ?? run.signal}`;
    for (const unit of group) {
      const result = ctx.results[unit.index] as RestoredDigest;
      if (result.rows === null && !result.error) result.error = why;
    }
  }
  return undefined;
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
  const { session, lines } = readSessionFor(settings, { ...found, quoteAllIdentifiers });
  const units = planReads(tables, found, results, readers);
  const unitsOf = new Map<number, number>();
  for (const unit of units) unitsOf.set(unit.index, (unitsOf.get(unit.index) ?? 0) + 1);
  const ways = planForeignKeys(await listed, tables, found.relations);
  keys?.planned(ways);
  const counting = keys ? keyCounting(ways, unitsOf, keys.budget) : undefined;
  const ctx: ReadContext = {
    executor,
    database,
    lines,
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
