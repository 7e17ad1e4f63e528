import { PassThrough, type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, type Gunzip } from 'node:zlib';
import { GUNZIP_CHUNK_BYTES } from '../backups/integrity-watch.ts';
import type { Compression } from '../backups/naming.ts';
import { DrillError, RestoreFailedError, RestoreTimeoutError, type SqlError } from '../errors.ts';
import { bufferReleaser } from '../exec/buffer-release.ts';
import type { Executor } from '../exec/executor.ts';
import { type AcceptedError, type AllowRule, judgeErrors } from './allowed-errors.ts';
import { countingStream } from './counting-stream.ts';
import { formatSqlError, parsePsqlStderr } from './psql-errors.ts';
import { restoreFailure, targetFaultOrSelf } from './target-fault.ts';

/**
 * The executors keep 256 KiB of a tool's stderr. Under allow rules psql goes on past errors, and the
 * drill judges every one of them afterwards: a stderr that may have been cut cannot be judged whole.
 */
const STDERR_JUDGEABLE_BYTES = 255 * 1024;

/** What every restore of a plain dump into psql is given, whatever part of the dump it replays. */
export interface StreamedDumpOptions {
  executor: Executor;
  /** The backup's bytes as stored. */
  source: Readable;
  compression: Compression;
  /**
   * The hard ceiling: the restore is stopped when it runs longer than this (`--rto-ceiling`). A restore
   * over the budget but under the ceiling runs on, so the operator learns the real RTO.
   */
  timeoutMs: number;
  /** The RTO budget, for the messages (default: the ceiling). */
  budgetMs?: number;
  signal?: AbortSignal;
  /** Monotonic milliseconds (performance.now). */
  clock: () => number;
  /** Told the running total of backup bytes read (as stored, before gunzip), for progress. */
  onSourceBytes?: (bytes: number) => void;
  /** A pass-through stage that sees the SQL on its way in (deep verification's COPY digests). */
  tap?: NodeJS.ReadWriteStream;
  /**
   * Errors the operator accepts (the expectations file's `allow:`). Empty (the default): the first
   * error stops psql (ON_ERROR_STOP=1) and fails the restore. With rules, psql goes on past errors
   * (it cannot stop selectively) and every error is judged afterwards: the first one no rule accepts
   * fails the restore, with its line and SQLSTATE, as it would have stopped it.
   */
  allowedErrors?: readonly AllowRule[];
  /**
   * Watches the SQL right after gunzip, the whole of it, before any stage selects or rewrites: the
   * backup's integrity checks on the restore's own stream (one pass, see restoreBackup). Told of the
   * gunzip stage, each chunk, the end of the SQL, and how the feed ended.
   */
  watch?: StreamWatch;
}

/** What sees the SQL on its way into psql (the integrity watch of lib/backups/integrity-watch.ts). */
export interface StreamWatch {
  gunzip(stage: Gunzip | undefined): void;
  sql(chunk: Buffer): void;
  end(): void;
  /** The feed settled: `error` is what broke it, if anything (a damaged gzip, psql closing its input). */
  settled?(error: unknown): void;
}

/**
 * One pass-through stage for everything that only looks at the SQL, in order (the integrity watch, the
 * SQL byte count): a stage less for each chunk to pass.
 */
function lookStage(looks: ((chunk: Buffer) => void)[], end: (() => void) | undefined): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      for (const look of looks) look(chunk);
      done(null, chunk);
    },
    flush(done) {
      end?.();
      done();
    },
  });
}

export interface FedPsql {
  durationMs: number;
  /** Bytes of SQL psql was fed. */
  sqlBytes: number;
  warnings: SqlError[];
  /** Errors the allow rules accepted, in the order psql reported them. */
  accepted: AcceptedError[];
}

export interface FeedPlan {
  /** psql's arguments. */
  args: string[];
  /** Stages between gunzip and the SQL byte count (the splitter). */
  select?: NodeJS.ReadWriteStream[];
  /** Stages after the tap, right before psql (the bootstrap-role filter). */
  rewrite?: NodeJS.ReadWriteStream[];
  /** Runs once the feed has started and before psql does (the splitter's CREATE DATABASE). */
  beforePsql?: () => Promise<void>;
  /** psql's line in its input → the backup's line. */
  lineOf?: (psqlLine: number) => number;
  /** Said after "Restore failed: …" (e.g. that the section was rolled back). */
  failureNote?: string;
  /** Said instead of failureNote when psql went on past errors (allow rules in force). */
  continuedNote?: string;
}

