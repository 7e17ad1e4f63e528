/**
 * The restore drill, as a list of step declarations (at the end of this file): each names its phase,
 * what it needs of the steps before it, and whether it needs the canary; drills/support/steps.ts turns
 * each into one vitest `it`, so a failing drill names the step that failed and a skipped one says why.
 * Steps run in order and share what they found. Run through `npm run drill`, which starts the target
 * and provides the plan.
 */
// A signal to the process group is the CLI's to act on: the worker must not die of it mid-step.
import '../lib/drill/worker-signals.ts';
import { basename } from 'node:path';
import { describe, type TestContext } from 'vitest';
import type { BackupCandidate, BackupLook } from '../lib/backups/backup-source.ts';
import { directorySource } from '../lib/backups/directory-source.ts';
import { readDumpedSequences } from '../lib/backups/dumped-sequences.ts';
import { checkExtensions } from '../lib/backups/extensions-check.ts';
import { inspectBackup } from '../lib/backups/inspect.ts';
import { type BackupInspection, checkRestorable, crossMajor } from '../lib/backups/integrity.ts';
import { settledNewest } from '../lib/backups/settle.ts';
import { sizeSeries } from '../lib/backups/size-series.ts';
import { checkTablespaces } from '../lib/backups/tablespaces-check.ts';
import { readTargetOffer } from '../lib/backups/target-offer.ts';
import type { TableDigest } from '../lib/dump/copy-digest.ts';
import type { DumpedSequence } from '../lib/dump/setval.ts';
import { ConfigError, RestoreFailedError, RestoreTimeoutError, UnsafeTargetError } from '../lib/errors.ts';
import { runAssertion } from '../lib/expect/assertions.ts';
import { checkExpectations } from '../lib/expect/check-expectations.ts';
import type { Assertion } from '../lib/expect/expectations.ts';
import {
  connect,
  databaseExists,
  drillMark,
  dropDatabase,
  endToolSessions,
  TOOL_APPLICATION_NAME,
  withClient,
} from '../lib/pg/databases.ts';
import { progressMeter } from '../lib/report/progress.ts';
import { swapCanary } from '../lib/restore/canary-swap.ts';
import { hintFor } from '../lib/restore/psql-errors.ts';
import { restoreBackup } from '../lib/restore/restore-backup.ts';
import { canaryFault } from '../lib/selftest/canary-fault.ts';
import { faultVerdict } from '../lib/selftest/outcome.ts';
import { precheckFault, precheckFaultsInapplicable } from '../lib/selftest/precheck-faults.ts';
import { rowFault } from '../lib/selftest/row-fault.ts';
import { showTableName } from '../lib/table/table-name.ts';
import type { RestoredTable } from '../lib/table/table-restore.ts';
import { executorFor } from '../lib/targets/attach.ts';
import {
  type CanaryCondition,
  describeCondition,
  dropLeftovers,
  inspectCanary,
} from '../lib/targets/leftovers.ts';
import {
  type CanaryBasis,
  type CanarySnapshot,
  checkCanaryForeignKey,
  checkTransactions,
  checkUsers,
  snapshotCanary,
} from '../lib/verify/canary.ts';
import { contractFromSpec, defaultCanaryContract } from '../lib/verify/canary-contract.ts';
import { CanaryContractError } from '../lib/verify/canary-discovery.ts';
import { checkForeignKeys } from '../lib/verify/constraints.ts';
import { type DeepChecks, startDeepChecks } from '../lib/verify/deep-checks.ts';
import {
  checkSequences,
  type DumpedSequences,
  type SequenceFact,
  sequencesCompared,
} from '../lib/verify/sequences.ts';
import type { Verdict } from '../lib/verify/verdict.ts';
import { explainedByServerLog } from './support/server-log.ts';
import {
  drillPlan,
  progressWriter,
  STEP_TIMEOUT_MS,
  type StepDeclaration,
  stepHarness,
} from './support/steps.ts';
import { tableSteps } from './support/table-steps.ts';

// vitest loads this file while the CLI starts the target; the plan comes once the target is up.
const plan = await drillPlan();
const { target, canary, restoreMode, restoreInto } = plan;
/**
 * Where the restored canary is verified: the canary itself (cluster), or drill_<run id> beside it
 * (canary: swapped in after the verify steps; canary-copy: dropped at the end).
 */
const verified = restoreInto;
/** Canary mode restores beside the live canary and swaps the verified restore in by rename. */
const swapping = restoreMode === 'canary';
/**
 * One pass over the backup: into a throwaway or scratch server in cluster mode the precheck reads only
 * a plain backup's head, and its integrity checks run on the restore's own stream. On a live server
 * (the canary modes) the whole file is proven before anything is written.
 */
const onePass = restoreMode === 'cluster' && target.scratch && plan.table === undefined;
/** The drill's mark on the scratch database, so a later run can prove a leftover of this one its own. */
const scratchMark = drillMark(
  plan.runId,
  'scratch',
  canary,
  swapping ? 'renamed to the canary once verified, else dropped' : 'dropped at the end of the run',
);
// The tools see the environment the CLI was given (the plan carries it), not this worker's own.
const executor = await executorFor(target, plan.env ?? {});
const source = directorySource(plan.backupDir, plan.naming);
const { expectations } = plan;
/** The canary's contract: the expectations file's, else the operator's default (discovered on the server). */
const contract = expectations?.canary
  ? contractFromSpec(expectations.canary, canary)
  : defaultCanaryContract(canary);
