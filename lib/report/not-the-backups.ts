import { ConfigError, RestoreTargetFaultError, UnsafeTargetError } from '../errors.ts';
import { TableDrillUnsupportedError } from '../table/errors.ts';

/**
 * Codes of a step that failed for a reason not the backup's: the target's own trouble
 * (lib/restore/target-fault.ts), a refusal to do something unsafe on this target, or a setting this
 * backup cannot be drilled with (`--table` or `--mode canary` of a pg_dump archive, `--table` of a
 * partitioned table). Known only once
 * the backup or the target is seen, they end the run as `error`, exit 2, as they would before it.
 */
const NOT_THE_BACKUPS: ReadonlySet<string> = new Set([
  RestoreTargetFaultError.code,
  UnsafeTargetError.code,
  ConfigError.code,
  // --table of a table the drill cannot restore on its own (a partitioned table): a refusal.
  TableDrillUnsupportedError.code,
]);

/** A step that failed for a reason not the backup's (NOT_THE_BACKUPS). */
export function isTargetFault(step: { status: string; code?: string }): boolean {
  return step.status === 'failed' && step.code !== undefined && NOT_THE_BACKUPS.has(step.code);
}
