/**
 * The table-level recovery drill's steps (`--table DB.SCHEMA.TABLE`): after the prechecks the full
 * drill runs too, the one table restored into a scratch database, timed (phase "table") against the
 * RTO budget, and read back against the dump's digest. drills/restore.drill.ts declares them in place
 * of the full drill's restore and verify steps.
 */
import type { TestContext } from 'vitest';
import type { BackupCandidate, BackupSource } from '../../lib/backups/backup-source.ts';
import { RestoreFailedError, UnsafeTargetError } from '../../lib/errors.ts';
import type { Executor } from '../../lib/exec/executor.ts';
import type { Expectations } from '../../lib/expect/expectations.ts';
import { endToolSessions } from '../../lib/pg/databases.ts';
import type { StepMeta } from '../../lib/report/steps.ts';
import { hintFor } from '../../lib/restore/psql-errors.ts';
import { showTableName, type TableName, tableScratchDatabase } from '../../lib/table/table-name.ts';
import type { RestoredTable } from '../../lib/table/table-restore.ts';
import type { TargetHandle } from '../../lib/targets/target.ts';
import type { Verdict } from '../../lib/verify/verdict.ts';
import { explainedByServerLog } from './server-log.ts';
import type { StepDeclaration } from './steps.ts';

export interface TableDrillContext {
  table: TableName;
  runId: string;
  target: TargetHandle;
  executor: Executor;
  source: BackupSource;
  /** The newest backup, once the first step found it. */
  backup: () => BackupCandidate | undefined;
  mark: string;
  rtoSeconds: number;
  rtoCeilingSeconds: number;
  restoreTimeoutMs: number;
  sourceTimeZone: string;
  expectations?: Expectations;
  /** The record a step leaves for the reporter (the harness's). */
  meta(test: TestContext): StepMeta;
}

/** Where the drill keeps the restored table: `key` is what the restore step provides to the others. */
export interface RestoredSlot<K extends string> {
  key: K;
  set(restored: RestoredTable): void;
  get(): RestoredTable | undefined;
}

/**
 * The steps, needing `needs` (the precheck's "dump fits the target") before the restore; the two after it
 * need `slot.key` too, so the harness skips them, naming the restore, when it did not pass.
 */
export function tableSteps<K extends string>(
  ctx: TableDrillContext,
  needs: readonly K[],
  slot: RestoredSlot<K>,
): StepDeclaration<K>[] {
  const state: TableState = { name: showTableName(ctx.table), scratch: tableScratchDatabase(ctx.runId) };
  const restored = () => slot.get() as RestoredTable;
  return [
    {
      name: `table: ${state.name} restored`,
      phase: 'table',
      needs,
      provides: [slot.key],
      timeoutMs: ctx.restoreTimeoutMs,
      run: (test) => restoreStep(ctx, state, slot, test),
    },
    {
      name: 'table: within the RTO budget',
      phase: 'table',
      needs: [...needs, slot.key],
      run: async () => withinBudget(restored().seconds, ctx.rtoSeconds),
    },
    {
      name: `table: ${state.name} matches the backup`,
      phase: 'verify',
      needs: [...needs, slot.key],
      run: (test) => check(ctx, state.scratch, restored(), test),
    },
  ];
}

/** What the steps share: the table's name as shown, its scratch database. */
interface TableState {
  name: string;
  scratch: string;
}

async function restoreStep<K extends string>(
  ctx: TableDrillContext,
  state: TableState,
  slot: RestoredSlot<K>,
  test: TestContext,
): Promise<Verdict> {
  const restored = await restore(ctx, state.scratch, test);
  slot.set(restored);
  const { leftOut } = restored;
  return {
    ok: true,
    summary: `${restored.seconds.toFixed(2)} s: ${state.name} into ${state.scratch} in one transaction (${restored.restored.length} entries of the dump, ${restored.sqlBytes} bytes of SQL; ${leftOut.length} left out${leftOut.length ? `: ${leftOut.map((l) => `${l.type} ${l.name}`).join(', ')}` : ''})`,
    facts: {
      tableRestore: {
        table: state.name,
        scratch: state.scratch,
        seconds: restored.seconds,
        psqlSeconds: restored.psqlSeconds,
        rtoBudgetSeconds: ctx.rtoSeconds,
        sqlBytes: restored.sqlBytes,
        restored: restored.restored,
        leftOut,
      },
    },
  };
}

function withinBudget(seconds: number, budget: number): Verdict {
  const ok = seconds <= budget;
  return {
    ok,
    summary: ok
      ? `${seconds.toFixed(2)} s of a ${budget} s budget`
      : `the table's restore took ${seconds.toFixed(2)} s, ${(seconds - budget).toFixed(2)} s over the ${budget} s budget`,
    facts: {},
  };
}

async function restore(ctx: TableDrillContext, scratch: string, test: TestContext): Promise<RestoredTable> {
  const backup = ctx.backup() as BackupCandidate;
  if (backup.format !== 'plain') {
    throw new UnsafeTargetError(
      `--table restores one table out of a plain pg_dumpall; ${backup.name} is a pg_dump archive: restore a table of it with pg_restore -t, or drill it with --mode cluster.`,
    );
  }
  try {
    // Loaded when a table drill runs: a full drill's worker does not load --table's modules.
    const { restoreTable } = await import('../../lib/table/table-restore.ts');
    return await restoreTable({
      table: ctx.table,
      file: backup.path,
      source: ctx.source.open(backup),
      compression: backup.compression,
      executor: ctx.executor,
      connection: ctx.target.connection,
      scratch,
      mark: ctx.mark,
      rtoCeilingSeconds: ctx.rtoCeilingSeconds,
      rtoSeconds: ctx.rtoSeconds,
      signal: test.signal,
      clock: () => performance.now(),
    });
  } catch (error) {
    await endToolSessions(ctx.target.connection).catch(() => 0);
    if (error instanceof RestoreFailedError && error.errors.length) {
      ctx.meta(test).facts = { errors: error.errors.map((e) => ({ ...e, hint: hintFor(e) })) };
    }
    throw await explainedByServerLog(error, ctx.target);
  }
}

async function check(
  ctx: TableDrillContext,
  scratch: string,
  restored: RestoredTable,
  test: TestContext,
): Promise<Verdict> {
  const { verifyTable } = await import('../../lib/table/table-verify.ts');
  const db = ctx.expectations?.databases[ctx.table.database];
  const entry = restored.digest ? db?.tables[restored.digest.table] : undefined;
  return verifyTable({
    table: ctx.table,
    digest: restored.digest,
    executor: ctx.executor,
    scratch,
    seconds: restored.seconds,
    timeZone: ctx.sourceTimeZone,
    ...(entry && ctx.expectations ? { expected: { file: ctx.expectations.file, entry } } : {}),
    clock: () => performance.now(),
    signal: test.signal,
  });
}
