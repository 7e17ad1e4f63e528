/**
 * The restore drill, one `it` per check so a failing drill names the step that failed. Steps run in
 * order and share what they found; a step whose prerequisite did not pass is skipped, saying why.
 * Run through `npm run drill`, which starts the target and provides the plan.
 */
// A signal to the process group is the CLI's to act on: the worker must not die of it mid-step.
import '../lib/drill/worker-signals.ts';
import { basename } from 'node:path';
import { assert, describe, inject, it, type TestContext } from 'vitest';
import { inspectArchive } from '../lib/backups/archive-integrity.ts';
import type { BackupCandidate, BackupLook } from '../lib/backups/backup-source.ts';
import { directorySource } from '../lib/backups/directory-source.ts';
import { checkExtensions } from '../lib/backups/extensions-check.ts';
import {
  type BackupInspection,
  checkRestorable,
  crossMajor,
  inspectBackup,
} from '../lib/backups/integrity.ts';
import { grewSince, settledNewest } from '../lib/backups/settle.ts';
import { checkTablespaces } from '../lib/backups/tablespaces-check.ts';
import { readTablespaceLocations, readTargetOffer } from '../lib/backups/target-offer.ts';
import { copyDigest, type TableDigest } from '../lib/dump/copy-digest.ts';
import type { TablespaceRemap } from '../lib/dump/tablespace-remap.ts';
import {
  BackupIncompleteError,
  BackupStillBeingWrittenError,
  BackupTruncatedError,
  ConfigError,
  RestoreFailedError,
  RestoreTimeoutError,
  UnsafeTargetError,
} from '../lib/errors.ts';
import { runAssertion } from '../lib/expect/assertions.ts';
import { checkExpectations } from '../lib/expect/check-expectations.ts';
import {
  commentOnDatabase,
  databaseExists,
  drillMark,
  dropDatabase,
  endToolSessions,
  withClient,
} from '../lib/pg/databases.ts';
import { progressMeter } from '../lib/report/progress.ts';
import type { StepMeta } from '../lib/report/steps.ts';
import type { AcceptedError } from '../lib/restore/allowed-errors.ts';
import { restoreArchive } from '../lib/restore/archive-restore.ts';
import { swapCanary } from '../lib/restore/canary-swap.ts';
import {
  describeExpectedDrops,
  type ExpectedDrop,
  readServerObjects,
} from '../lib/restore/clean-statements.ts';
import { formatSqlError, hintFor } from '../lib/restore/psql-errors.ts';
import type { StreamedDumpOptions } from '../lib/restore/psql-feed.ts';
import { restorePlainDump } from '../lib/restore/psql-restore.ts';
import { restoreDatabaseSection, takeBackMark } from '../lib/restore/section-restore.ts';
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
import { checkForeignKeys, checkSequences } from '../lib/verify/constraints.ts';
import { checkConstraintsEverywhere } from '../lib/verify/constraints-everywhere.ts';
import { verifyDeep } from '../lib/verify/deep.ts';
import type { Verdict } from '../lib/verify/verdict.ts';

const plan = inject('drillPlan');
if (!plan)
  throw new Error('The drills run through `npm run drill`, which starts the target and provides the plan.');
const { target, canary, restoreMode, restoreInto } = plan;
/**
 * Where the restored canary is verified: the canary itself (cluster), or drill_<run id> beside it
 * (canary: swapped in after the verify steps; canary-copy: dropped at the end).
 */
const verified = restoreInto;
/** Canary mode restores beside the live canary and swaps the verified restore in by rename. */
const swapping = restoreMode === 'canary';
/** The drill's mark on the scratch database, so a later run can prove a leftover of this one its own. */
const scratchMark = drillMark(
  plan.runId,
  'scratch',
  canary,
  swapping ? 'renamed to the canary once verified, else dropped' : 'dropped at the end of the run',
);
const executor = await executorFor(target, process.env);
const source = directorySource(plan.backupDir, plan.naming);
const { expectations } = plan;
/** The canary's contract: the expectations file's, else the operator's default (discovered on the server). */
const contract = expectations?.canary
  ? contractFromSpec(expectations.canary, canary)
  : defaultCanaryContract(canary);
