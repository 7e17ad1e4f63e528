import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { Compression } from '../backups/naming.ts';
import { renameCreateDatabase } from '../dump/database-statements.ts';
import { originalLine, splitDatabase } from '../dump/split-database.ts';
import { RestoreFailedError, RestoreTimeoutError } from '../errors.ts';
import type { Executor } from '../targets/target.ts';
import { countingStream } from './counting-stream.ts';
import { formatSqlError, parsePsqlStderr } from './psql-errors.ts';

export interface SectionRestoreOptions {
  executor: Executor;
  /** The pg_dumpall backup's bytes as stored. */
  source: Readable;
  compression: Compression;
  /** The database whose section is restored, as the dump names it. */
  database: string;
  /** The database to restore it into: the same name (canary mode) or a fresh one (copy mode). */
  into: string;
  /** Runs the section's CREATE DATABASE (renamed) on the target's maintenance database. */
  createDatabase: (statement: string) => Promise<void>;
  timeoutMs: number;
  signal?: AbortSignal;
  clock: () => number;
  onSourceBytes?: (bytes: number) => void;
  /** A pass-through stage that sees the section's SQL on its way in (deep verification). */
  tap?: NodeJS.ReadWriteStream;
}

export interface SectionRestoreOutcome {
  durationMs: number;
  /** SQL bytes of the section fed to psql. */
  sqlBytes: number;
  createDatabase: string;
}

/**
 * Restores one database out of a pg_dumpall and nothing else: no roles, no other database is written.
 * The splitter hands psql only the section (its `\connect`s turned to comments); psql runs it in one
 * transaction (`-1`), so an error rolls the whole section back. Errors name the line of the backup.
 */
export async function restoreDatabaseSection(options: SectionRestoreOptions): Promise<SectionRestoreOutcome> {
  let sqlBytes = 0;
  const splitter = splitDatabase({
    database: options.database,
    renameTo: options.into === options.database ? undefined : options.into,
  });
  const stages: NodeJS.ReadWriteStream[] = [];
  if (options.onSourceBytes) stages.push(countingStream(options.onSourceBytes));
  if (options.compression === 'gzip') stages.push(createGunzip());
  stages.push(splitter);
  if (options.tap) stages.push(options.tap);
  stages.push(
    countingStream((total) => {
      sqlBytes = total;
    }),
  );
  const stdin = new PassThrough();
  const feeding = pipeline([options.source, ...stages, stdin]).catch((error: Error) => error);
  const section = await splitter.section.catch(async (error: Error) => {
    stdin.destroy();
    await feeding;
    throw new RestoreFailedError(`Restore failed: ${error.message}`, null, [], { cause: error });
  });
  if (!section.createDatabase) {
    throw new RestoreFailedError(
      `Restore failed: the backup's section of ${options.database} has no CREATE DATABASE (postgres and template1 are never restored on their own).`,
      null,
      [],
    );
  }
  const create =
    options.into === options.database
      ? section.createDatabase
      : renameCreateDatabase(section.createDatabase, options.database, options.into);
  await options.createDatabase(create);

  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  const started = options.clock();
  const args = [
    '-X',
    '-w',
    '-q',
    '-1',
    '-v',
    'ON_ERROR_STOP=1',
    '-v',
    'VERBOSITY=verbose',
    '-f',
    '-',
    '-d',
    options.into,
  ];
  const result = await options.executor.run('psql', args, { stdin, signal }).catch(async (error: Error) => {
    await feeding;
    throw new RestoreFailedError(`Restore failed while reading the backup: ${error.message}`, null, [], {
      cause: error,
    });
  });
  const durationMs = options.clock() - started;
  await feeding;
  if (timeout.aborted) {
    throw new RestoreTimeoutError(
      options.timeoutMs / 1000,
      `Restore stopped after ${(durationMs / 1000).toFixed(1)} s: it exceeded the RTO budget of ${options.timeoutMs / 1000} s; the transaction was rolled back.`,
    );
  }
  const errors = parsePsqlStderr(result.stderr).errors.map((e) => ({
    ...e,
    line: e.line === undefined ? undefined : originalLine(section, e.line),
  }));
  if (result.exitCode !== 0 || errors.length > 0) {
    const first = errors[0];
    throw new RestoreFailedError(
      `Restore failed: ${options.signal?.aborted ? 'interrupted' : `psql exited with ${result.exitCode ?? result.signal}`}; the section of ${options.database} was rolled back${first ? `: ${formatSqlError(first)}` : ''}`,
      result.exitCode,
      errors,
    );
  }
  return { durationMs, sqlBytes, createDatabase: create };
}
