import type { BackupNaming } from '../backups/naming.ts';
import type { ProgressMode } from '../report/progress.ts';
import type { TargetHandle } from '../targets/target.ts';

/** What the CLI hands the drill specs (through vitest's provide/inject): plain data only. */
export interface DrillPlan {
  runId: string;
  /** self-contained: the drill seeded the canary and took the backup itself. */
  mode: 'self-contained' | 'backups';
  backupDir: string;
  naming: BackupNaming;
  canary: string;
  rtoSeconds: number;
  /** Parallel pg_restore jobs for archives. */
  jobs: number;
  target: TargetHandle;
  /** Epoch milliseconds the run started at; ages are measured against it. */
  startedAt: number;
  /** How the restore step shows its progress on stderr. */
  progress: { mode: ProgressMode; intervalMs: number };
}

declare module 'vitest' {
  export interface ProvidedContext {
    drillPlan: DrillPlan;
  }
}
