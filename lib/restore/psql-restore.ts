import type { DumpKind } from '../backups/dump-header.ts';
import type { TablespaceRemap } from '../dump/tablespace-remap.ts';
import type { SqlError } from '../errors.ts';
import type { AcceptedError } from './allowed-errors.ts';
import { globalsFilter, type SkippedStatement } from './bootstrap-role-filter.ts';
import type { ExpectedDrop, ServerObjects } from './clean-statements.ts';
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

/**
 * psql's arguments for a restore. With allow rules in force psql must go on past errors
 * (ON_ERROR_STOP=0: it cannot stop on some errors and not others) and the drill judges them all
 * afterwards; inside one transaction (`-1`) each failed statement is then rolled back to a savepoint
 * of its own (ON_ERROR_ROLLBACK), or every later statement would fail too.
 */
export function psqlRestoreArgs(options: {
  continuePastErrors: boolean;
  singleTransaction?: boolean;
}): string[] {
  const args = PSQL_RESTORE_ARGS.map((a) =>
    a === 'ON_ERROR_STOP=1' && options.continuePastErrors ? 'ON_ERROR_STOP=0' : a,
  );
  if (options.singleTransaction) {
    args.splice(args.indexOf('-f'), 0, '-1');
    if (options.continuePastErrors) args.splice(args.indexOf('-f'), 0, '-v', 'ON_ERROR_ROLLBACK=on');
  }
  return args;
}

export interface PlainRestoreOptions extends StreamedDumpOptions {
  kind: DumpKind;
  /** The database psql connects to first; a pg_dumpall `\connect`s onward from there. */
  database: string;
  /** The role the drill connects as; a pg_dumpall's CREATE/ALTER of it is skipped (see the filter). */
  bootstrapRole: string;
  /** What the server holds now: a `--clean` dump's DROPs of anything else are expected (see clean-statements). */
  existing?: ServerObjects;
  /** Make every tablespace in place (a whole cluster into a server that holds nothing of the operator's). */
  remapTablespaces?: boolean;
  /** A database the drill holds a session in: a --clean dump's DROP and CREATE of it are commented out. */
  keepDatabase?: string;
}

export interface RestoreOutcome {
  durationMs: number;
  /** Bytes of SQL fed to psql. */
  sqlBytes: number;
  skipped: SkippedStatement[];
  /** A `--clean` dump's DROPs that could not succeed here, commented out. */
  drops: ExpectedDrop[];
  /** Tablespaces made in place instead of at the dump's LOCATION. */
  tablespaces: TablespaceRemap[];
  warnings: SqlError[];
  /** Errors the allow rules accepted. */
  accepted: AcceptedError[];
}

/** Replays a whole plain dump (a pg_dumpall: every role and database) with psql. */
export async function restorePlainDump(options: PlainRestoreOptions): Promise<RestoreOutcome> {
  const changes = { skipped: [], drops: [], tablespaces: [] };
  const continuePastErrors = (options.allowedErrors?.length ?? 0) > 0;
  const fed = await feedPsql(options, {
    args: [...psqlRestoreArgs({ continuePastErrors }), '-d', options.database],
    rewrite:
      options.kind === 'pg_dumpall'
        ? [
            globalsFilter(
              {
                bootstrapRole: options.bootstrapRole,
                existing: options.existing,
                remapTablespaces: options.remapTablespaces,
                keepDatabase: options.keepDatabase,
              },
              changes,
            ),
          ]
        : [],
    continuedNote: 'psql went on past errors (allow rules in force, ON_ERROR_STOP=0) to the end of the dump',
  });
  return { ...fed, ...changes };
}
