import type pg from 'pg';
import { renameCreateDatabase } from '../dump/database-statements.ts';
import { type DatabaseSection, originalLine, splitDatabase } from '../dump/split-database.ts';
import { RestoreFailedError } from '../errors.ts';
import { commentOnDatabase, databaseComment } from '../pg/databases.ts';
import type { AcceptedError } from './allowed-errors.ts';
import { feedPsql, type StreamedDumpOptions } from './psql-feed.ts';
import { psqlRestoreArgs } from './psql-restore.ts';

export interface SectionRestoreOptions extends StreamedDumpOptions {
  /** The database whose section is restored, as the dump names it. */
  database: string;
  /** The database to restore it into: the same name (canary mode) or a fresh one (copy mode). */
  into: string;
  /** Runs the section's CREATE DATABASE (renamed) on the target's maintenance database. */
  createDatabase: (statement: string) => Promise<void>;
}

export interface SectionRestoreOutcome {
  durationMs: number;
  /** SQL bytes of the section fed to psql. */
  sqlBytes: number;
  createDatabase: string;
  /** Errors the allow rules accepted (each rolled back to its own savepoint). */
  accepted: AcceptedError[];
}

/**
 * Restores one database out of a pg_dumpall and nothing else: no roles, no other database is written.
 * The splitter hands psql only the section (its `\connect`s turned to comments); psql runs it in one
 * transaction (`-1`), so an error rolls the whole section back. Errors name the line of the backup.
 */
export async function restoreDatabaseSection(options: SectionRestoreOptions): Promise<SectionRestoreOutcome> {
  const splitter = splitDatabase({
    database: options.database,
    renameTo: options.into === options.database ? undefined : options.into,
  });
  let section: DatabaseSection | undefined;
  let create = '';
  const fed = await feedPsql(options, {
    args: [
      ...psqlRestoreArgs({
        continuePastErrors: (options.allowedErrors?.length ?? 0) > 0,
        singleTransaction: true,
      }),
      '-d',
      options.into,
    ],
    select: [splitter],
    // The splitter holds its output until the section's head is read: create the database then.
    beforePsql: async () => {
      section = await splitter.section.catch((error: Error) => {
        throw new RestoreFailedError(`Restore failed: ${error.message}`, null, [], { cause: error });
      });
      if (!section.createDatabase) {
        throw new RestoreFailedError(
          `Restore failed: the backup's section of ${options.database} has no CREATE DATABASE (postgres and template1 are never restored on their own).`,
          null,
          [],
        );
      }
      create =
        options.into === options.database
          ? section.createDatabase
          : renameCreateDatabase(section.createDatabase, options.database, options.into);
      await options.createDatabase(create);
    },
    lineOf: (line) => (section ? originalLine(section, line) : line),
    failureNote: `the section of ${options.database} was rolled back`,
    continuedNote: `psql went on past errors (allow rules in force: ON_ERROR_STOP=0, each failed statement rolled back to its own savepoint), so the rest of the section was committed into ${options.into}`,
  });
  return {
    durationMs: fed.durationMs,
    sqlBytes: fed.sqlBytes,
    createDatabase: create,
    accepted: fed.accepted,
  };
}

/**
 * After a section restored under another name: the comment the section gave the database (the dump's
 * own COMMENT ON DATABASE, renamed with it; null when it has none), and the drill's mark put back, so a
 * crash before the swap or the drop still leaves a database the next run can prove its own.
 */
export async function takeBackMark(
  client: pg.ClientBase,
  name: string,
  mark: string,
): Promise<string | null> {
  const comment = (await databaseComment(client, name)) ?? null;
  if (comment === mark) return null;
  await commentOnDatabase(client, name, mark);
  return comment;
}