/** Rows are read as pg_dump writes them, in the source's time zone: snapshot, expectations and dump agree. */
const readSettings = { encoding: 'UTF8', timeZone: plan.sourceTimeZone };
/** Progress lines and notices: the harness's writer (never the report or JUnit). */
const out = progressWriter();

/** What the steps found so far; a missing entry means the step that sets it did not pass. */
const found: {
  backup?: BackupCandidate;
  /** The backup's size and mtime when it was found settled (two looks agreed). */
  look?: BackupLook;
  inspection?: BackupInspection;
  restorable?: true;
  snapshot?: CanarySnapshot | null;
  /** The canary and the leftovers of earlier runs, as the snapshot step found them. */
  condition?: CanaryCondition;
  dropped?: true;
  /** The comment the restored section gave its database (the dump's COMMENT ON DATABASE), or null. */
  dumpComment?: string | null;
  /** The restore reached the RTO ceiling and was stopped there. */
  stoppedAtCeiling?: true;
  restore?: { seconds: number };
  restoreSeconds?: number;
  canaryBack?: true;
  current?: CanarySnapshot;
  /** What each table of the backup holds (count and digest), for --verify deep. */
  digests?: TableDigest[];
  /** --table: the one table, restored into its scratch database. */
  tableRestored?: RestoredTable;
} = {};

type Needed = keyof typeof found;
/** What each step establishes, in the operator's words (a skipped step names what it lacked). */
const WORDS: Record<Needed, string> = {
  backup: 'the newest backup',
  look: 'the newest backup',
  inspection: 'the backup read and checked',
  restorable: 'a dump shown to fit the target',
  snapshot: "the canary's state before the restore",
  condition: "the canary's state before the restore",
  dropped: 'the canary dropped before the restore',
  dumpComment: "the restored section's comment",
  stoppedAtCeiling: 'the restore stopped at its ceiling',
  restore: 'a completed restore',
  restoreSeconds: "the restore's duration",
  tableRestored: 'the restored table',
  canaryBack: 'the restored canary',
  current: "the restored canary's rows",
  digests: "the backup's table digests",
};
const harness = stepHarness<Needed>({
  has: (key) => found[key] !== undefined,
  words: WORDS,
  withCanary: canary !== 'none',
  noCanaryReason: 'not run: --canary none (this drill has no canary database to check)',
  // Without a canary nothing is snapshotted or dropped: what follows proceeds as if it had been.
  onNoCanary: () => {
    found.snapshot = null;
    found.dropped = true;
  },
});
/** How long the swap waits for sessions that are not the drill's to leave the canary. */
const SWAP_WAIT_MS = 10_000;

/** What the restored canary's rows are compared with: the snapshot, else the expectations, else the contract. */
function canaryBasis(): CanaryBasis {
  if (found.snapshot) return { kind: 'snapshot', snapshot: found.snapshot };
  const tables = expectations?.databases[canary]?.tables;
  if (expectations && tables) return { kind: 'expectations', file: expectations.file, tables };
  return { kind: 'contract' };
}

/** A copy-mode restore holds the canary's tables under the copy's name. */
function restoredName(database: string): string {
  return database === canary ? restoreInto : database;
}

async function findNewestBackup(ctx: TestContext): Promise<Verdict> {
  const settled = await settledNewest({
    source,
    naming: plan.naming,
    // A backup the drill took itself (self-contained mode) was closed before the specs started.
    intervalMs: plan.mode === 'self-contained' ? 0 : plan.growthCheckIntervalSeconds * 1000,
    waitMs: plan.waitForNewestSeconds * 1000,
    signal: ctx.signal,
    clock: () => performance.now(),
    onGrowing: (candidate, from, to) =>
      out.write(
        `pg-restore-drill: ${candidate.name} is still being written (${from.sizeBytes} → ${to.sizeBytes} bytes in ${plan.growthCheckIntervalSeconds} s): waiting up to ${plan.waitForNewestSeconds} s for it to finish\n`,
      ),
  });
  const { discovery, candidate: chosen } = settled;
  found.backup = chosen;
  found.look = settled.look;
  const waited = settled.grew
    ? `; it was still being written: waited ${(settled.waitedMs / 1000).toFixed(1)} s for it to finish`
    : '';
  const ageSeconds = Math.max(0, (plan.startedAt - chosen.takenAt.getTime()) / 1000);
  const passedOver = discovery.rejected.length
    ? `; ${discovery.rejected.length} rejected: ${discovery.rejected.map((r) => `${r.name} (${r.reason})`).join('; ')}`
    : '';
  return {
    ok: true,
    summary: `${chosen.name} (${discovery.candidates.length} candidate(s), ${discovery.ignored.length} other file(s) ignored${passedOver})${waited}`,
    facts: {
      backup: {
        file: chosen.name,
        path: chosen.path,
        sizeBytes: chosen.sizeBytes,
        takenAt: chosen.takenAt.toISOString(),
        ageSeconds: Math.round(ageSeconds),
      },
      candidates: discovery.candidates.map((c) => c.name),
      // The newest and its predecessors' sizes: the RTO forecast's growth rate (lib/report/forecast.ts).
      backupSeries: await sizeSeries(discovery.candidates, chosen),
      ignored: discovery.ignored,
      rejected: discovery.rejected,
      ...(settled.grew ? { stillBeingWritten: { waitedSeconds: settled.waitedMs / 1000 } } : {}),
    },
  };
}

