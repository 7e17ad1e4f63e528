import type { BackupCandidate, BackupLook, BackupSource } from '../backups/backup-source.ts';
import { stillBeingWritten } from '../backups/inspect.ts';
import type { BackupInspection } from '../backups/integrity.ts';
import { integrityWatch } from '../backups/integrity-watch.ts';
import { readTablespaceLocations } from '../backups/target-offer.ts';
import { copyDigest, type TableDigest } from '../dump/copy-digest.ts';
import type { DumpedSequence } from '../dump/setval.ts';
import type { TablespaceRemap } from '../dump/tablespace-remap.ts';
import { BackupIncompleteError } from '../errors.ts';
import type { Executor } from '../exec/executor.ts';
import type { Connection } from '../pg/connection.ts';
import { commentOnDatabase, withClient } from '../pg/databases.ts';
import type { AcceptedError, AllowRule } from './allowed-errors.ts';
import { restoreArchive } from './archive-restore.ts';
import { describeExpectedDrops, type ExpectedDrop, readServerObjects } from './clean-statements.ts';
import { formatSqlError } from './psql-errors.ts';
import type { StreamedDumpOptions, StreamWatch } from './psql-feed.ts';
import { restorePlainDump } from './psql-restore.ts';
import { restoreDatabaseSection, takeBackMark } from './section-restore.ts';

/** cluster: the whole dump into a scratch server; canary / canary-copy: only the canary's section. */
export type RestoreInto = 'cluster' | 'canary' | 'canary-copy';

/** Everything a restore of the chosen backup needs: what, where, how long, and what to watch. */
export interface RestoreRequest {
  backup: BackupCandidate;
  /** What the precheck read: the whole file, or only its head (then the restore's stream proves the rest). */
  inspection: BackupInspection;
  source: BackupSource;
  /** The backup's size and mtime when it was found settled (a cut-short file that grew: still being written). */
  look?: BackupLook;
  growthCheckIntervalSeconds: number;
  executor: Executor;
  /** The target's maintenance connection. */
  connection: Connection;
  mode: RestoreInto;
  canary: string;
  /** Where the canary's section goes (canary modes): the canary, or drill_<run id> beside it. */
  restoreInto: string;
  /** The drill's mark on a scratch database it creates. */
  scratchMark: string;
  /** A database the drill holds a session in (a server it did not start): a --clean dump keeps it. */
  keepDatabase?: string;
  jobs: number;
  rtoSeconds: number;
  rtoCeilingSeconds: number;
  allowedErrors: readonly AllowRule[];
  /** --verify deep: the COPY digests of every table, read on the restore's stream. */
  digest: boolean;
  signal: AbortSignal;
  clock: () => number;
  /** Progress of the bytes read (as stored), and its end. */
  progress?: { update(bytes: number): void; done(): void };
}

export interface RestoredBackup {
  seconds: number;
  summary: string;
  facts: {
    sqlBytes: number;
    skippedStatements: { line: number; statement: string }[];
    jobs?: number;
    warnings?: string[];
    /** A `--clean` dump's DROPs that could not succeed on this server, commented out and listed. */
    expectedDrops?: ExpectedDrop[];
    /** Tablespaces made inside the server's own directory instead of at the dump's LOCATION. */
    tablespaces?: TablespaceRemap[];
    /** Errors the allow rules accepted (empty without rules). */
    acceptedErrors?: AcceptedError[];
  };
  /** What each table of the backup holds (--verify deep). */
  digests?: TableDigest[];
  /** The sequence values the backup sets, read with the digests (--verify deep). */
  sequences?: DumpedSequence[];
  /** The comment the restored section gave its database (the dump's COMMENT ON DATABASE), or null. */
  dumpComment?: string | null;
  /** The backup as its restore's own stream proved it whole (one pass), else undefined. */
  inspection?: BackupInspection;
}

/**
 * Restores the backup the way its format and the mode call for: a pg_dump archive with pg_restore; a
 * whole plain dump with psql; in canary modes only the canary's section. A plain dump whose precheck
 * read only its head is proven whole on the very stream psql reads (see restoreInOnePass).
 */
