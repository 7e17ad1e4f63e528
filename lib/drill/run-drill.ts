import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dayjs from 'dayjs';
import type { BackupCandidate } from '../backups/backup-source.ts';
import { type BackupNaming, parseBackupPattern } from '../backups/naming.ts';
import type { DrillConfig } from '../config.ts';
import { DrillError } from '../errors.ts';
import { sweepDeadDrills } from '../exec/owned-dirs.ts';
import type { Logger } from '../log.ts';
import {
  copyDatabaseName,
  dropDatabase,
  endToolSessions,
  replacedCanaryName,
  withClient,
} from '../pg/databases.ts';
import { buildReport, type DrillReport } from '../report/report.ts';
import { StepRecorder } from '../report/steps.ts';
import { tableScratchDatabase } from '../table/table-name.ts';
import { executorFor } from '../targets/attach.ts';
import { MEMORY_ROOT } from '../targets/memory-root.ts';
import { startTarget } from '../targets/start-target.ts';
import type { StartedTarget } from '../targets/target.ts';
import { CleanupStack } from './cleanups.ts';
import { readInputs } from './inputs.ts';
import { type DrillPlan, drillPlan } from './plan.ts';
import { publishDrillReport } from './publish-run.ts';
import { makeRunDir } from './run-dir.ts';
import { type SpecSession, startSpecSession } from './run-specs.ts';
import { seedCanary, takeBackup } from './seed.ts';

/** How long a cancelled step may take to stop before the target is stopped under it. */
const STOP_GRACE_MS = 5000;

export interface DrillDeps {
  env: NodeJS.ProcessEnv;
  /** Progress and warnings (stderr). */
  log: Logger;
  /** Step lines and the summary (stdout). */
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
  now: () => Date;
  /** Aborted with the signal's name when the operator or Kubernetes asks the drill to stop. */
  signal: AbortSignal;
  /** The project root: vitest.config.ts and drills/. */
  root: string;
  /** Whether stderr is a terminal: progress is then a line updated in place. */
  stderrIsTTY: boolean;
}

/** What every stage of one run shares: its id, its settings, its cleanups, what it has learnt. */
interface Run {
  config: DrillConfig;
  deps: DrillDeps;
  runId: string;
  startedAt: Date;
  naming: BackupNaming;
  mode: DrillPlan['mode'];
  cleanups: CleanupStack;
  recorder: StepRecorder;
  errors: string[];
  /** Cleanups that failed: reported, never the verdict (a drill's verdict is about the backup). */
  cleanupFailures: string[];
  /** The run's temp directory, once made. */
  work?: string;
  target?: StartedTarget;
  /** While the specs run: a cancelled step that does not stop in time has the target stopped under it. */
  specsRunning?: boolean;
  startError?: string;
}

/**
 * One drill run as named stages: read the inputs, start the target, make a backup when there is none,
 * run the drill specs, clean up (always), report. Every run that got past reading its configuration ends
 * in a report and (when asked) a push, also when it could not start: a vanished backup volume must
 * reach the alerts as much as a failed restore.
 */
export async function runDrill(config: DrillConfig, deps: DrillDeps): Promise<DrillReport> {
  const run = newRun(config, deps);
  let specs: SpecSession | undefined;
  try {
    const inputs = await readInputs(config, run.naming);
    // vitest, its worker and the spec load while the target starts (from when it first waits on a
    // process of its own, TargetDeps.starting); the spec waits for the plan.
    const loadSpecs = () => {
      specs ??= startSpecs(run);
      return specs;
    };
    const target = await startDrillTarget(run, inputs.newestBackup, loadSpecs);
    const session = loadSpecs();
    pushDatabaseCleanups(run, target);
    const backupDir = await backupsToDrill(run, target);
    const plan = drillPlan(
      { ...run, env: deps.env, stderrIsTTY: deps.stderrIsTTY },
      inputs,
      target.handle,
      backupDir,
    );
    await runSpecs(run, session, plan);
  } catch (error) {
    failedBeforeSpecs(run, error);
  } finally {
    // Before the target goes: no worker is left waiting for a plan or running a step.
    await specs?.close();
    run.cleanupFailures.push(...(await run.cleanups.runAll(deps.log)));
  }
  return publish(run);
}

function newRun(config: DrillConfig, deps: DrillDeps): Run {
  const startedAt = deps.now();
  return {
    config,
    deps,
    startedAt,
    runId: `${dayjs.utc(startedAt).format('YYYYMMDD-HHmmss')}-${randomBytes(3).toString('hex')}`,
    naming: parseBackupPattern(config.backupPattern, config.timestampFormat),
    mode: config.backups ? 'backups' : 'self-contained',
    cleanups: new CleanupStack(),
    recorder: new StepRecorder(deps.out, deps.signal),
    errors: [],
    cleanupFailures: [],
  };
}

/**
 * Makes the run's temp directory and starts (or attaches to) the target, pushing how each goes away.
 * A step that does not heed a cancellation (a statement the tool is still waiting on) must not hold the
 * drill past its grace period: the server is then stopped under it, which ends it.
 */