/** The dump's facts for the report, once the file is proven whole. */
function dumpFacts(backup: BackupCandidate, inspection: BackupInspection) {
  return {
    kind: inspection.kind,
    format: backup.format,
    sqlBytes: inspection.sqlBytes,
    dumpedFrom: inspection.dumpedFrom,
    dumpedBy: inspection.dumpedBy,
  };
}

/** The precheck's read: the whole file (live server, archives), or a plain backup's head (one pass). */
async function readBackup(): Promise<Verdict> {
  const backup = found.backup as BackupCandidate;
  const inspection = await inspectBackup({
    backup,
    source,
    executor,
    read: onePass ? 'header' : 'whole',
    look: found.look,
    growthCheckIntervalSeconds: plan.growthCheckIntervalSeconds,
  });
  found.inspection = inspection;
  if (inspection.proven === 'header') {
    return {
      ok: true,
      summary: `${inspection.kind} dump from PostgreSQL ${inspection.dumpedFrom?.text ?? '?'} (pg_dump ${inspection.dumpedBy?.text ?? '?'}): its header read in the first ${inspection.sqlBytes} bytes of SQL; gzip to its end and the trailer are checked on the restore's own stream (restore: completed)`,
      facts: { header: { kind: inspection.kind, headBytes: inspection.sqlBytes, proven: 'header' } },
    };
  }
  return {
    ok: true,
    summary: inspection.toc
      ? `${backup.format} archive of ${inspection.toc.dbname ?? '?'}: ${inspection.toc.tocEntries} TOC entries, ${inspection.toc.tables.length} table(s) with data, every block decompresses`
      : `${inspection.kind} dump, ${inspection.sqlBytes} bytes of SQL, ends with its trailer`,
    facts: { dump: dumpFacts(backup, inspection) },
  };
}

/** The refusals before anything is written: a live server never gets a whole cluster, and the like. */
function refuseUnsafe(inspection: BackupInspection): void {
  const name = found.backup?.name;
  // The table drill writes only its own scratch database, on any server.
  if (inspection.kind === 'pg_dumpall' && !target.scratch && restoreMode === 'cluster' && !plan.table) {
    throw new UnsafeTargetError(
      `Refusing to replay a whole pg_dumpall into ${target.description}: it is not a scratch server, and a whole cluster restore would rewrite its roles and other databases. Use --mode canary (or canary-copy) to restore only the canary.`,
    );
  }
  if (restoreMode !== 'cluster' && found.backup?.format !== 'plain') {
    throw new UnsafeTargetError(
      `--mode ${restoreMode} restores one database's section out of a pg_dumpall; ${name} is a pg_dump archive. Use --mode cluster with a scratch target.`,
    );
  }
  if (plan.allowedErrors.length > 0 && found.backup?.format !== 'plain') {
    // pg_restore runs with --exit-on-error and cannot go on past an accepted error: the rules would
    // silently not apply.
    throw new ConfigError(
      'expect',
      `the expectations file's allow: rules apply to psql restores of plain dumps; ${name} is a pg_dump archive, restored by pg_restore --exit-on-error, where they cannot apply. Remove the allow: rules for this backup set.`,
    );
  }
}

/** Extensions and tablespaces, before anything is written: in canary modes only the canary's section. */
async function checkNeeds(file: string, inspection: BackupInspection, notes: string[]) {
  const requirements = inspection.requirements ?? {
    extensions: [],
    tablespacesCreated: [],
    tablespacesUsed: [],
  };
  const section = restoreMode === 'cluster' || inspection.kind !== 'pg_dumpall' ? undefined : canary;
  const offer = await withClient(target.connection, target.connection.database, readTargetOffer);
  const extensions = checkExtensions(
    file,
    requirements.extensions.filter((e) => {
      const only = plan.table?.database ?? section;
      return only === undefined || e.database === only;
    }),
    offer.extensions,
    { description: target.description, major: target.serverVersion.major },
  );
  const tablespaces = checkTablespaces(
    file,
    requirements,
    section === undefined ? { cluster: true } : { cluster: false, database: section },
    { ...offer.tablespaces, description: target.description },
  );
  if (extensions.needed.length) {
    notes.push(
      `${extensions.needed.length} extension(s) the dump creates (${extensions.needed.join(', ')}), all among the target's ${extensions.available} available`,
    );
  }
  if (tablespaces.remapped.length) {
    notes.push(
      `tablespace(s) ${tablespaces.remapped.map((t) => t.name).join(', ')} will be made inside the server's own directory, never at the dump's LOCATION`,
    );
  }
  if (inspection.proven === 'header') {
    notes.push(
      "read from the header and the globals: the extensions and tablespaces the databases' sections use are checked as the restore replays them",
    );
  }
  return { extensions, tablespaces };
}