/** Rows are read as pg_dump writes them, in the source's time zone: snapshot, expectations and dump agree. */
const readSettings = { encoding: 'UTF8', timeZone: plan.sourceTimeZone };

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
} = {};

type Needed = keyof typeof found;
const STEP_TIMEOUT_MS = 60_000;
/** How long the swap waits for sessions that are not the drill's to leave the canary. */
const SWAP_WAIT_MS = 10_000;
/**
 * Canary mode drops nothing before the restore: its snapshot is a precheck, and instead of the drop the
 * swap comes after the verify steps. Cluster and copy mode snapshot and then drop (copy mode: nothing).
 */
const SNAPSHOT_STEP = swapping ? 'precheck: canary snapshot taken' : 'drop: canary snapshot taken';
/** `--canary none`: a backup with no canary (say an archive of one application database). */
const withCanary = canary !== 'none';

/** What the restored canary's rows are compared with: the snapshot, else the expectations, else the contract. */
function canaryBasis(): CanaryBasis {
  if (found.snapshot) return { kind: 'snapshot', snapshot: found.snapshot };
  const tables = expectations?.databases[canary]?.tables;
  if (expectations && tables) return { kind: 'expectations', file: expectations.file, tables };
  return { kind: 'contract' };
}

/** The record a step leaves for the reporter, even when it fails. */
function stepMeta(ctx: TestContext): StepMeta {
  ctx.task.meta.drill ??= {};
  return ctx.task.meta.drill;
}

/**
 * How each step ended so far: a step that skipped itself by its own choice (deep verification under
 * --verify canary) is `skipped itself`; one whose prerequisites were missing, or interrupted, `not run`.
 */
const outcomes = new Map<string, 'passed' | 'failed' | 'not run' | 'skipped itself'>();

/** Declares one check: skipped unless its prerequisites passed; its verdict and facts reach the report. */
function step(
  name: string,
  needs: Needed[],
  run: (ctx: TestContext) => Promise<Verdict>,
  timeout = STEP_TIMEOUT_MS,
  canaryStep = name.includes('canary'),
): void {
  it(
    name,
    async (ctx) => {
      outcomes.set(name, 'not run');
      if (ctx.signal.aborted) ctx.skip('not run: the drill was interrupted');
      if (!withCanary && canaryStep) {
        // Without a canary nothing is dropped: what follows proceeds as if the drop had happened.
        found.snapshot = null;
        found.dropped = true;
        ctx.skip('not run: --canary none');
      }
      const missing = needs.find((n) => found[n] === undefined);
      if (missing) ctx.skip(`not run: needs ${missing}, which an earlier step did not establish`);
      const meta = stepMeta(ctx);
      try {
        const verdict = await run(ctx);
        meta.summary = verdict.summary;
        meta.facts = { ...meta.facts, ...verdict.facts };
        outcomes.set(name, verdict.ok ? 'passed' : 'failed');
        assert(verdict.ok, verdict.summary);
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        if (outcomes.get(name) === 'not run') {
          outcomes.set(name, code === 'VITEST_PENDING' && !ctx.signal.aborted ? 'skipped itself' : 'failed');
        }
        if (typeof code === 'string') meta.code = code;
        throw error;
      }
    },
    timeout,
  );
}

/** The drop step exists only where the canary is dropped before the restore (not in canary mode). */
const dropStep: typeof step = swapping ? () => {} : step;

interface Restored {
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
}