/**
 * Streams a plain dump (gunzipped in-process, never copied) into psql and judges the result: the first
 * error, with its backup line and SQLSTATE, fails the restore; so do the RTO timeout and an abort.
 */
export async function feedPsql(options: StreamedDumpOptions, plan: FeedPlan): Promise<FedPsql> {
  let sqlBytes = 0;
  const stages = feedStages(options, plan, (total) => {
    sqlBytes = total;
  });
  // A broken input (gunzip on a damaged file) destroys stdin with its error, which the executor reports;
  // psql stopping early (ON_ERROR_STOP) ends the feed, and psql's verdict is the one that counts.
  const stdin = new PassThrough();
  const feeding = pipeline([options.source, ...stages, stdin]).then(
    () => options.watch?.settled?.(undefined),
    (error: unknown) => options.watch?.settled?.(error),
  );
  const readFailure = async (error: Error) => {
    stdin.destroy();
    await feeding;
    return new RestoreFailedError(`Restore failed while reading the backup: ${error.message}`, null, [], {
      cause: error,
    });
  };
  try {
    await plan.beforePsql?.();
  } catch (error) {
    stdin.destroy();
    await feeding;
    // The drill's own statement (the section's CREATE DATABASE) on a target out of room is not the backup's.
    throw targetFaultOrSelf(error);
  }

  if (options.signal?.aborted) {
    // Stopped while the feed was being set up: no psql is started at all.
    stdin.destroy();
    await feeding;
    throw new RestoreFailedError(`Restore interrupted before it started.`, null, []);
  }
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  const started = options.clock();
  let result: PsqlRun;
  try {
    result = await options.executor.run('psql', plan.args, { stdin, signal });
  } catch (error) {
    // The executor's own channel failed (an exec connection dropped: exit 2): not the backup's fault.
    if (error instanceof DrillError && error.exitCode === 2) {
      stdin.destroy();
      await feeding;
      throw error;
    }
    throw await readFailure(error as Error);
  }
  const durationMs = options.clock() - started;
  await feeding;
  return judgeRun(options, plan, { result, timeout, durationMs, sqlBytes });
}

type PsqlRun = Awaited<ReturnType<Executor['run']>>;

/** The stages from the backup's bytes to psql's stdin, in order; `onSqlBytes` is told the SQL's size. */
function feedStages(
  options: StreamedDumpOptions,
  plan: FeedPlan,
  onSqlBytes: (total: number) => void,
): NodeJS.ReadWriteStream[] {
  const stages: NodeJS.ReadWriteStream[] = [];
  if (options.onSourceBytes) stages.push(countingStream(options.onSourceBytes));
  const gunzip = options.compression === 'gzip' ? createGunzip({ chunkSize: GUNZIP_CHUNK_BYTES }) : undefined;
  if (gunzip) stages.push(gunzip);
  options.watch?.gunzip(gunzip);
  let sqlBytes = 0;
  const count = (chunk: Buffer) => {
    sqlBytes += chunk.length;
    onSqlBytes(sqlBytes);
  };
  // Every byte gunzip writes, also those a selecting stage drops (canary modes keep one section of a
  // whole pg_dumpall): the feed's dead Buffers are freed as they go (lib/exec/buffer-release.ts).
  const releaser = bufferReleaser();
  const release = (chunk: Buffer) => releaser(chunk.length);
  const watched = options.watch ? [options.watch.sql, release] : [release];
  const select = plan.select ?? [];
  // The watch sees the SQL before any stage selects from it; with nothing selecting, it and the count
  // look at the same bytes, in one stage.
  if (select.length === 0) stages.push(lookStage([...watched, count], options.watch?.end));
  else {
    stages.push(lookStage(watched, options.watch?.end));
    stages.push(...select, lookStage([count], undefined));
  }
  if (options.tap) stages.push(options.tap);
  stages.push(...(plan.rewrite ?? []));
  return stages;
}