async function checkFitsTarget(): Promise<Verdict> {
  const inspection = found.inspection as BackupInspection;
  refuseUnsafe(inspection);
  const psql = await executor.toolVersion('psql');
  const file = found.backup?.path ?? '';
  const upgrade = crossMajor(inspection, target.serverVersion);
  // The cross-major note first: the step's line shows the start of its summary.
  const notes = upgrade ? [`a cross-major restore: PostgreSQL ${upgrade.from} → ${upgrade.to}`] : [];
  notes.push(...checkRestorable(file, inspection, target.serverVersion, psql));
  const { extensions, tablespaces } = await checkNeeds(file, inspection, notes);
  found.restorable = true;
  return {
    ok: true,
    summary: `dump from ${inspection.dumpedFrom?.text ?? '?'} restores into PostgreSQL ${target.serverVersion.text} with psql ${psql?.text ?? '?'}${notes.length ? ` (${notes.join('; ')})` : ''}`,
    facts: {
      psql: psql?.text,
      server: target.serverVersion.text,
      notes,
      crossMajor: upgrade ?? null,
      extensions,
      tablespaces,
    },
  };
}

/** The canary as it is before the restore: its rows (when it holds the contract) and what earlier runs left. */
async function takeSnapshot(ctx: TestContext): Promise<{ unusable?: string }> {
  const condition = await inspectCanary(target.connection, canary, plan.runId);
  found.condition = condition;
  // null: no canary to snapshot, said so; a snapshot that could not be read leaves it unset (its step
  // fails, and what needs it says so rather than "the target held no canary").
  if (condition.state !== 'present') {
    found.snapshot = null;
    return {};
  }
  try {
    found.snapshot = await withClient(target.connection, canary, (client) =>
      snapshotCanary(client, {
        executor,
        database: canary,
        contract,
        settings: readSettings,
        signal: ctx.signal,
      }),
    );
    return {};
  } catch (error) {
    if (!(error instanceof CanaryContractError)) throw error;
    found.snapshot = null;
    return { unusable: error.message };
  }
}

async function snapshotStep(ctx: TestContext): Promise<Verdict> {
  const { unusable } = await takeSnapshot(ctx);
  const condition = found.condition as CanaryCondition;
  const heldTo = expectations?.databases[canary]
    ? `the expectations of ${expectations.file}`
    : "the canary's contract only";
  const replacedBy = swapping
    ? 'the verified restore replaces it'
    : restoreMode === 'cluster'
      ? 'it is dropped and restored'
      : '--mode canary replaces it when a drill passes';
  const noted = describeCondition(canary, condition, replacedBy);
  const snap = found.snapshot;
  const head = snap
    ? `${snap.users.lines.length} row(s) of ${snap.contract.users.table} (names in ${snap.contract.users.nameColumn}), ${snap.transactions.lines.length} of ${snap.contract.transactions.table} before the ${swapping ? 'restore' : 'drop'}`
    : unusable
      ? `${canary} on the target does not hold the canary's contract (${unusable}): nothing to snapshot; the restored rows are held to ${heldTo}`
      : condition.state === 'missing'
        ? `${canary} absent before the restore: nothing to snapshot (the restored rows are held to ${heldTo})${condition.markedBy ? `; it was last left by run ${condition.markedBy}` : ''}`
        : '';
  return {
    ok: true,
    summary: [head, noted].filter(Boolean).join('; '),
    facts: {
      snapshot: found.snapshot,
      ...(unusable ? { unusable } : {}),
      canaryBefore: { state: condition.state, markedBy: condition.markedBy ?? null },
      leftovers: condition.leftovers,
      ...(condition.unproven.length ? { unprovenDrillDatabases: condition.unproven } : {}),
    },
  };
}

async function dropCanary(): Promise<Verdict> {
  if (restoreMode === 'canary-copy') {
    found.dropped = true;
    return {
      ok: true,
      summary: `copy mode: ${canary} is left alone; its section is restored as ${restoreInto}`,
      facts: {},
    };
  }
  const gone = await withClient(target.connection, target.connection.database, async (client) => {
    await dropDatabase(client, canary, { canary, createdThisRun: [] });
    return !(await databaseExists(client, canary));
  });
  if (gone) found.dropped = true;
  return {
    ok: gone,
    summary: gone
      ? `${canary} dropped; pg_database no longer lists it`
      : `${canary} still listed after DROP DATABASE`,
    facts: {},
  };
}