/** The summary's words for the errors the allow rules accepted. */
function acceptedText(accepted: readonly AcceptedError[]): string {
  return accepted.length
    ? `; accepted ${accepted.length} error(s) by the allow rules: ${accepted.map((a) => `line ${a.line ?? '?'} ${a.sqlstate} ${a.message} (rule ${a.rule})`).join(', ')}`
    : '';
}

/**
 * What every psql restore of the backup is given: the stream with its progress (on stderr, never in
 * the report or JUnit), the RTO budget, the step's abort signal, and under --verify deep the COPY
 * digests (`databaseOfSection` names the database a split section's rows belong to). `finish` records
 * the digests and ends the progress line.
 */
function streamed(backup: BackupCandidate, ctx: TestContext, databaseOfSection?: string) {
  const meter = progressMeter({
    ...plan.progress,
    out: process.stderr,
    phase: 'restore',
    totalBytes: backup.sizeBytes,
    clock: () => performance.now(),
  });
  const digests = plan.verify === 'deep' ? copyDigest({ database: databaseOfSection }) : undefined;
  const options: StreamedDumpOptions = {
    executor,
    source: source.open(backup),
    compression: backup.compression,
    onSourceBytes: (bytes) => meter.update(bytes),
    tap: digests,
    // Over the budget the restore runs on to the ceiling, so the real RTO is learnt; the RTO step judges.
    timeoutMs: plan.rtoCeilingSeconds * 1000,
    budgetMs: plan.rtoSeconds * 1000,
    signal: ctx.signal,
    clock: () => performance.now(),
    allowedErrors: plan.allowedErrors,
  };
  const finish = () => {
    meter.done();
    found.digests = digests?.digests;
  };
  return { options, finish };
}

/** A plain dump: gunzipped and streamed into psql, with progress. */
async function restorePlain(
  backup: BackupCandidate,
  inspection: BackupInspection,
  ctx: TestContext,
): Promise<Restored> {
  const { options, finish } = streamed(backup, ctx);
  // What the server holds as the restore starts: a --clean dump's DROPs of anything else are expected.
  const existing = await withClient(target.connection, target.connection.database, readServerObjects);
  const outcome = await restorePlainDump({
    ...options,
    kind: inspection.kind,
    database: target.connection.database,
    bootstrapRole: target.connection.user,
    existing,
    // Every cluster restore goes into a server that holds nothing of the operator's (see the precheck).
    remapTablespaces: true,
    // On a server the drill did not start, its lock session sits in the maintenance database.
    keepDatabase: target.kind === 'url' ? target.connection.database : undefined,
  });
  finish();
  const seconds = outcome.durationMs / 1000;
  const skipped = outcome.skipped.length
    ? `; skipped the bootstrap role's statements on line(s) ${outcome.skipped.map((s) => s.line).join(', ')}`
    : '';
  const drops = outcome.drops.length ? `; ${describeExpectedDrops(outcome.drops)}` : '';
  if (outcome.tablespaces.length) {
    const where = await withClient(target.connection, target.connection.database, readTablespaceLocations);
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
  };
}

/** One database's section out of a pg_dumpall (canary modes): nothing else on the server is written. */
async function restoreSection(backup: BackupCandidate, ctx: TestContext): Promise<Restored> {
  const { options, finish } = streamed(backup, ctx, canary);
  const outcome = await restoreDatabaseSection({
    ...options,
    database: canary,
    into: restoreInto,
    createDatabase: (statement) =>
      withClient(target.connection, target.connection.database, async (client) => {
        await client.query(statement);
        if (restoreInto !== canary) await commentOnDatabase(client, restoreInto, scratchMark);
      }),
  });
  finish();
  if (restoreInto !== canary) {
    found.dumpComment = await withClient(target.connection, target.connection.database, (client) =>
      takeBackMark(client, restoreInto, scratchMark),
    );
  }
  const seconds = outcome.durationMs / 1000;
  const where = swapping
    ? `${restoreInto}, beside ${canary} (which stays as it was until the verified restore is swapped in)`
    : restoreInto;
  return {
    seconds,
    summary: `${seconds.toFixed(2)} s for the ${outcome.sqlBytes} bytes of ${canary}'s section, restored into ${where} in one transaction${acceptedText(outcome.accepted)}`,
    facts: { sqlBytes: outcome.sqlBytes, skippedStatements: [], acceptedErrors: outcome.accepted },
  };
}

