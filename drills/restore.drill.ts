/**
 * The restore drill, one `it` per check so a failing drill names the step that failed. Steps run in
 * order and share what they found; a step whose prerequisite did not pass is skipped, saying why.
 * Run through `npm run drill`, which starts the target and provides the plan.
 */
import { assert, describe, inject, it, type TestContext } from 'vitest';
import { inspectArchive } from '../lib/backups/archive-integrity.ts';
import type { BackupCandidate } from '../lib/backups/backup-source.ts';
import { directorySource, requireCandidates } from '../lib/backups/directory-source.ts';
import {
  type BackupInspection,
  checkRestorable,
  crossMajor,
  inspectBackup,
} from '../lib/backups/integrity.ts';
import { copyDigest, type TableDigest } from '../lib/dump/copy-digest.ts';
import { RestoreFailedError, RestoreTimeoutError, UnsafeTargetError } from '../lib/errors.ts';
import { progressMeter } from '../lib/report/progress.ts';
import type { StepMeta } from '../lib/report/steps.ts';
import { restoreArchive } from '../lib/restore/archive-restore.ts';
import { formatSqlError, hintFor } from '../lib/restore/psql-errors.ts';
import type { StreamedDumpOptions } from '../lib/restore/psql-feed.ts';
import { restorePlainDump } from '../lib/restore/psql-restore.ts';
import { restoreDatabaseSection } from '../lib/restore/section-restore.ts';
import { executorFor } from '../lib/targets/attach.ts';
import { databaseExists, dropDatabase, endToolSessions, withClient } from '../lib/targets/databases.ts';
import {
  type CanarySnapshot,
  checkCanaryForeignKey,
  checkTransactions,
  checkUsers,
  snapshotCanary,
} from '../lib/verify/canary.ts';
import { checkForeignKeys, checkSequences } from '../lib/verify/constraints.ts';
import { verifyDeep } from '../lib/verify/deep.ts';
import type { Verdict } from '../lib/verify/verdict.ts';

const plan = inject('drillPlan');
if (!plan)
  throw new Error('The drills run through `npm run drill`, which starts the target and provides the plan.');
const { target, canary, restoreMode, restoreInto } = plan;
/** Where the restored canary is verified: the canary itself, or its copy (drill_<run id>). */
const verified = restoreInto;
const executor = await executorFor(target, process.env);
const source = directorySource(plan.backupDir, plan.naming);

/** What the steps found so far; a missing entry means the step that sets it did not pass. */
const found: {
  backup?: BackupCandidate;
  inspection?: BackupInspection;
  restorable?: true;
  snapshot?: CanarySnapshot | null;
  dropped?: true;
  restore?: { seconds: number };
  restoreSeconds?: number;
  canaryBack?: true;
  current?: CanarySnapshot;
  /** What each table of the backup holds (count and digest), for --verify deep. */
  digests?: TableDigest[];
} = {};

type Needed = keyof typeof found;
const STEP_TIMEOUT_MS = 60_000;
/** `--canary none`: a backup with no canary (say an archive of one application database). */
const withCanary = canary !== 'none';

/** The record a step leaves for the reporter, even when it fails. */
function stepMeta(ctx: TestContext): StepMeta {
  ctx.task.meta.drill ??= {};
  return ctx.task.meta.drill;
}

/** Declares one check: skipped unless its prerequisites passed; its verdict and facts reach the report. */
function step(
  name: string,
  needs: Needed[],
  run: (ctx: TestContext) => Promise<Verdict>,
  timeout = STEP_TIMEOUT_MS,
): void {
  it(
    name,
    async (ctx) => {
      if (ctx.signal.aborted) ctx.skip('not run: the drill was interrupted');
      if (!withCanary && name.includes('canary')) {
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
        assert(verdict.ok, verdict.summary);
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        if (typeof code === 'string') meta.code = code;
        throw error;
      }
    },
    timeout,
  );
}

