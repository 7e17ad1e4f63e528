import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { DumpKind } from '../backups/dump-header.ts';
import type { Compression } from '../backups/naming.ts';
import { RestoreFailedError, RestoreTimeoutError, type SqlError } from '../errors.ts';
import type { Executor } from '../targets/target.ts';
import { bootstrapRoleFilter, type SkippedStatement } from './bootstrap-role-filter.ts';
import { countingStream } from './counting-stream.ts';
import { formatSqlError, parsePsqlStderr } from './psql-errors.ts';

/**
 * psql as every restore runs it: no psqlrc (-X), never a password prompt (-w: a `\connect` to another
 * user would otherwise wait forever), stop at the first error, errors with SQLSTATE and dump line number.
 */
export const PSQL_RESTORE_ARGS = [
  '-X',
  '-w',
  '-q',
  '-v',
  'ON_ERROR_STOP=1',
  '-v',
  'VERBOSITY=verbose',
  '-f',
  '-',
];

export interface PlainRestoreOptions {
  executor: Executor;
  /** The backup's bytes as stored. */
  source: Readable;
  compression: Compression;
  kind: DumpKind;
  /** The database psql connects to first; a pg_dumpall `\connect`s onward from there. */
  database: string;
  /** The role the drill connects as; a pg_dumpall's CREATE/ALTER of it is skipped (see the filter). */
  bootstrapRole: string;
  /** The restore is stopped when it runs longer than this (the RTO budget). */
  timeoutMs: number;
  signal?: AbortSignal;
  /** Monotonic milliseconds (performance.now). */
  clock: () => number;
  /** Told the running total of backup bytes read (as stored, before gunzip), for progress. */
  onSourceBytes?: (bytes: number) => void;
  /** A pass-through stage that sees the SQL on its way in (deep verification's COPY digests). */
  tap?: NodeJS.ReadWriteStream;
}

export interface RestoreOutcome {
  durationMs: number;
  /** Bytes of SQL fed to psql. */
  sqlBytes: number;
  skipped: SkippedStatement[];
  warnings: SqlError[];
}

/** Streams a plain dump (gunzipped in-process, never copied) into psql and judges the result. */
export async function restorePlainDump(options: PlainRestoreOptions): Promise<RestoreOutcome> {
  const { executor, clock } = options;
  const skipped: SkippedStatement[] = [];
  let sqlBytes = 0;
  const stages: NodeJS.ReadWriteStream[] = [];
  if (options.onSourceBytes) stages.push(countingStream(options.onSourceBytes));
  if (options.compression === 'gzip') stages.push(createGunzip());
  stages.push(
    countingStream((total) => {
      sqlBytes = total;
    }),
  );
  if (options.tap) stages.push(options.tap);
  if (options.kind === 'pg_dumpall') stages.push(bootstrapRoleFilter(options.bootstrapRole, skipped));
  // A broken input (gunzip on a damaged file) destroys stdin with its error, which the executor reports;
  // psql stopping early (ON_ERROR_STOP) ends the feed, and psql's verdict is the one that counts.
  const stdin = new PassThrough();
  const feeding = pipeline([options.source, ...stages, stdin]).catch(() => {});

  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  const started = clock();
  let result: Awaited<ReturnType<Executor['run']>>;
  try {
    result = await executor.run('psql', [...PSQL_RESTORE_ARGS, '-d', options.database], { stdin, signal });
  } catch (error) {
    await feeding;
    throw new RestoreFailedError(
      `Restore failed while reading the backup: ${(error as Error).message}`,
      null,
      [],
      { cause: error },
    );
  }
  const durationMs = clock() - started;
  await feeding;
  const parsed = parsePsqlStderr(result.stderr);
  if (timeout.aborted) {
    throw new RestoreTimeoutError(
      options.timeoutMs / 1000,
      `Restore stopped after ${(durationMs / 1000).toFixed(1)} s: it exceeded the RTO budget of ${options.timeoutMs / 1000} s (${sqlBytes} bytes of SQL replayed by then).`,
    );
  }
  if (options.signal?.aborted) {
    throw new RestoreFailedError('Restore interrupted before it finished.', result.exitCode, parsed.errors);
  }
  if (result.exitCode !== 0 || parsed.errors.length > 0) {
    const first = parsed.errors[0];
    const what =
      result.exitCode === 2
        ? 'psql lost or could not open its connection'
        : result.exitCode === 3
          ? 'the dump hit an error and psql stopped there (ON_ERROR_STOP)'
          : `psql exited with ${result.exitCode ?? result.signal}`;
    throw new RestoreFailedError(
      `Restore failed: ${what}${first ? `: ${formatSqlError(first)}` : ''}`,
      result.exitCode,
      parsed.errors,
    );
  }
  return { durationMs, sqlBytes, skipped, warnings: parsed.warnings };
}
