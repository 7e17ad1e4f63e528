import type { Readable } from 'node:stream';
import pg from 'pg';
import type { Compression } from '../backups/naming.ts';
import { copyDigest, type TableDigest } from '../dump/copy-digest.ts';
import { renameCreateDatabase } from '../dump/database-statements.ts';
import type { Executor } from '../exec/executor.ts';
import type { Connection } from '../pg/connection.ts';
import { commentOnDatabase, withClient } from '../pg/databases.ts';
import { feedPsql } from '../restore/psql-feed.ts';
import { psqlRestoreArgs } from '../restore/psql-restore.ts';
import type { LeftOut } from './table-closure.ts';
import { showTableName, type TableName } from './table-name.ts';
import { tableSelect } from './table-select.ts';
import { splitQualified } from './toc-entry.ts';

export interface TableRestoreRequest {
  table: TableName;
  /** The backup's name, for the messages. */
  file: string;
  /** The backup's bytes as stored, and how they are compressed. */
  source: Readable;
  compression: Compression;
  executor: Executor;
  /** The target's maintenance connection. */
  connection: Connection;
  /** The database the drill creates for the table (tableScratchDatabase), marked with `mark`. */
  scratch: string;
  mark: string;
  rtoCeilingSeconds: number;
  rtoSeconds: number;
  signal: AbortSignal;
  clock: () => number;
}

export interface RestoredTable {
  /** From the first byte read to psql's end: the scan to the table, the scratch database, the restore. */
  seconds: number;
  /** psql's own part of it. */
  psqlSeconds: number;
  sqlBytes: number;
  /** What the dump holds of the table (count and digest), read on the stream psql was fed. */
  digest: TableDigest | undefined;
  /** The entries restored, in order (`TYPE sales.order_state`, `TABLE DATA orders`, …). */
  restored: string[];
  leftOut: LeftOut[];
  createDatabase: string;
}

/** The scratch database's CREATE: the section's own (its encoding and locale), renamed; else from template0. */
function createStatement(table: TableName, fromDump: string | undefined, scratch: string): string {
  if (fromDump) return renameCreateDatabase(fromDump, table.database, scratch);
  return `CREATE DATABASE ${pg.escapeIdentifier(scratch)} WITH TEMPLATE = template0`;
}

/** The dump's digest of the table among those the stream saw (other tables are created empty). */
function digestOf(digests: TableDigest[], table: TableName): TableDigest | undefined {
  return digests.find((d) => {
    const parts = splitQualified(d.table);
    return d.kind === 'table' && parts[0] === table.schema && parts[1] === table.table && parts.length === 2;
  });
}

/**
 * Restores one table out of a pg_dumpall into a scratch database the drill creates: the backup is
 * streamed through the selection (tableSelect) into `psql -1 -d <scratch>`, so an error rolls the whole
 * table back and names its line in the backup. The scratch database is created only once the table is
 * found: a table the backup lacks fails before the server is touched. The caller drops it.
 */
export async function restoreTable(request: TableRestoreRequest): Promise<RestoredTable> {
  const { table, connection, scratch } = request;
  const select = tableSelect(table, request.file);
  const digests = copyDigest({ database: table.database });
  let createDatabase = '';
  const started = request.clock();
  let psqlStarted = started;
  const fed = await feedPsql(
    {
      executor: request.executor,
      source: request.source,
      compression: request.compression,
      tap: digests,
      timeoutMs: request.rtoCeilingSeconds * 1000,
      budgetMs: request.rtoSeconds * 1000,
      signal: request.signal,
      clock: request.clock,
    },
    {
      args: [...psqlRestoreArgs({ continuePastErrors: false, singleTransaction: true }), '-d', scratch],
      select: [select],
      beforePsql: async () => {
        // A table the backup lacks fails here, before anything is created on the server.
        const selection = await select.selection;
        createDatabase = createStatement(table, selection.createDatabase, scratch);
        await withClient(connection, connection.database, async (client) => {
          await client.query(createDatabase);
          await commentOnDatabase(client, scratch, request.mark);
        });
        psqlStarted = request.clock();
      },
      lineOf: (line) => select.lineOf(line),
      failureNote: `the restore of ${showTableName(table)} into ${scratch} was rolled back`,
    },
  );
  const psqlSeconds = fed.durationMs / 1000;
  return {
    seconds: (psqlStarted - started) / 1000 + psqlSeconds,
    psqlSeconds,
    sqlBytes: fed.sqlBytes,
    digest: digestOf(digests.digests, table),
    restored: select.restored,
    leftOut: select.leftOut,
    createDatabase,
  };
}