export async function restoreBackup(request: RestoreRequest): Promise<RestoredBackup> {
  if (request.backup.format !== 'plain') return restoreFromArchive(request);
  if (request.mode !== 'cluster') return restoreSection(request);
  return request.inspection.proven === 'header' ? restoreInOnePass(request) : restorePlain(request);
}

/**
 * One pass over the backup: the integrity checks (gzip to its end, the trailer, the header) watch the
 * stream psql reads. A damaged backup fails the restore with the error naming the file and the check
 * (it wins over what psql said of the broken input); the throwaway or scratch server holds a partial
 * restore that nothing verifies, and is discarded as always.
 */
async function restoreInOnePass(request: RestoreRequest): Promise<RestoredBackup> {
  const file = request.backup.path;
  const watch = integrityWatch(request.backup, { requirements: false });
  let feedError: unknown;
  const onStream: StreamWatch = {
    gunzip: watch.gunzip,
    sql: watch.sql,
    end: watch.end,
    settled: (error) => {
      feedError = error;
    },
  };
  let restored: RestoredBackup | undefined;
  let failure: unknown;
  try {
    restored = await restorePlain(request, onStream);
  } catch (error) {
    failure = error;
  }
  const verdict = watch.verdict(feedError);
  if (verdict && !verdict.ok) throw await stillBeingWritten(request, verdict.error);
  if (failure !== undefined || !restored) throw failure;
  if (!verdict) {
    throw new BackupIncompleteError(
      file,
      `${file}: psql ended before the drill had read the backup to its end, so the end of the file (gzip's check, the trailer) was not proven. Check the dump for a \\q or a stray end of input.`,
    );
  }
  const inspection: BackupInspection = { ...request.inspection, ...verdict.backup, proven: 'whole' };
  return {
    ...restored,
    summary: `${restored.summary}; the backup proved whole on this same stream (${request.backup.compression === 'gzip' ? 'gzip decoded to its end, ' : ''}${inspection.sqlBytes} bytes of SQL ending with the ${inspection.kind} trailer)`,
    inspection,
  };
}

/**
 * What every psql restore of the backup is given: the stream with its progress, the RTO budget, the
 * abort signal, and under --verify deep the COPY digests (`databaseOfSection` names the database a
 * split section's rows belong to). `finish` ends the progress and hands back the digests.
 */
function streamed(request: RestoreRequest, databaseOfSection?: string, watch?: StreamWatch) {
  const digests = request.digest ? copyDigest({ database: databaseOfSection }) : undefined;
  const options: StreamedDumpOptions = {
    executor: request.executor,
    source: request.source.open(request.backup),
    compression: request.backup.compression,
    onSourceBytes: request.progress ? (bytes) => request.progress?.update(bytes) : undefined,
    tap: digests,
    // Over the budget the restore runs on to the ceiling, so the real RTO is learnt; the RTO step judges.
    timeoutMs: request.rtoCeilingSeconds * 1000,
    budgetMs: request.rtoSeconds * 1000,
    signal: request.signal,
    clock: request.clock,
    allowedErrors: request.allowedErrors,
    watch,
  };
  const finish = () => {
    request.progress?.done();
    return digests ? { digests: digests.digests, sequences: digests.sequences } : {};
  };
  return { options, finish };
}

/** The summary's words for the errors the allow rules accepted. */
function acceptedText(accepted: readonly AcceptedError[]): string {
  return accepted.length
    ? `; accepted ${accepted.length} error(s) by the allow rules: ${accepted.map((a) => `line ${a.line ?? '?'} ${a.sqlstate} ${a.message} (rule ${a.rule})`).join(', ')}`
    : '';
}

