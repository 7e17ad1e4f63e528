import { BackupIncompleteError, BackupStillBeingWrittenError, BackupTruncatedError } from '../errors.ts';
import type { Executor } from '../exec/executor.ts';
import { inspectArchive } from './archive-integrity.ts';
import type { BackupCandidate, BackupLook, BackupSource } from './backup-source.ts';
import { type BackupInspection, inspectPlainBackup, readBackupHeader } from './integrity.ts';
import { grewSince } from './settle.ts';

export interface InspectRequest {
  backup: BackupCandidate;
  source: BackupSource;
  /** Runs pg_restore for an archive's checks. */
  executor: Executor;
  /**
   * `whole`: read the file to its end before any server sees it (a live server: the canary modes).
   * `header`: a plain backup restored into a throwaway or scratch server reads only its head here; the
   * rest is proven on the restore's own stream (one pass). Archives are always read whole.
   */
  read: 'whole' | 'header';
  /** The backup's size and mtime when it was found settled, to tell "still being written" from broken. */
  look?: BackupLook;
  /** How long it looked settled before (for the message). */
  growthCheckIntervalSeconds: number;
}

/** The precheck's read of a backup: the choice between a plain file's read (whole or head) and an archive's. */
export async function inspectBackup(request: InspectRequest): Promise<BackupInspection> {
  const { backup, source } = request;
  try {
    if (backup.format !== 'plain') {
      return await inspectArchive(backup, request.executor, () => source.open(backup));
    }
    return await (request.read === 'header' ? readBackupHeader : inspectPlainBackup)(
      backup,
      source.open(backup),
    );
  } catch (error) {
    throw await stillBeingWritten(request, error);
  }
}

/**
 * A backup cut short that grew meanwhile is being written, not broken: the error to report for
 * `error` (found while reading it, in the precheck or on the restore's stream), else `error` itself.
 */
export async function stillBeingWritten(
  request: Pick<InspectRequest, 'backup' | 'source' | 'look' | 'growthCheckIntervalSeconds'>,
  error: unknown,
): Promise<unknown> {
  const { backup, look } = request;
  const cut = error instanceof BackupTruncatedError || error instanceof BackupIncompleteError;
  const grown = cut && look ? await grewSince(request.source, backup, look) : undefined;
  if (!grown) return error;
  return new BackupStillBeingWrittenError(
    backup.path,
    `${backup.path} is still being written: it grew from ${look?.sizeBytes} to ${grown.sizeBytes} bytes while the drill read it (it looked whole for ${request.growthCheckIntervalSeconds} s before). The backup job is still running: drill again once it has finished.`,
    { cause: error },
  );
}