async function restore(ctx: TestContext): Promise<Verdict> {
  const backup = found.backup as BackupCandidate;
  const inspection = found.inspection as BackupInspection;
  // Progress on the harness's writer, never in the report or JUnit.
  const meter = progressMeter({
    ...plan.progress,
    out,
    phase: 'restore',
    totalBytes: backup.sizeBytes,
    clock: () => performance.now(),
  });
  try {
    const restored = await restoreBackup({
      backup,
      inspection,
      source,
      look: found.look,
      growthCheckIntervalSeconds: plan.growthCheckIntervalSeconds,
      executor,
      connection: target.connection,
      mode: restoreMode,
      canary,
      restoreInto,
      scratchMark,
      // On a server the drill did not start, its lock session sits in the maintenance database.
      keepDatabase: target.kind === 'url' ? target.connection.database : undefined,
      jobs: plan.jobs,
      rtoSeconds: plan.rtoSeconds,
      rtoCeilingSeconds: plan.rtoCeilingSeconds,
      allowedErrors: plan.allowedErrors,
      digest: plan.verify === 'deep',
      signal: ctx.signal,
      clock: () => performance.now(),
      progress: { update: (bytes) => meter.update(bytes), done: () => meter.done() },
    });
    found.restore = restored;
    found.restoreSeconds = restored.seconds;
    found.digests = restored.digests;
    // Read on the restore's stream (--verify deep), or, for an archive, in its precheck (restoreBackup hands those on).
    restoredSetvals = restored.sequences;
    if (restored.dumpComment !== undefined) found.dumpComment = restored.dumpComment;
    if (restored.inspection) found.inspection = restored.inspection;
    return {
      ok: true,
      summary: restored.summary,
      facts: {
        restore: { seconds: restored.seconds, rtoBudgetSeconds: plan.rtoSeconds, ...restored.facts },
        ...(restored.inspection ? { dump: dumpFacts(backup, restored.inspection) } : {}),
      },
    };
  } catch (error) {
    throw await restoreFailed(ctx, error);
  }
}

/**
 * A failed restore: its psql sessions ended, a stop at the ceiling timed, psql's errors kept. A local
 * target that went away is explained by its server.log, read before the run removes it.
 */
async function restoreFailed(ctx: TestContext, error: unknown): Promise<unknown> {
  // A psql stopped mid-statement leaves its server session running: end it before anything else.
  await endToolSessions(target.connection).catch(() => 0);
  if (error instanceof RestoreTimeoutError) {
    found.restoreSeconds = error.elapsedSeconds;
    found.stoppedAtCeiling = true;
  }
  if (error instanceof RestoreFailedError) {
    harness.meta(ctx).facts = {
      errors: error.errors.map((e) => ({ ...e, hint: hintFor(e) })),
      psqlExit: error.exitStatus,
    };
  }
  return explainedByServerLog(error, target);
}

async function withinBudget(): Promise<Verdict> {
  const seconds = found.restoreSeconds as number;
  const budget = plan.rtoSeconds;
  const stopped = found.stoppedAtCeiling === true;
  const ok = !stopped && seconds <= budget;
  return {
    ok,
    summary: stopped
      ? `stopped at the ceiling after ${seconds.toFixed(2)} s; the real RTO is over ${seconds.toFixed(2)} s (budget ${budget} s, ceiling ${plan.rtoCeilingSeconds} s)`
      : ok
        ? `${seconds.toFixed(2)} s of a ${budget} s budget`
        : `the restore took ${seconds.toFixed(2)} s, ${(seconds - budget).toFixed(2)} s over the ${budget} s budget`,
    facts: {
      seconds,
      rtoBudgetSeconds: budget,
      rtoCeilingSeconds: plan.rtoCeilingSeconds,
      stoppedAtCeiling: stopped,
    },
  };
}

async function canaryIsBack(): Promise<Verdict> {
  const back = await withClient(target.connection, target.connection.database, (c) =>
    databaseExists(c, verified),
  );
  if (back) found.canaryBack = true;
  return {
    ok: back,
    summary: back
      ? `${verified} is back`
      : `${verified} was not restored: the backup does not hold ${canary}`,
    facts: {},
  };
}

async function checkRestoredUsers(ctx: TestContext): Promise<Verdict> {
  const current = await withClient(target.connection, verified, (client) =>
    snapshotCanary(client, {
      executor,
      database: verified,
      contract,
      settings: readSettings,
      signal: ctx.signal,
    }),
  );
  found.current = current;
  const verdict = checkUsers(current, canaryBasis());
  return { ...verdict, facts: { ...verdict.facts, contract: current.contract } };
}

/**
 * A session of the drill's own on a restored database, for deep verification's read-back. Named as the
 * tools' sessions are: ending the tools' sessions (a stop) ends these too.
 */
const readSession = (database: string) => connect(target.connection, database, TOOL_APPLICATION_NAME);

/** The setvals the restore's stream or the precheck read (--verify deep, archives), else undefined. */
let restoredSetvals: readonly DumpedSequence[] | undefined;
/** The backup's setvals read once more, when a sequence is behind and none were read on the way. */
let setvalsReread: Promise<readonly DumpedSequence[] | string> | undefined;

/**
 * The setvals of `database`'s section, for a sequence found behind its column: the sequences check
 * tells a source that was behind already (restored as it was) from a restore that lost the value.
 */