/** A whole plain dump: gunzipped and streamed into psql, with progress. */
async function restorePlain(request: RestoreRequest, watch?: StreamWatch): Promise<RestoredBackup> {
  const { connection } = request;
  const { options, finish } = streamed(request, undefined, watch);
  // What the server holds as the restore starts: a --clean dump's DROPs of anything else are expected.
  const existing = await withClient(connection, connection.database, readServerObjects);
  const outcome = await restorePlainDump({
    ...options,
    kind: request.inspection.kind,
    database: connection.database,
    bootstrapRole: connection.user,
    existing,
    // Every cluster restore goes into a server that holds nothing of the operator's (see the precheck).
    remapTablespaces: true,
    keepDatabase: request.keepDatabase,
  });
  const read = finish();
  const seconds = outcome.durationMs / 1000;
  const skipped = outcome.skipped.length
    ? `; skipped the bootstrap role's statements on line(s) ${outcome.skipped.map((s) => s.line).join(', ')}`
    : '';
  const drops = outcome.drops.length ? `; ${describeExpectedDrops(outcome.drops)}` : '';
  if (outcome.tablespaces.length) {
    const where = await withClient(connection, connection.database, readTablespaceLocations);
    for (const t of outcome.tablespaces) t.mapped = where.get(t.name);
  }
  const tablespaces = outcome.tablespaces.length
    ? `; ${outcome.tablespaces.length} tablespace(s) made inside the server's own directory: ${outcome.tablespaces.map((t) => `${t.name} (${t.original} → ${t.mapped ?? '?'})`).join(', ')}`
    : '';
  return {
    seconds,
    summary: `${seconds.toFixed(2)} s for ${outcome.sqlBytes} bytes of SQL${skipped}${drops}${tablespaces}${acceptedText(outcome.accepted)}`,
    facts: {
      sqlBytes: outcome.sqlBytes,
      skippedStatements: outcome.skipped,
      warnings: outcome.warnings.map(formatSqlError),
      expectedDrops: outcome.drops,
      tablespaces: outcome.tablespaces,
      acceptedErrors: outcome.accepted,
    },
    ...read,
  };
}

/** One database's section out of a pg_dumpall (canary modes): nothing else on the server is written. */
async function restoreSection(request: RestoreRequest): Promise<RestoredBackup> {
  const { connection, canary, restoreInto } = request;
  const { options, finish } = streamed(request, canary);
  const outcome = await restoreDatabaseSection({
    ...options,
    database: canary,
    into: restoreInto,
    createDatabase: (statement) =>
      withClient(connection, connection.database, async (client) => {
        await client.query(statement);
        if (restoreInto !== canary) await commentOnDatabase(client, restoreInto, request.scratchMark);
      }),
  });
  const read = finish();
  const dumpComment =
    restoreInto !== canary
      ? await withClient(connection, connection.database, (client) =>
          takeBackMark(client, restoreInto, request.scratchMark),
        )
      : undefined;
  const seconds = outcome.durationMs / 1000;
  const where =
    request.mode === 'canary'
      ? `${restoreInto}, beside ${canary} (which stays as it was until the verified restore is swapped in)`
      : restoreInto;
  return {
    seconds,
    summary: `${seconds.toFixed(2)} s for the ${outcome.sqlBytes} bytes of ${canary}'s section, restored into ${where} in one transaction${acceptedText(outcome.accepted)}`,
    facts: { sqlBytes: outcome.sqlBytes, skippedStatements: [], acceptedErrors: outcome.accepted },
    ...read,
    ...(dumpComment !== undefined ? { dumpComment } : {}),
  };
}

/** A custom or directory archive: pg_restore, in parallel where it can read the file. */
async function restoreFromArchive(request: RestoreRequest): Promise<RestoredBackup> {
  const { backup } = request;
  const outcome = await restoreArchive({
    executor: request.executor,
    path: backup.path,
    open: () => request.source.open(backup),
    jobs: request.jobs,
    timeoutMs: request.rtoCeilingSeconds * 1000,
    budgetMs: request.rtoSeconds * 1000,
    signal: request.signal,
    clock: request.clock,
  });
  const seconds = outcome.durationMs / 1000;
  return {
    seconds,
    summary: `${seconds.toFixed(2)} s: pg_restore ${outcome.args.join(' ')} (${outcome.jobs} job(s))`,
    facts: { sqlBytes: backup.sizeBytes, skippedStatements: [], jobs: outcome.jobs },
    // The archive's digests were read while its precheck proved every block decompresses.
    digests: request.inspection.digests,
    sequences: request.inspection.sequences,
  };
}
