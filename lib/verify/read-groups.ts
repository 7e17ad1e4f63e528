import { Readable } from 'node:stream';
import type pg from 'pg';
import { copyBlocksSink } from '../dump/copy-blocks.ts';
import { addRow, digestHex, emptyDigest, mergeDigest, type RowDigest } from '../dump/row-digest.ts';
import type { Executor } from '../exec/executor.ts';
import { copyOut } from '../pg/copy-out.ts';
import { parsePsqlStderr } from '../restore/psql-errors.ts';
import type { RowHooks } from './fk-streams.ts';
import type { ReadUnit } from './read-plan.ts';
import { dbConninfo } from './read-session.ts';
import type { Limiter } from './session-pool.ts';

/**
 * The read-back's sessions (deep-read.ts plans them): each reads a group of units, through psql or in
 * a session of the drill's own, and adds each unit's digest into its table's result.
 */
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

/** A table's parts as they come in (a table read in block ranges has several). */
export interface Partial {
  digest: RowDigest;
  parts: number;
  seconds: number;
}

/**
 * Reading in sessions of the drill's own rather than through psql: each COPY's rows straight from the
 * socket (lib/pg/copy-out.ts), without psql's CPU and a pipe in between. Where the drill can connect
 * to the server itself (it does for every check); psql stays for the callers that cannot.
 */
export interface DirectReads {
  /** A client on `database` (the caller's connection, application_name the tools'). */
  connect: (database: string) => Promise<pg.Client>;
  /** The slots the sessions take, shared with the psql ones (session-pool.ts). */
  limit: Limiter;
}

export interface ReadContext {
  executor: Executor;
  direct: DirectReads | undefined;
  database: string;
  lines: string[];
  /** The same session as SQL statements, for direct reads. */
  statements: string[];
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

/**
 * A unit's error: its table has no result (a part of it is enough), whatever its other parts gave. The
 * first error a table's parts meet stands: the ones after it (a session already gone) follow from it.
 */
function unitFailed(ctx: ReadContext, unit: ReadUnit, message: string): void {
  const result = ctx.results[unit.index];
  if (result) Object.assign(result, { rows: null, digest: null, error: result.error ?? message });
}

/**
 * One session of the drill's own reads the units of `group` in pg_dump's session, each COPY on its
 * own: a failed one (a missing table) has its error and the next runs; once the session is gone every
 * unit left fails with why. Says why the session could not be set up, if it could not.
 */
async function readGroupDirect(
  ctx: ReadContext,
  direct: DirectReads,
  group: ReadUnit[],
): Promise<string | undefined> {
  return direct.limit(async () => {
    let client: pg.Client;
    try {
      client = await direct.connect(ctx.database);
    } catch (error) {
      for (const unit of group) unitFailed(ctx, unit, (error as Error).message);
      return undefined;
    }
    try {
      for (const statement of ctx.statements) {
        try {
          await client.query(statement);
        } catch (error) {
          return `cannot set up pg_dump's session in ${ctx.database}: ${(error as Error).message}`;
        }
      }
      const hook = rowHook(ctx.hooks, group);
      // Once the session is gone (a FATAL, the connection lost), why it went is every later unit's error.
      let gone: string | undefined;
      for (const [block, unit] of group.entries()) {
        if (gone !== undefined) {
          unitFailed(ctx, unit, gone);
          continue;
        }
        const digest = emptyDigest();
        const started = ctx.clock();
        const onRow = hook
          ? (bytes: Buffer, start: number, end: number) => {
              addRow(digest, bytes, start, end);
              hook(block, bytes, start, end);
            }
          : (bytes: Buffer, start: number, end: number) => addRow(digest, bytes, start, end);
        await copyOut(client, unit.statement, onRow, ctx.signal).catch((error: Error) => {
          unitFailed(ctx, unit, error.message);
          // A statement's ERROR leaves the session usable; anything else does not.
          if ((error as { severity?: string }).severity !== 'ERROR') gone = error.message;
        });
        unitDone(ctx, unit, digest, (ctx.clock() - started) / 1000);
      }
      return undefined;
    } finally {
      await client.end().catch(() => {});
    }
  });
}

/** One psql reads the units of `group` in pg_dump's session; says why the session failed, if it did. */
export async function readGroup(ctx: ReadContext, group: ReadUnit[]): Promise<string | undefined> {
  if (ctx.direct) return readGroupDirect(ctx, ctx.direct, group);
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
    if (unit) unitFailed(ctx, unit, error.message);
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