function dumpedIn(database: string, signal: AbortSignal): DumpedSequences {
  return async () => {
    const backup = found.backup as BackupCandidate;
    setvalsReread ??= restoredSetvals
      ? Promise.resolve(restoredSetvals)
      : readDumpedSequences(backup, source, signal).catch((error: Error) => {
          // Stopped with the step that asked: a later step reads again rather than inherit the stop.
          if (signal.aborted) setvalsReread = undefined;
          return `reading ${backup.name} again: ${error.message}`;
        });
    const all = await setvalsReread;
    if (typeof all === 'string') return all;
    return all.filter((s) => s.database === database || s.database === '');
  };
}

/** A check that compared nothing has not passed: it skips itself, saying why (never "0 of anything"). */
function nothingCompared(ctx: TestContext, verdict: Verdict, compared: number, why: string): Verdict {
  if (verdict.ok && compared === 0) ctx.skip(`nothing to check: ${why}`);
  return verdict;
}

async function canarySequences(ctx: TestContext): Promise<Verdict> {
  const verdict = await withClient(target.connection, verified, (client) =>
    checkSequences(client, dumpedIn(canary, ctx.signal)),
  );
  const facts = (verdict.facts.sequences as SequenceFact[] | undefined) ?? [];
  const why = facts.length
    ? `none of ${verified}'s ${facts.length} owned sequence(s) can be compared with its column (${facts.map((f) => f.notCompared).join('; ')})`
    : `${verified} has no owned sequence (no serial or identity column)`;
  return nothingCompared(ctx, verdict, sequencesCompared(facts), why);
}

/** --verify deep's two checks, started together by whichever of their steps runs first. */
let deepChecks: DeepChecks | undefined;
function startDeep(ctx: TestContext): DeepChecks {
  const names = [...new Set((found.digests ?? []).filter((d) => d.kind === 'table').map((d) => d.database))];
  deepChecks ??= startDeepChecks({
    tables: {
      executor,
      connect: readSession,
      expected: found.digests ?? [],
      databaseFor: restoredName,
      timeZone: plan.sourceTimeZone,
      allowUnverified: plan.allowUnverified,
      clock: () => performance.now(),
      signal: ctx.signal,
    },
    constraints: {
      databases: names.map((database) => ({ database, restoredDatabase: restoredName(database) })),
      withDatabase: (database, fn) => withClient(target.connection, database, fn),
      dumpedIn: (database) => dumpedIn(database, ctx.signal),
    },
  });
  return deepChecks;
}

async function everyTable(ctx: TestContext): Promise<Verdict> {
  if (plan.verify !== 'deep') ctx.skip('not run: --verify canary (--verify deep reads every table back)');
  const { verdict, tables, sessions } = await startDeep(ctx).tables;
  return { ...verdict, facts: { ...verdict.facts, deep: { tables, sessions } } };
}

/** Run beside the tables' read-back (lib/verify/deep-checks.ts), started with it. */
async function constraintsEverywhere(ctx: TestContext): Promise<Verdict> {
  if (plan.verify !== 'deep')
    ctx.skip("not run: --verify canary (--verify deep checks every restored database's constraints)");
  const verdict = await startDeep(ctx).constraints;
  const databases = (verdict.facts.databases ?? []) as {
    foreignKeys?: unknown[];
    sequences?: SequenceFact[];
  }[];
  const keys = databases.reduce((n, d) => n + (d.foreignKeys?.length ?? 0), 0);
  const sequences = databases.reduce((n, d) => n + sequencesCompared(d.sequences ?? []), 0);
  return nothingCompared(
    ctx,
    verdict,
    keys + sequences,
    `the ${databases.length} restored database(s) hold no foreign key and no owned sequence that can be compared with its column`,
  );
}

function holdExpectations(ctx: TestContext): Promise<Verdict> {
  if (!expectations) throw new Error('declared only with an expectations file');
  return checkExpectations({
    expectations,
    executor,
    connection: target.connection,
    restoreMode,
    canary,
    databaseFor: (database) => (database === canary ? verified : database),
    timeZone: plan.sourceTimeZone,
    clock: () => performance.now(),
    signal: ctx.signal,
  });
}

/** The operator's own check: run in the database it names (the verified copy for the canary). */
async function operatorAssertion(assertion: Assertion, ctx: TestContext): Promise<Verdict> {
  const onCanary = assertion.database === canary;
  if (!onCanary && restoreMode !== 'cluster') {
    ctx.skip(`not run: --mode ${restoreMode} restores only ${canary}'s section, not ${assertion.database}`);
  }
  const database = onCanary ? verified : assertion.database;
  const exists = await withClient(target.connection, target.connection.database, (c) =>
    databaseExists(c, database),
  );
  if (!exists) {
    return {
      ok: false,
      summary: `"${assertion.name}": database ${assertion.database} is not in the restored backup`,
      facts: { database: assertion.database, sql: assertion.sql },
    };
  }
  return withClient(target.connection, database, (client) =>
    runAssertion(client, assertion, {
      timeoutSeconds: plan.assertionTimeoutSeconds,
      backupTakenAt: found.backup?.takenAt,
      runId: plan.runId,
    }),
  );
}

