import type { Readable } from 'node:stream';
import { RestoreFailedError, type SqlError } from '../errors.ts';
import type { Executor } from '../exec/executor.ts';
import { ceilingReached } from './psql-feed.ts';
import { restoreFailure } from './target-fault.ts';

export interface ArchiveRestoreOptions {
  executor: Executor;
  /** The archive on this machine: a file (custom) or a directory (directory format). */
  path: string;
  /** Opens the archive as a stream, for executors that cannot read host paths (custom format only). */
  open: () => Readable;
  /** Parallel jobs: needs a path pg_restore can read; through stdin it is always 1. */
  jobs: number;
  /** The hard ceiling (`--rto-ceiling`): pg_restore is stopped when it runs longer. */
  timeoutMs: number;
  /** The RTO budget, for the messages (default: the ceiling). */
  budgetMs?: number;
  signal?: AbortSignal;
  clock: () => number;
}

export interface ArchiveRestoreOutcome {
  durationMs: number;
  jobs: number;
  args: string[];
}

/**
 * Restores a pg_dump archive with pg_restore: `--create` makes the archive's database (the canary was
 * dropped first), `--exit-on-error` stops at the first error (without it pg_restore skips errors and
 * exits 1 at the end), `--no-owner --no-privileges` because an archive of one database carries no roles:
 * replaying its owners and grants on a scratch server would fail on roles that live in the globals dump.
 */
export async function restoreArchive(options: ArchiveRestoreOptions): Promise<ArchiveRestoreOutcome> {
  const viaPath = options.executor.readsHostPaths;
  const jobs = viaPath ? Math.max(1, options.jobs) : 1;
  const args = ['--exit-on-error', '--no-owner', '--no-privileges', '--create', '-d', 'postgres'];
  if (jobs > 1) args.push('-j', String(jobs));
  if (viaPath) args.push(options.path);
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  const started = options.clock();
  const result = await options.executor
    .run('pg_restore', args, viaPath ? { signal } : { stdin: options.open(), signal })
    .catch((error: Error) => {
      throw new RestoreFailedError(`Restore failed while reading the archive: ${error.message}`, null, [], {
        cause: error,
      });
    });
  const durationMs = options.clock() - started;
  if (timeout.aborted) {
    throw ceilingReached({ ceilingMs: options.timeoutMs, budgetMs: options.budgetMs, durationMs });
  }
  if (result.exitCode !== 0) {
    const errors = parsePgRestoreStderr(result.stderr);
    const first = errors[0];
    throw restoreFailure(
      `Restore failed: pg_restore exited with ${result.exitCode ?? result.signal}${first ? `: ${first.message}${first.details.length ? ` (${first.details.join(' ')})` : ''}` : ''}`,
      { error: first, stderr: result.stderr },
      result.exitCode,
      errors,
    );
  }
  return { durationMs, jobs, args: args.filter((a) => a !== options.path) };
}

/**
 * `pg_restore: error: could not execute query: ERROR:  relation "x" already exists` followed by
 * `Command was: CREATE TABLE …`: archives have no line numbers, the command is the context.
 */
export function parsePgRestoreStderr(stderr: string): SqlError[] {
  const errors: SqlError[] = [];
  let current: SqlError | undefined;
  for (const line of stderr.split('\n')) {
    const match = /^pg_restore: error: (.*)$/.exec(line);
    if (match) {
      const sql = /ERROR:\s+(.*)$/.exec(match[1] ?? '');
      current = {
        line: undefined,
        severity: 'ERROR',
        sqlstate: undefined,
        message: sql?.[1] ?? match[1] ?? line,
        details: [],
      };
      errors.push(current);
    } else if (current && /^Command was: /.test(line)) {
      current.details.push(line.length > 200 ? `${line.slice(0, 199)}…` : line);
    }
  }
  return errors;
}
