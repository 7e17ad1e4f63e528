import type { DumpKind } from '../backups/dump-header.ts';
import type { SqlError } from '../errors.ts';
import { bootstrapRoleFilter, type SkippedStatement } from './bootstrap-role-filter.ts';
import { feedPsql, type StreamedDumpOptions } from './psql-feed.ts';

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

export interface PlainRestoreOptions extends StreamedDumpOptions {
  kind: DumpKind;
  /** The database psql connects to first; a pg_dumpall `\connect`s onward from there. */
  database: string;
  /** The role the drill connects as; a pg_dumpall's CREATE/ALTER of it is skipped (see the filter). */
  bootstrapRole: string;
}

export interface RestoreOutcome {
  durationMs: number;
  /** Bytes of SQL fed to psql. */
  sqlBytes: number;
  skipped: SkippedStatement[];
  warnings: SqlError[];
}

/** Replays a whole plain dump (a pg_dumpall: every role and database) with psql. */
export async function restorePlainDump(options: PlainRestoreOptions): Promise<RestoreOutcome> {
  const skipped: SkippedStatement[] = [];
  const fed = await feedPsql(options, {
    args: [...PSQL_RESTORE_ARGS, '-d', options.database],
    rewrite: options.kind === 'pg_dumpall' ? [bootstrapRoleFilter(options.bootstrapRole, skipped)] : [],
  });
  return { ...fed, skipped };
}