async function swap(ctx: TestContext): Promise<Verdict> {
  const notPassed = [...harness.outcomes]
    .filter(([name, outcome]) => name !== ctx.task.name && (outcome === 'failed' || outcome === 'not run'))
    .map(([name]) => name);
  if (notPassed.length) {
    ctx.skip(
      `not run: ${notPassed.join(', ')} did not pass: ${canary} is left as it was, and ${restoreInto} is dropped`,
    );
  }
  const swapped = await swapCanary({
    connection: target.connection,
    canary,
    scratch: restoreInto,
    runId: plan.runId,
    comment: found.dumpComment ?? null,
    waitMs: SWAP_WAIT_MS,
    signal: ctx.signal,
    clock: () => performance.now(),
  });
  const leftovers = found.condition?.leftovers ?? [];
  const dropped = await dropLeftovers(target.connection, canary, leftovers);
  const before =
    found.condition?.state === 'empty'
      ? `the empty ${canary} an earlier run left${found.condition.markedBy ? ` (run ${found.condition.markedBy})` : ''}`
      : found.condition?.state === 'missing'
        ? `no ${canary} (it was missing)`
        : `the previous ${canary}`;
  return {
    ok: true,
    summary: `${restoreInto} (verified) renamed to ${canary}, in one transaction with ${before}${swapped.replaced ? ` renamed to ${swapped.replaced}, then dropped` : ''}${dropped.length ? `; dropped the leftovers of earlier runs: ${dropped.join(', ')}` : ''}`,
    facts: { swap: { ...swapped, leftoversDropped: dropped } },
  };
}

/** --self-test: the precheck on a faulted copy of the newest backup, streamed (it must fail). */
async function precheckFaultStep(fault: 'truncated' | 'bit-flipped', ctx: TestContext): Promise<Verdict> {
  const backup = found.backup as BackupCandidate;
  const inapplicable = precheckFaultsInapplicable(backup);
  if (inapplicable) ctx.skip(inapplicable);
  return faultVerdict(await precheckFault({ backup, source, executor, fault }));
}

/** --self-test: deep verification of one table with one row changed, rolled back (it must fail). */
async function rowFaultStep(ctx: TestContext): Promise<Verdict> {
  const outcome = await rowFault({
    executor,
    connect: readSession,
    expected: found.digests ?? [],
    databaseFor: restoredName,
    timeZone: plan.sourceTimeZone,
    clock: () => performance.now(),
    signal: ctx.signal,
  });
  return faultVerdict(outcome);
}

/** --self-test: the users check on the canary with one user deleted, rolled back (it must fail). */
async function canaryFaultStep(ctx: TestContext): Promise<Verdict> {
  const outcome = await canaryFault({
    executor,
    connection: target.connection,
    database: verified,
    contract,
    settings: readSettings,
    basis: canaryBasis(),
    signal: ctx.signal,
  });
  return faultVerdict(outcome);
}

type Step = StepDeclaration<Needed>;
const restoreTimeoutMs = plan.rtoCeilingSeconds * 1000 + STEP_TIMEOUT_MS;
/**
 * A step that passes over the backup's data (the precheck's whole read, the self-test's damaged copies,
 * the deep read-back, the foreign keys of every database) takes time in proportion to the backup, as
 * the restore does: it is bounded as the restore is, by --rto-ceiling. At the steps' 60 s, the deep
 * read-back of a backup of some 7 GB failed a healthy drill with "Test timed out".
 */
const dataPassTimeoutMs = restoreTimeoutMs;
const findTimeoutMs =
  plan.waitForNewestSeconds * 1000 + plan.growthCheckIntervalSeconds * 2000 + STEP_TIMEOUT_MS;