/** A custom or directory archive: pg_restore, in parallel where it can read the file. */
async function restoreFromArchive(backup: BackupCandidate, ctx: TestContext): Promise<Restored> {
  found.digests = found.inspection?.digests;
  const outcome = await restoreArchive({
    executor,
    path: backup.path,
    open: () => source.open(backup),
    jobs: plan.jobs,
    timeoutMs: plan.rtoCeilingSeconds * 1000,
    budgetMs: plan.rtoSeconds * 1000,
    signal: ctx.signal,
    clock: () => performance.now(),
  });
  const seconds = outcome.durationMs / 1000;
  return {
    seconds,
    summary: `${seconds.toFixed(2)} s: pg_restore ${outcome.args.join(' ')} (${outcome.jobs} job(s))`,
    facts: { sqlBytes: backup.sizeBytes, skippedStatements: [], jobs: outcome.jobs },
  };
}

/** A copy-mode restore holds the canary's tables under the copy's name. */
function restoredName(database: string): string {
  return database === canary ? restoreInto : database;
}

describe(`restore drill of ${canary}`, () => {
  step(
    'backup: newest backup found',
    [],
    async (ctx) => {
      const settled = await settledNewest({
        source,
        naming: plan.naming,
        // A backup the drill took itself (self-contained mode) was closed before the specs started.
        intervalMs: plan.mode === 'self-contained' ? 0 : plan.growthCheckIntervalSeconds * 1000,
        waitMs: plan.waitForNewestSeconds * 1000,
        signal: ctx.signal,
        clock: () => performance.now(),
        onGrowing: (candidate, from, to) =>
          process.stderr.write(
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
          ignored: discovery.ignored,
          rejected: discovery.rejected,
          ...(settled.grew ? { stillBeingWritten: { waitedSeconds: settled.waitedMs / 1000 } } : {}),
        },
      };
    },
    plan.waitForNewestSeconds * 1000 + plan.growthCheckIntervalSeconds * 2000 + STEP_TIMEOUT_MS,
  );

  step('precheck: backup is whole', ['backup'], async () => {
    const backup = found.backup as BackupCandidate;
    const inspection = await (backup.format === 'plain'
      ? inspectBackup(backup, source.open(backup))
      : inspectArchive(backup, executor, () => source.open(backup))
    ).catch(async (error: unknown) => {
      // Cut short, but it grew meanwhile: the backup job is still writing it, not broken.
      const grown =
        (error instanceof BackupTruncatedError || error instanceof BackupIncompleteError) && found.look
          ? await grewSince(source, backup, found.look)
          : undefined;
      if (!grown) throw error;
      throw new BackupStillBeingWrittenError(
        backup.path,
        `${backup.path} is still being written: it grew from ${found.look?.sizeBytes} to ${grown.sizeBytes} bytes while the drill read it (it looked whole for ${plan.growthCheckIntervalSeconds} s before). The backup job is still running: drill again once it has finished.`,
        { cause: error },
      );
    });
    found.inspection = inspection;
    return {
      ok: true,
      summary: inspection.toc
        ? `${backup.format} archive of ${inspection.toc.dbname ?? '?'}: ${inspection.toc.tocEntries} TOC entries, ${inspection.toc.tables.length} table(s) with data, every block decompresses`
        : `${inspection.kind} dump, ${inspection.sqlBytes} bytes of SQL, ends with its trailer`,
      facts: {
        dump: {
          kind: inspection.kind,
          format: backup.format,
          sqlBytes: inspection.sqlBytes,
          dumpedFrom: inspection.dumpedFrom,
          dumpedBy: inspection.dumpedBy,
        },
      },
    };
  });

  step('precheck: dump fits the target', ['inspection'], async () => {
    const inspection = found.inspection as BackupInspection;
    if (inspection.kind === 'pg_dumpall' && !target.scratch && restoreMode === 'cluster') {
      throw new UnsafeTargetError(
        `Refusing to replay a whole pg_dumpall into ${target.description}: it is not a scratch server, and a whole cluster restore would rewrite its roles and other databases. Use --mode canary (or canary-copy) to restore only the canary.`,
      );
    }
    if (restoreMode !== 'cluster' && found.backup?.format !== 'plain') {
      throw new UnsafeTargetError(
        `--mode ${restoreMode} restores one database's section out of a pg_dumpall; ${found.backup?.name} is a pg_dump archive. Use --mode cluster with a scratch target.`,
      );
    }
    if (plan.allowedErrors.length > 0 && found.backup?.format !== 'plain') {
      // pg_restore runs with --exit-on-error and cannot go on past an accepted error: the rules would
      // silently not apply.
      throw new ConfigError(
        'expect',
        `the expectations file's allow: rules apply to psql restores of plain dumps; ${found.backup?.name} is a pg_dump archive, restored by pg_restore --exit-on-error, where they cannot apply. Remove the allow: rules for this backup set.`,
      );
    }
    const psql = await executor.toolVersion('psql');
    const file = found.backup?.path ?? '';
    const notes = checkRestorable(file, inspection, target.serverVersion, psql);
    // Extensions and tablespaces, before anything is written: in canary modes only the canary's section.
    const requirements = inspection.requirements ?? {
      extensions: [],
      tablespacesCreated: [],
      tablespacesUsed: [],
    };
    const section = restoreMode === 'cluster' || inspection.kind !== 'pg_dumpall' ? undefined : canary;
    const offer = await withClient(target.connection, target.connection.database, readTargetOffer);
    const extensions = checkExtensions(
      file,
      requirements.extensions.filter((e) => section === undefined || e.database === section),
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
    const upgrade = crossMajor(inspection, target.serverVersion);
    if (upgrade) notes.push(`a cross-major restore: PostgreSQL ${upgrade.from} → ${upgrade.to}`);
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
  });

  step(SNAPSHOT_STEP, ['restorable'], async (ctx) => {
    const condition = await inspectCanary(target.connection, canary, plan.runId);
    found.condition = condition;
    let unusable: string | undefined;
    found.snapshot = null;
    if (condition.state === 'present') {
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
      } catch (error) {
        if (!(error instanceof CanaryContractError)) throw error;
        unusable = error.message;
      }
    }
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
  });

  dropStep('drop: canary dropped and gone', ['restorable', 'snapshot'], async () => {
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
  });

  step(
    'restore: completed',
    swapping ? ['restorable', 'snapshot'] : ['dropped'],
    async (ctx) => {
      const backup = found.backup as BackupCandidate;
      const inspection = found.inspection as BackupInspection;
      try {
        const restored =
          backup.format !== 'plain'
            ? await restoreFromArchive(backup, ctx)
            : restoreMode === 'cluster'
              ? await restorePlain(backup, inspection, ctx)
              : await restoreSection(backup, ctx);
        found.restore = restored;
        found.restoreSeconds = restored.seconds;
        return {
          ok: true,
          summary: restored.summary,
          facts: {
            restore: { seconds: restored.seconds, rtoBudgetSeconds: plan.rtoSeconds, ...restored.facts },
          },
        };
      } catch (error) {
        // A psql stopped mid-statement leaves its server session running: end it before anything else.
        await endToolSessions(target.connection).catch(() => 0);
        if (error instanceof RestoreTimeoutError) {
          found.restoreSeconds = error.elapsedSeconds;
          found.stoppedAtCeiling = true;
        }
        if (error instanceof RestoreFailedError) {
          stepMeta(ctx).facts = {
            errors: error.errors.map((e) => ({ ...e, hint: hintFor(e) })),
            psqlExit: error.exitStatus,
          };
        }
        throw error;
      }
    },
    plan.rtoCeilingSeconds * 1000 + STEP_TIMEOUT_MS,
  );

  step('restore: within the RTO budget', ['restoreSeconds'], async () => {
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
  });

  step('verify: canary exists again', ['restore'], async () => {
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
  });

  step('verify: users are exactly alice, bob and charlie', ['canaryBack'], async (ctx) => {
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
  });

  step('verify: transactions match the snapshot', ['current'], async () =>
    checkTransactions(found.current as CanarySnapshot, canaryBasis()),
  );

  step('verify: canary foreign key present', ['current'], async () =>
    checkCanaryForeignKey((found.current as CanarySnapshot).contract),
  );

  step('verify: foreign keys validated, no orphans', ['canaryBack'], () =>
    withClient(target.connection, verified, checkForeignKeys),
  );

  step('verify: sequences beyond their columns', ['canaryBack'], () =>
    withClient(target.connection, verified, checkSequences),
  );

  step('verify: every table matches the backup', ['restore'], async (ctx) => {
    if (plan.verify !== 'deep') ctx.skip('not run: --verify canary (--verify deep reads every table back)');
    const expected = found.digests ?? [];
    const { verdict, tables, sessions } = await verifyDeep({
      executor,
      expected,
      databaseFor: restoredName,
      timeZone: plan.sourceTimeZone,
      allowUnverified: plan.allowUnverified,
      clock: () => performance.now(),
      signal: ctx.signal,
    });
    return { ...verdict, facts: { ...verdict.facts, deep: { tables, sessions } } };
  });

  step('verify: foreign keys and sequences in every database', ['restore'], async (ctx) => {
    if (plan.verify !== 'deep')
      ctx.skip("not run: --verify canary (--verify deep checks every restored database's constraints)");
    const names = [
      ...new Set((found.digests ?? []).filter((d) => d.kind === 'table').map((d) => d.database)),
    ];
    return checkConstraintsEverywhere(
      names.map((database) => ({ database, restoredDatabase: restoredName(database) })),
      (database, fn) => withClient(target.connection, database, fn),
    );
  });

  if (expectations && Object.keys(expectations.databases).length > 0) {
    step(
      `verify: expectations of ${basename(expectations.file)} hold`,
      ['restore'],
      (ctx) =>
        checkExpectations({
          expectations,
          executor,
          connection: target.connection,
          restoreMode,
          canary,
          databaseFor: (database) => (database === canary ? verified : database),
          timeZone: plan.sourceTimeZone,
          clock: () => performance.now(),
          signal: ctx.signal,
        }),
      STEP_TIMEOUT_MS * 10,
      false,
    );
  }

  // The operator's own checks: each its own step, line, JUnit case and report entry.
  for (const assertion of expectations?.assertions ?? []) {
    step(
      `assert: ${assertion.name}`,
      ['restore'],
      async (ctx) => {
        const onCanary = assertion.database === canary;
        if (!onCanary && restoreMode !== 'cluster') {
          ctx.skip(
            `not run: --mode ${restoreMode} restores only ${canary}'s section, not ${assertion.database}`,
          );
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
      },
      ((assertion.timeoutSeconds ?? plan.assertionTimeoutSeconds) + 30) * 1000,
      false,
    );
  }

  if (swapping) {
    step('swap: verified restore replaces the canary', ['restore'], async (ctx) => {
      const notPassed = [...outcomes]
        .filter(
          ([name, outcome]) => name !== ctx.task.name && (outcome === 'failed' || outcome === 'not run'),
        )
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
    });
  }
});