/** psql's verdict, once it has run: the ceiling, an abort, then its errors (under the allow rules, if any). */
function judgeRun(
  options: StreamedDumpOptions,
  plan: FeedPlan,
  run: { result: PsqlRun; timeout: AbortSignal; durationMs: number; sqlBytes: number },
): FedPsql {
  const { result, durationMs, sqlBytes } = run;
  const parsed = parsePsqlStderr(result.stderr);
  const lineOf = plan.lineOf ?? ((line: number) => line);
  const errors = parsed.errors.map((e) => ({
    ...e,
    line: e.line === undefined ? undefined : lineOf(e.line),
  }));
  const rules = options.allowedErrors ?? [];
  const note = plan.failureNote ? `; ${plan.failureNote}` : '';
  if (run.timeout.aborted) {
    throw ceilingReached(
      { ceilingMs: options.timeoutMs, budgetMs: options.budgetMs, durationMs },
      ` (${sqlBytes} bytes of SQL replayed by then)${note}`,
    );
  }
  if (options.signal?.aborted) {
    throw new RestoreFailedError(`Restore interrupted before it finished${note}.`, result.exitCode, errors);
  }
  if (rules.length > 0) {
    // psql that lost its connection (exit 2) went no further: what was in flight was rolled back.
    const accepted = judgeUnderRules(result, errors, parsed.unrecognized, rules, {
      note: result.exitCode === 2 ? plan.failureNote : plan.continuedNote,
    });
    return { durationMs, sqlBytes, warnings: parsed.warnings, accepted };
  }
  if (result.exitCode !== 0 || errors.length > 0) {
    const first = errors[0];
    const what =
      result.exitCode === 2
        ? 'psql lost or could not open its connection'
        : result.exitCode === 3
          ? 'the dump hit an error and psql stopped there (ON_ERROR_STOP)'
          : `psql exited with ${result.exitCode ?? result.signal}`;
    throw restoreFailure(
      `Restore failed: ${what}${note}${first ? `: ${formatSqlError(first)}` : ''}`,
      { error: first, stderr: result.stderr, note: plan.failureNote },
      result.exitCode,
      errors,
    );
  }
  return { durationMs, sqlBytes, warnings: parsed.warnings, accepted: [] };
}

/** psql went on past errors: each is judged, and the first no rule accepts fails the restore. */
function judgeUnderRules(
  result: PsqlRun,
  errors: SqlError[],
  unrecognized: readonly string[],
  rules: readonly AllowRule[],
  { note: continuedNote }: { note: string | undefined },
): AcceptedError[] {
  const judged = judgeErrors(errors, rules);
  const cut = result.stderr.length >= STDERR_JUDGEABLE_BYTES;
  const first = judged.rejected[0];
  const unjudged = unrecognized[0];
  if (first || result.exitCode !== 0 || cut || unjudged !== undefined) {
    const why = first
      ? `an error the allow rules do not accept: ${formatSqlError(first.error)} (${first.reason})`
      : cut
        ? `psql reported more errors than the drill keeps (${result.stderr.length} bytes of stderr): they cannot all be judged against the allow rules`
        : unjudged !== undefined
          ? `psql printed a line that is no error the drill can judge against the allow rules: ${unjudged}`
          : `psql exited with ${result.exitCode ?? result.signal}`;
    const accepted = judged.accepted.length ? `; ${judged.accepted.length} other error(s) were accepted` : '';
    const continued = continuedNote ? `; ${continuedNote}` : '';
    throw restoreFailure(
      `Restore failed: ${why}${accepted}${continued}`,
      { error: first?.error, stderr: first || cut ? '' : result.stderr, note: continuedNote },
      result.exitCode,
      first ? judged.rejected.map((r) => r.error) : errors,
    );
  }
  return judged.accepted;
}

/** The restore hit the hard ceiling: the error says how long it ran, and the budget and ceiling. */
export function ceilingReached(
  times: { ceilingMs: number; budgetMs: number | undefined; durationMs: number },
  extra = '',
): RestoreTimeoutError {
  const ceilingSeconds = times.ceilingMs / 1000;
  const budgetSeconds = (times.budgetMs ?? times.ceilingMs) / 1000;
  const elapsedSeconds = times.durationMs / 1000;
  return new RestoreTimeoutError(
    { budgetSeconds, ceilingSeconds, elapsedSeconds },
    `Restore stopped at the RTO ceiling of ${ceilingSeconds} s after ${elapsedSeconds.toFixed(1)} s (budget ${budgetSeconds} s): the real RTO is longer${extra}.`,
  );
}