interface Restored {
  seconds: number;
  summary: string;
  facts: {
    sqlBytes: number;
    skippedStatements: { line: number; statement: string }[];
    jobs?: number;
    warnings?: string[];
  };
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
    timeoutMs: plan.rtoSeconds * 1000,
    signal: ctx.signal,
    clock: () => performance.now(),
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
  const outcome = await restorePlainDump({
    ...options,
    kind: inspection.kind,
    database: target.connection.database,
    bootstrapRole: target.connection.user,
  });
  finish();
  const seconds = outcome.durationMs / 1000;
  const skipped = outcome.skipped.length
    ? `; skipped the bootstrap role's statements on line(s) ${outcome.skipped.map((s) => s.line).join(', ')}`
    : '';
  return {
    seconds,
    summary: `${seconds.toFixed(2)} s for ${outcome.sqlBytes} bytes of SQL${skipped}`,
    facts: {
      sqlBytes: outcome.sqlBytes,
      skippedStatements: outcome.skipped,
      warnings: outcome.warnings.map(formatSqlError),
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
      }),
  });
  finish();
  const seconds = outcome.durationMs / 1000;
  return {
    seconds,
    summary: `${seconds.toFixed(2)} s for the ${outcome.sqlBytes} bytes of ${canary}'s section, restored into ${restoreInto} in one transaction`,
    facts: { sqlBytes: outcome.sqlBytes, skippedStatements: [] },
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
    timeoutMs: plan.rtoSeconds * 1000,
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

describe(`restore drill of ${canary}`, () => {
  step('backup: newest backup found', [], async () => {
    const discovery = await source.discover();
    const chosen = requireCandidates(discovery, plan.naming);
    found.backup = chosen;
    const ageSeconds = Math.max(0, (plan.startedAt - chosen.takenAt.getTime()) / 1000);
    const passedOver = discovery.rejected.length
      ? `; ${discovery.rejected.length} rejected: ${discovery.rejected.map((r) => `${r.name} (${r.reason})`).join('; ')}`
      : '';
    return {
      ok: true,
      summary: `${chosen.name} (${discovery.candidates.length} candidate(s), ${discovery.ignored.length} other file(s) ignored${passedOver})`,
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
      },
    };
  });

  step('precheck: backup is whole', ['backup'], async () => {
    const backup = found.backup as BackupCandidate;
    const inspection =
      backup.format === 'plain'
        ? await inspectBackup(backup, source.open(backup))
        : await inspectArchive(backup, executor, () => source.open(backup));
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
    const psql = await executor.toolVersion('psql');
    const notes = checkRestorable(found.backup?.path ?? '', inspection, target.serverVersion, psql);
    const upgrade = crossMajor(inspection, target.serverVersion);
    if (upgrade) notes.push(`a cross-major restore: PostgreSQL ${upgrade.from} → ${upgrade.to}`);
    found.restorable = true;
    return {
      ok: true,
      summary: `dump from ${inspection.dumpedFrom?.text ?? '?'} restores into PostgreSQL ${target.serverVersion.text} with psql ${psql?.text ?? '?'}${notes.length ? ` (${notes.join('; ')})` : ''}`,
      facts: { psql: psql?.text, server: target.serverVersion.text, notes, crossMajor: upgrade ?? null },
    };
  });

  step('drop: canary snapshot taken', ['restorable'], async () => {
    const exists = await withClient(target.connection, target.connection.database, (c) =>
      databaseExists(c, canary),
    );
    found.snapshot = exists ? await withClient(target.connection, canary, snapshotCanary) : null;
    return {
      ok: true,
      summary: found.snapshot
        ? `${found.snapshot.users.length} users, ${found.snapshot.transactions.length} transactions before the drop`
        : `${canary} absent before the restore: nothing to snapshot (the restored rows are held to the canary's contract)`,
      facts: { snapshot: found.snapshot },
    };
  });

  step('drop: canary dropped and gone', ['restorable', 'snapshot'], async () => {
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
    ['dropped'],
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
        if (error instanceof RestoreTimeoutError) found.restoreSeconds = error.budgetSeconds;
        if (error instanceof RestoreFailedError) {
          stepMeta(ctx).facts = {
            errors: error.errors.map((e) => ({ ...e, hint: hintFor(e) })),
            psqlExit: error.exitStatus,
          };
        }
        throw error;
      }
    },
    plan.rtoSeconds * 1000 + STEP_TIMEOUT_MS,
  );

  step('restore: within the RTO budget', ['restoreSeconds'], async () => {
    const seconds = found.restoreSeconds as number;
    return {
      ok: seconds <= plan.rtoSeconds,
      summary: `${seconds.toFixed(2)} s of a ${plan.rtoSeconds} s budget`,
      facts: { seconds, rtoBudgetSeconds: plan.rtoSeconds },
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

  step('verify: users are exactly alice, bob and charlie', ['canaryBack'], async () => {
    found.current = await withClient(target.connection, verified, snapshotCanary);
    return checkUsers(found.current);
  });

  step('verify: transactions match the snapshot', ['current'], async () =>
    checkTransactions(found.current as CanarySnapshot, found.snapshot ?? undefined),
  );

  step('verify: canary foreign key present', ['canaryBack'], () =>
    withClient(target.connection, verified, checkCanaryForeignKey),
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
    const { verdict, tables } = await verifyDeep({
      executor,
      expected,
      // A copy-mode restore holds the canary's tables under the copy's name.
      databaseFor: (database) => (database === canary ? restoreInto : database),
      timeZone: plan.sourceTimeZone,
      clock: () => performance.now(),
      signal: ctx.signal,
    });
    return { ...verdict, facts: { ...verdict.facts, deep: { tables } } };
  });
});