/** The drill, step by step. */
const STEPS: Step[] = [
  {
    name: 'backup: newest backup found',
    phase: 'precheck',
    needs: [],
    provides: ['backup'],
    timeoutMs: findTimeoutMs,
    run: findNewestBackup,
  },
  {
    name: onePass ? 'precheck: backup header read' : 'precheck: backup is whole',
    phase: 'precheck',
    needs: ['backup'],
    provides: ['inspection'],
    timeoutMs: dataPassTimeoutMs,
    run: readBackup,
  },
  // --self-test, before the backup is trusted: the precheck must fail on damaged copies of it.
  {
    name: 'self-test: a truncated copy fails the precheck',
    phase: 'self-test',
    needs: ['inspection'],
    when: plan.selfTest,
    timeoutMs: dataPassTimeoutMs,
    run: (ctx) => precheckFaultStep('truncated', ctx),
  },
  {
    name: 'self-test: a bit-flipped copy fails the precheck',
    phase: 'self-test',
    needs: ['inspection'],
    when: plan.selfTest,
    timeoutMs: dataPassTimeoutMs,
    run: (ctx) => precheckFaultStep('bit-flipped', ctx),
  },
  {
    name: 'precheck: dump fits the target',
    phase: 'precheck',
    needs: ['inspection'],
    provides: ['restorable'],
    run: checkFitsTarget,
  },
  // Canary mode drops nothing before the restore: its snapshot is a precheck, and the swap comes last.
  {
    name: swapping ? 'precheck: canary snapshot taken' : 'drop: canary snapshot taken',
    phase: swapping ? 'precheck' : 'drop',
    needs: ['restorable'],
    provides: ['snapshot'],
    needsCanary: true,
    run: snapshotStep,
  },
  {
    name: 'drop: canary dropped and gone',
    phase: 'drop',
    needs: ['restorable', 'snapshot'],
    provides: ['dropped'],
    needsCanary: true,
    when: !swapping,
    run: dropCanary,
  },
  {
    name: 'restore: completed',
    phase: 'restore',
    needs: swapping ? ['restorable', 'snapshot'] : ['dropped'],
    provides: ['restore', 'restoreSeconds'],
    timeoutMs: restoreTimeoutMs,
    run: restore,
  },
  { name: 'restore: within the RTO budget', phase: 'restore', needs: ['restoreSeconds'], run: withinBudget },
  {
    name: 'verify: canary exists again',
    phase: 'verify',
    needs: ['restore'],
    provides: ['canaryBack'],
    needsCanary: true,
    run: canaryIsBack,
  },
  // --self-test, before the real checks read the restore: each must fail on a fault only it sees.
  {
    name: 'self-test: a changed row fails deep verification',
    phase: 'self-test',
    needs: ['restore'],
    when: plan.selfTest,
    timeoutMs: dataPassTimeoutMs,
    run: rowFaultStep,
  },
  {
    name: 'self-test: a canary missing a user fails its check',
    phase: 'self-test',
    needs: ['canaryBack'],
    needsCanary: true,
    when: plan.selfTest,
    run: canaryFaultStep,
  },
  {
    name: 'verify: users are exactly alice, bob and charlie',
    phase: 'verify',
    needs: ['canaryBack'],
    provides: ['current'],
    needsCanary: true,
    run: checkRestoredUsers,
  },
  {
    name: 'verify: transactions are as expected',
    phase: 'verify',
    needs: ['current'],
    needsCanary: true,
    run: async () => checkTransactions(found.current as CanarySnapshot, canaryBasis()),
  },
  {
    name: 'verify: canary foreign key present',
    phase: 'verify',
    needs: ['current'],
    needsCanary: true,
    run: async () => checkCanaryForeignKey((found.current as CanarySnapshot).contract),
  },
  {
    name: 'verify: foreign keys validated, no orphans',
    phase: 'verify',
    needs: ['canaryBack'],
    needsCanary: true,
    run: () => withClient(target.connection, verified, checkForeignKeys),
  },
  {
    name: 'verify: sequences beyond their columns',
    phase: 'verify',
    needs: ['canaryBack'],
    needsCanary: true,
    // A sequence behind its column has the backup read once more for its setvals: a pass over the data.
    timeoutMs: dataPassTimeoutMs,
    run: canarySequences,
  },
  {
    name: 'verify: every table matches the backup',
    phase: 'verify',
    needs: ['restore'],
    timeoutMs: dataPassTimeoutMs,
    run: everyTable,
  },
  {
    name: 'verify: foreign keys and sequences in every database',
    phase: 'verify',
    needs: ['restore'],
    timeoutMs: dataPassTimeoutMs,
    run: constraintsEverywhere,
  },
  {
    name: `verify: expectations of ${basename(expectations?.file ?? '')} hold`,
    phase: 'verify',
    needs: ['restore'],
    when: Object.keys(expectations?.databases ?? {}).length > 0,
    timeoutMs: STEP_TIMEOUT_MS * 10,
    run: holdExpectations,
  },
  // The operator's own checks: each its own step, line, JUnit case and report entry.
  ...(expectations?.assertions ?? []).map(
    (assertion): Step => ({
      name: `assert: ${assertion.name}`,
      phase: 'verify',
      needs: ['restore'],
      timeoutMs: ((assertion.timeoutSeconds ?? plan.assertionTimeoutSeconds) + 30) * 1000,
      run: (ctx) => operatorAssertion(assertion, ctx),
    }),
  ),
  {
    name: 'swap: verified restore replaces the canary',
    phase: 'verify',
    needs: ['restore'],
    when: swapping,
    run: swap,
  },
];

/** `--table`: the prechecks, then the one table into its scratch database (drills/support/table-steps.ts). */
const TABLE_STEPS: Step[] = plan.table
  ? [
      ...STEPS.filter((step) => step.phase === 'precheck' && !step.needsCanary),
      ...tableSteps<Needed>(
        {
          table: plan.table,
          runId: plan.runId,
          target,
          executor,
          source,
          backup: () => found.backup,
          mark: drillMark(
            plan.runId,
            'scratch',
            canary,
            `table drill of ${showTableName(plan.table)}; dropped at the end of the run`,
          ),
          rtoSeconds: plan.rtoSeconds,
          rtoCeilingSeconds: plan.rtoCeilingSeconds,
          restoreTimeoutMs,
          sourceTimeZone: plan.sourceTimeZone,
          ...(expectations ? { expectations } : {}),
          meta: (ctx) => harness.meta(ctx),
        },
        ['restorable'],
        {
          key: 'tableRestored',
          set: (restored) => {
            found.tableRestored = restored;
          },
          get: () => found.tableRestored,
        },
      ),
    ]
  : [];

describe(canary === 'none' ? 'restore drill (no canary)' : `restore drill of ${canary}`, () =>
  harness.declare(plan.table ? TABLE_STEPS : STEPS),
);
