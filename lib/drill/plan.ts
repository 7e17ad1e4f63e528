import type { BackupNaming } from '../backups/naming.ts';
import type { DrillConfig, RestoreMode } from '../config.ts';
import type { Expectations } from '../expect/expectations.ts';
import { progressModeFor } from '../log.ts';
import { copyDatabaseName } from '../pg/databases.ts';
import type { ProgressMode } from '../report/progress.ts';
import type { AllowRule } from '../restore/allowed-errors.ts';
import type { TableName } from '../table/table-name.ts';
import type { TargetHandle } from '../targets/target.ts';
import type { Inputs } from './inputs.ts';

/**
 * What the CLI hands the drill specs (over the run's plan channel, lib/drill/plan-channel.ts, whose name
 * vitest's provide/inject carries): plain data only.
 */
export interface DrillPlan {
  runId: string;
  /** self-contained: the drill seeded the canary and took the backup itself. */
  mode: 'self-contained' | 'backups';
  backupDir: string;
  naming: BackupNaming;
  canary: string;
  rtoSeconds: number;
  /** Where a restore over the budget is finally stopped (it fails the RTO check before that). */
  rtoCeilingSeconds: number;
  /** How long a newest backup that is still being written is waited for, and how often it is looked at. */
  waitForNewestSeconds: number;
  growthCheckIntervalSeconds: number;
  /** cluster: the whole dump into a scratch server; canary / canary-copy: only the canary's section. */
  restoreMode: RestoreMode;
  /**
   * Where the canary is restored and the one place saying which database the verify steps read: the
   * canary itself (cluster), or drill_<run id> beside it (canary: swapped in by rename once verified;
   * canary-copy: dropped at the end).
   */
  restoreInto: string;
  /** Parallel pg_restore jobs for archives. */
  jobs: number;
  /** deep: every table of the backup is read back and compared (count and content digest). */
  verify: 'canary' | 'deep';
  sourceTimeZone: string;
  /** --allow-unverified: deep verification lists tables it could not digest instead of failing. */
  allowUnverified: boolean;
  /** --self-test: the self-test steps run (drills/restore.drill.ts), each check against a deliberate fault. */
  selfTest: boolean;
  target: TargetHandle;
  /** Epoch milliseconds the run started at; ages are measured against it. */
  startedAt: number;
  /** The validated `--expect` file: canary contract, tables to hold, the operator's assertions. */
  expectations?: Expectations;
  /** statement_timeout of an assertion that names none. */
  assertionTimeoutSeconds: number;
  /** How the restore step shows its progress on stderr. */
  progress: { mode: ProgressMode; intervalMs: number };
  /**
   * Restore errors the operator accepts (the expectations file's `allow:`, see allowed-errors.ts),
   * default []: then the first error stops and fails the restore. Each accepted one is reported.
   */
  allowedErrors: AllowRule[];
  /** `--table`: the table-level recovery drill of this one table instead of the full restore. */
  table?: TableName;
  /**
   * The environment the CLI was given (its `deps.env`), for the executor the specs build: the tools see
   * what the CLI saw, not the vitest worker's own process.env. Handed to the worker in memory, never
   * logged or reported.
   */
  env?: Record<string, string | undefined>;
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** The run's plan channel: the spec waits on it for the plan (lib/drill/plan-channel.ts). */
    drillPlanChannel: string;
  }
}

/** What of a run the plan is made from. */
export interface PlanRun {
  config: DrillConfig;
  runId: string;
  mode: DrillPlan['mode'];
  naming: BackupNaming;
  startedAt: Date;
  /** The environment the CLI was given, and whether its stderr is a terminal. */
  env: NodeJS.ProcessEnv;
  stderrIsTTY: boolean;
}

/** What the drill specs are handed: plain data only. */
export function drillPlan(run: PlanRun, inputs: Inputs, target: TargetHandle, backupDir: string): DrillPlan {
  const { config, runId } = run;
  return {
    runId,
    mode: run.mode,
    backupDir,
    naming: run.naming,
    canary: config.canary,
    rtoSeconds: config.rtoSeconds,
    rtoCeilingSeconds: config.rtoCeilingSeconds,
    waitForNewestSeconds: config.waitForNewestSeconds,
    growthCheckIntervalSeconds: config.growthCheckIntervalSeconds,
    restoreMode: config.mode,
    restoreInto: config.mode === 'cluster' ? config.canary : copyDatabaseName(runId),
    jobs: config.jobs,
    verify: config.verify,
    sourceTimeZone: config.sourceTimeZone,
    allowUnverified: config.allowUnverified,
    selfTest: config.selfTest,
    target,
    startedAt: run.startedAt.getTime(),
    progress: progressModeFor(config, { env: run.env, stderrIsTTY: run.stderrIsTTY }),
    ...(inputs.expectations ? { expectations: inputs.expectations } : {}),
    // The expectations file's `allow:` rules; empty: the first error fails the restore.
    allowedErrors: inputs.allowedErrors,
    assertionTimeoutSeconds: config.assertionTimeoutSeconds,
    ...(config.table ? { table: config.table } : {}),
    // The environment the CLI was given: the spec builds its executor from it, not from its own.
    env: { ...run.env },
  };
}