async function startDrillTarget(
  run: Run,
  newestBackup: BackupCandidate | undefined,
  starting: () => void,
): Promise<StartedTarget> {
  const { config, deps, cleanups } = run;
  // What drills killed outright left here (their marks prove them dead drills'): before this run adds its own.
  const swept = await sweepDeadDrills([config.tempDir ?? tmpdir(), MEMORY_ROOT]);
  for (const dir of swept)
    deps.log.info(`removed ${dir}, left by a drill that was killed (its process is gone)`);
  const work = await makeRunDir(config.tempDir);
  cleanups.push(`remove ${work}`, () => rm(work, { recursive: true, force: true }));
  run.work = work;
  const target = await startTarget(config, {
    env: deps.env,
    log: deps.log,
    runId: run.runId,
    newestBackup,
    starting,
  });
  run.target = target;
  const stopTarget = once(() => target.stop());
  cleanups.push('stop the target', async () =>
    config.keep && !deps.signal.aborted ? deps.log.info(await target.keep()) : stopTarget(),
  );
  const onAbort = () => {
    setTimeout(() => {
      if (!run.specsRunning) return;
      deps.log.warn(
        `the running step did not stop within ${STOP_GRACE_MS / 1000} s: stopping the target under it`,
      );
      void stopTarget().catch(() => {});
    }, STOP_GRACE_MS).unref();
  };
  deps.signal.addEventListener('abort', onAbort, { once: true });
  cleanups.push('forget the abort listener', async () => deps.signal.removeEventListener('abort', onAbort));
  return target;
}

/**
 * The run's own databases go at the end whatever happened, before the target: the copy (canary-copy),
 * or the scratch restore that was not swapped in and the canary a swap replaced (canary). After a swap
 * the scratch name no longer exists, and the canary is not touched here. Then, pushed last so it runs
 * first: a stopped psql's session that still holds a lock on the scratch database (its section's
 * COMMENT ON / ALTER DATABASE) would hold the DROP until its statement ends, and on a live server it
 * must not be left running.
 */
function pushDatabaseCleanups(run: Run, target: StartedTarget): void {
  const { config, deps, cleanups, runId } = run;
  const { connection } = target.handle;
  if (config.mode !== 'cluster') {
    const copy = copyDatabaseName(runId);
    const own = config.mode === 'canary' ? [copy, replacedCanaryName(runId)] : [copy];
    cleanups.push(`drop ${own.join(' and ')}`, () =>
      withClient(connection, connection.database, async (client) => {
        for (const name of own)
          await dropDatabase(client, name, { canary: config.canary, createdThisRun: own });
      }),
    );
  }
  if (config.table) {
    // The table drill's scratch database goes on every path (its restore, a failure, a signal).
    const scratch = tableScratchDatabase(runId);
    cleanups.push(`drop ${scratch}`, () =>
      withClient(connection, connection.database, (client) =>
        dropDatabase(client, scratch, { canary: config.canary, createdThisRun: [scratch] }),
      ),
    );
  }
  cleanups.push('end the restore sessions', async () => {
    const ended = await endToolSessions(connection);
    if (ended > 0)
      deps.log.warn(`ended ${ended} restore session(s) a stopped psql had left running on the server`);
  });
}

/** The backup directory to drill: the operator's, or (self-contained) one the drill seeds and fills. */
async function backupsToDrill(run: Run, target: StartedTarget): Promise<string> {
  const { config, deps } = run;
  if (config.backups) return config.backups;
  const dir = join(run.work as string, 'backups');
  await mkdir(dir, { mode: 0o700 });
  deps.log.info(`self-contained mode: seeding ${config.canary} and taking a backup as the CronJob does`);
  await seedCanary(target.handle, config.canary);
  await takeBackup(await executorFor(target.handle, deps.env), run.naming, dir, deps.now());
  return dir;
}

/** Starts vitest on the drill specs, ahead of the plan (lib/drill/run-specs.ts). */
function startSpecs(run: Run): SpecSession {
  const { config, deps } = run;
  return startSpecSession({
    root: deps.root,
    runId: run.runId,
    recorder: run.recorder,
    junit: config.junit,
    signal: deps.signal,
    stdout: deps.out,
    stderr: deps.err,
  });
}

/** Runs the drill specs on the plan, one vitest test per check; their records are the run's steps. */
async function runSpecs(run: Run, specs: SpecSession, plan: DrillPlan): Promise<void> {
  const { config, deps } = run;
  deps.out.write(
    `pg-restore-drill ${run.runId}: ${run.mode} drill ${config.canary === 'none' ? 'without a canary' : `of ${config.canary}`} on ${plan.target.description}\n`,
  );
  run.specsRunning = true;
  let ran = false;
  try {
    ran = await specs.run(plan);
  } finally {
    run.specsRunning = false;
  }
  // Interrupted before the plan was handed over: no check ran, and the spec's "no plan" is no error of the run.
  if (ran) run.errors.push(...run.recorder.runErrors);
}

/**
 * A failure outside the specs. Before a target: bad usage or environment (exit 2) still gets a report;
 * anything else is the CLI's to report. After: it is an error of the run, in its report.
 */
function failedBeforeSpecs(run: Run, error: unknown): void {
  if (run.target) {
    run.errors.push(error instanceof Error ? error.message : String(error));
  } else if (error instanceof DrillError && error.exitCode === 2) {
    run.startError = error.message;
    run.deps.err.write(`pg-restore-drill: ${error.message}\n`);
  } else {
    throw error;
  }
}

/** The run's report, from its steps and what happened outside them, through every reporter. */
async function publish(run: Run): Promise<DrillReport> {
  const { deps } = run;
  const interrupted = deps.signal.aborted ? String(deps.signal.reason) : undefined;
  if (interrupted) run.errors.push(`interrupted by ${interrupted}`);
  const report = buildReport({
    runId: run.runId,
    mode: run.mode,
    startedAt: run.startedAt,
    finishedAt: deps.now(),
    target: run.target?.handle,
    steps: run.recorder.steps,
    errors: run.errors,
    cleanupFailures: run.cleanupFailures,
    interrupted,
    startError: run.startError,
  });
  await publishDrillReport(report, run.config, { ...deps, targetKind: run.target?.handle.kind });
  return report;
}

/** Calls `fn` once; later calls get the first call's promise. */
function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let result: Promise<T> | undefined;
  return () => {
    result ??= fn();
    return result;
  };
}
