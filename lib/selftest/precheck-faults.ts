/**
 * The precheck against a truncated and a bit-flipped copy of the newest backup: the real file's bytes,
 * faulted as they stream (nothing copied, the file untouched), through the real precheck code.
 */
import type { Readable } from 'node:stream';
import { inspectArchive } from '../backups/archive-integrity.ts';
import type { BackupCandidate, BackupSource } from '../backups/backup-source.ts';
import { inspectPlainBackup } from '../backups/integrity.ts';
import { BackupCorruptError, BackupIncompleteError, BackupTruncatedError } from '../errors.ts';
import type { Executor } from '../exec/executor.ts';
import { type ByteFault, describeFault, faulted, faultsFor } from './fault-streams.ts';
import type { FaultOutcome } from './outcome.ts';

/** The precheck under test: reads the backup through `open` and throws when it is not whole. */
export type Precheck = (
  backup: BackupCandidate,
  open: () => Readable,
  executor: Executor,
) => Promise<unknown>;

/** The errors by which the precheck says a file is damaged: anything else proves nothing. */
const DAMAGE_CODES: readonly string[] = [
  BackupCorruptError.code,
  BackupTruncatedError.code,
  BackupIncompleteError.code,
];

/**
 * The real precheck of the whole file (what the canary modes run before anything is written, and what
 * the restore's own stream checks in one pass): gzip to its end, CRC and length, the trailer; for a
 * custom archive `pg_restore -l` and a full decompress, fed through stdin so they read the faulted bytes.
 */
export const realPrecheck: Precheck = (backup, open, executor) =>
  backup.format === 'plain'
    ? inspectPlainBackup(backup, open())
    : inspectArchive(backup, streamOnly(executor), open);

/** The executor as one that cannot read host paths: every input goes through stdin. */
function streamOnly(executor: Executor): Executor {
  return {
    where: executor.where,
    readsHostPaths: false,
    run: (tool, args, options) => executor.run(tool, args, options),
    toolVersion: (tool) => executor.toolVersion(tool),
  };
}

/** Why the byte faults cannot apply to this backup, if they cannot. */
export function precheckFaultsInapplicable(backup: BackupCandidate): string | undefined {
  if (backup.format === 'directory')
    return `not applicable: ${backup.name} is a directory-format archive, read file by file, not as one stream to fault`;
  if (backup.sizeBytes < 2) return `not applicable: ${backup.name} is ${backup.sizeBytes} byte(s) long`;
  return undefined;
}

export interface PrecheckFaultRequest {
  backup: BackupCandidate;
  source: BackupSource;
  executor: Executor;
  fault: 'truncated' | 'bit-flipped';
  /** The check under test; default the real one. A test passes one that cannot fail. */
  precheck?: Precheck;
}

/** Runs the precheck on one faulted copy; it must fail with a damage error. */
export async function precheckFault(request: PrecheckFaultRequest): Promise<FaultOutcome> {
  const { backup, source } = request;
  const faults = faultsFor(backup.sizeBytes);
  const fault: ByteFault = request.fault === 'truncated' ? faults.truncated : faults.flipped;
  const base = {
    fault: request.fault === 'truncated' ? 'truncated copy' : 'bit-flipped copy',
    check: 'precheck: backup is whole',
    applied: `${backup.name} ${describeFault(fault, backup.sizeBytes)}`,
    isolation: 'a faulted stream of the file, nothing written, the file untouched',
  };
  const precheck = request.precheck ?? realPrecheck;
  try {
    await precheck(backup, () => faulted(source.open(backup), fault), request.executor);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const said = (error as Error).message ?? String(error);
    if (typeof code === 'string' && DAMAGE_CODES.includes(code))
      return { ...base, result: 'went red', said, code };
    return { ...base, result: 'inconclusive', said: `it failed, but not on damage: ${said}` };
  }
  return { ...base, result: 'stayed green', said: greenReason(backup) };
}

/** Why a faulted copy can pass the precheck, where the format says why. */
function greenReason(backup: BackupCandidate): string {
  if (backup.format === 'plain' && backup.compression !== 'gzip')
    return `the precheck found it whole: an uncompressed ${backup.name} carries no checksum, so a flipped bit inside it is invisible to the precheck and restores as it is; compress the backups (pg_dumpall | gzip)`;
  if (backup.format === 'custom')
    return `the precheck found it whole: a pg_dump archive checksums only its compressed data blocks, so a flipped bit in its table of contents (or in data dumped uncompressed) passes pg_restore and restores as it is; keep a checksum beside each archive, or back up with pg_dumpall | gzip`;
  return 'the precheck found it whole';
}
