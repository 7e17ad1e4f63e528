import type { BackupNaming } from '../backups/naming.ts';
import type { RestoreMode } from '../config.ts';
import type { AllowRule, Expectations } from '../expect/expectations.ts';
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
  /** cluster: the whole dump into a scratch server; canary / canary-copy: only the canary's section. */
  restoreMode: RestoreMode;
  /** Where the canary is restored and verified: the canary itself, or drill_<run id> in copy mode. */
  restoreInto: string;
  /** Parallel pg_restore jobs for archives. */
  jobs: number;
  /** deep: every table of the backup is read back and compared (count and content digest). */
  verify: 'canary' | 'deep';
  sourceTimeZone: string;
  target: TargetHandle;
  /** Epoch milliseconds the run started at; ages are measured against it. */
  startedAt: number;
  /** The validated `--expect` file: canary contract, tables to hold, the operator's assertions. */
  expectations?: Expectations;
  /** Restore errors the expectations file accepts (`allow:`); empty by default. */
  allowedErrors: AllowRule[];
  /** statement_timeout of an assertion that names none. */
  assertionTimeoutSeconds: number;
  /** How the restore step shows its progress on stderr. */
  progress: { mode: ProgressMode; intervalMs: number };
}

declare module 'vitest' {
  export interface ProvidedContext {
    drillPlan: DrillPlan;
  }
}
