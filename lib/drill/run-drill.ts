import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import dayjs from 'dayjs';
import { directorySource, requireCandidates } from '../backups/directory-source.ts';
import { parseBackupPattern } from '../backups/naming.ts';
import type { DrillConfig } from '../config.ts';
import { DrillError } from '../errors.ts';
import { ExpectationsError } from '../expect/errors.ts';
import { type Expectations, loadExpectations } from '../expect/expectations.ts';
import { recordDrillEvent } from '../k8s/events.ts';
import { loadKubeConfig } from '../k8s/kube-config.ts';
import type { Logger } from '../log.ts';
import {
  copyDatabaseName,
  dropDatabase,
  endToolSessions,
  replacedCanaryName,
  withClient,
} from '../pg/databases.ts';
import { publishMetrics } from '../report/publish-metrics.ts';
import { buildReport, type DrillReport, formatSummary, writeReport } from '../report/report.ts';
import { StepRecorder } from '../report/steps.ts';
import { validateAllowRules } from '../restore/allowed-errors.ts';
import { executorFor } from '../targets/attach.ts';
import { startTarget } from '../targets/start-target.ts';
import type { StartedTarget } from '../targets/target.ts';
import type { DrillPlan } from './plan.ts';
import { runDrillSpecs } from './run-specs.ts';
import { seedCanary, takeBackup } from './seed.ts';

/** In a pod of the drill's Job: a DrillSucceeded / DrillFailed Event on the Job. Never fails the run. */
async function recordEvent(
  report: DrillReport,
  config: DrillConfig,
  deps: DrillDeps,
): Promise<DrillReport['event']> {
  try {
    const { kubeConfig, namespace } = loadKubeConfig({
      env: deps.env,
      kubeconfig: config.kubeconfig,
      context: config.context,
      namespace: config.namespace,
    });
    const outcome = await recordDrillEvent({ kubeConfig, report, env: deps.env, namespace, now: deps.now });
    if (!outcome.recorded) deps.log.warn(`could not record the Kubernetes Event: ${outcome.error}`);
    return outcome.recorded
      ? { recorded: true, name: outcome.name }
      : { recorded: false, error: outcome.error };
  } catch (error) {
    deps.log.warn(`could not record the Kubernetes Event: ${(error as Error).message}`);
    return { recorded: false, error: (error as Error).message };
  }
}

/** How long a cancelled step may take to stop before the target is stopped under it. */
const STOP_GRACE_MS = 5000;

/** Calls `fn` once; later calls get the first call's promise. */
function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let result: Promise<T> | undefined;
  return () => {
    result ??= fn();
    return result;
  };
}

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

/** `auto` progress is a repainted line on a terminal and JSON lines in a log. */
function progressFor(config: DrillConfig, tty: boolean): DrillPlan['progress'] {
  const mode = config.progress === 'auto' ? (tty ? 'tty' : 'json') : config.progress;
  return { mode, intervalMs: mode === 'tty' ? 200 : config.progressIntervalSeconds * 1000 };
}

/**
 * One drill run: find the backup (or make one), start the target, run the drill specs, report, push
 * the metrics, and clean up whatever happened. Every run that got past reading its configuration ends
 * in a report and (when asked) a push, also when it could not start: a vanished backup volume must
 * reach the alerts as much as a failed restore.
 */
export async function runDrill(config: DrillConfig, deps: DrillDeps): Promise<DrillReport> {
  const { log } = deps;
  const startedAt = deps.now();
  const runId = `${dayjs.utc(startedAt).format('YYYYMMDD-HHmmss')}-${randomBytes(3).toString('hex')}`;
  const naming = parseBackupPattern(config.backupPattern, config.timestampFormat);
  const mode = config.backups ? 'backups' : 'self-contained';
  const cleanups: { what: string; run: () => Promise<unknown> }[] = [];
  let target: StartedTarget | undefined;
  let startError: string | undefined;
  const errors: string[] = [];
  const recorder = new StepRecorder(deps.out);
  let specsRunning = false;
  let expectations: Expectations | undefined;
  try {
    // A bad expectations file is bad configuration: found before any server is started or written.
    if (config.expect) expectations = await loadExpectations(config.expect);
    const recordedCanary = expectations?.canary?.database;
    if (expectations && recordedCanary && config.canary !== 'none' && recordedCanary !== config.canary) {
      throw new ExpectationsError(
        expectations.file,
        'canary.database',
        `is ${recordedCanary}, but this drill's canary is ${config.canary}: set --canary ${recordedCanary}, or record the expectations again for ${config.canary}`,
      );
    }
    const allowedErrors = [...(config.allowedErrors ?? []), ...(expectations?.allow ?? [])];
    validateAllowRules(allowedErrors);
    const newestBackup = config.backups
      ? requireCandidates(await directorySource(config.backups, naming).discover(), naming)
      : undefined;
    const work = await mkdtemp(join(config.tempDir, 'pg-restore-drill-run-'));
    cleanups.push({ what: `remove ${work}`, run: () => rm(work, { recursive: true, force: true }) });
    target = await startTarget(config, { env: deps.env, log, runId, newestBackup });
    const started = target;
    const stopTarget = once(() => started.stop());
    cleanups.push({
      what: 'stop the target',
      run: async () => (config.keep && !deps.signal.aborted ? log.info(await started.keep()) : stopTarget()),
    });
    // A step that does not heed the cancellation (a statement the tool is still waiting on) must not
    // hold the drill past its grace period: the server is stopped under it, which ends it.
    deps.signal.addEventListener(
      'abort',
      () => {
        setTimeout(() => {
          if (specsRunning) {
            log.warn(
              `the running step did not stop within ${STOP_GRACE_MS / 1000} s: stopping the target under it`,
            );
            void stopTarget().catch(() => {});
          }
        }, STOP_GRACE_MS).unref();
      },
      { once: true },
    );

    if (config.mode !== 'cluster') {
      // The copy (canary-copy), or the scratch restore that was not swapped in and the canary a swap
      // replaced (canary) are this run's own databases: they go at the end whatever happened, before
      // the target. After a swap the scratch name no longer exists, and the canary is not touched here.
      // Pushed before the sessions' end, so it runs after it: a stopped psql's session that still holds
      // a lock on the scratch database (its section's COMMENT ON / ALTER DATABASE) would hold the DROP
      // until its statement ends.
      const copy = copyDatabaseName(runId);
      const own = config.mode === 'canary' ? [copy, replacedCanaryName(runId)] : [copy];
      cleanups.push({
        what: `drop ${own.join(' and ')}`,
        run: () =>
          withClient(started.handle.connection, started.handle.connection.database, async (client) => {
            for (const name of own)
              await dropDatabase(client, name, { canary: config.canary, createdThisRun: own });
          }),
      });
    }
    // Before the target goes: a restore psql that was stopped must not leave its session running.
    cleanups.push({
      what: 'end the restore sessions',
      run: async () => {
        const ended = await endToolSessions(started.handle.connection);
        if (ended > 0)
          log.warn(`ended ${ended} restore session(s) a stopped psql had left running on the server`);
      },
    });

    let backupDir = config.backups;
    if (!backupDir) {
      backupDir = join(work, 'backups');
      await mkdir(backupDir, { mode: 0o700 });
      log.info(`self-contained mode: seeding ${config.canary} and taking a backup as the CronJob does`);
      await seedCanary(target.handle, config.canary);
      await takeBackup(await executorFor(target.handle, deps.env), naming, backupDir, deps.now());
    }
    const plan: DrillPlan = {
      runId,
      mode,
      backupDir,
      naming,
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
      target: target.handle,
      startedAt: startedAt.getTime(),
      progress: progressFor(config, deps.stderrIsTTY),
      ...(expectations ? { expectations } : {}),
      // The expectations file's `allow:` rules; empty: the first error fails the restore.
      allowedErrors,
      assertionTimeoutSeconds: config.assertionTimeoutSeconds,
      env: { ...deps.env },
    };
    deps.out.write(
      `pg-restore-drill ${runId}: ${mode} drill of ${config.canary} on ${target.handle.description}\n`,
    );
    specsRunning = true;
    await runDrillSpecs({
      root: deps.root,
      plan,
      recorder,
      junit: config.junit,
      signal: deps.signal,
      stdout: deps.out,
      stderr: deps.err,
    });
    specsRunning = false;
    errors.push(...recorder.runErrors);
  } catch (error) {
    if (!target && error instanceof DrillError && error.exitCode === 2) {
      startError = error.message;
      deps.err.write(`pg-restore-drill: ${error.message}\n`);
    } else if (!target) {
      throw error;
    } else {
      errors.push((error as Error).message);
    }
  } finally {
    for (const cleanup of cleanups.reverse()) {
      await cleanup.run().catch((error: Error) => log.warn(`could not ${cleanup.what}: ${error.message}`));
    }
  }
  const interrupted = deps.signal.aborted ? String(deps.signal.reason) : undefined;
  if (interrupted) errors.push(`interrupted by ${interrupted}`);
  const report = buildReport({
    runId,
    mode,
    startedAt,
    finishedAt: deps.now(),
    target: target?.handle,
    steps: recorder.steps,
    errors,
    interrupted,
    startError,
  });
  if (config.pushgateway) {
    report.push = await publishMetrics(report, {
      url: config.pushgateway,
      grouping: {
        cluster: config.metricsCluster,
        target: config.metricsTarget ?? target?.handle.kind ?? config.target,
      },
      rtoBudgetSeconds: config.rtoSeconds,
      log,
    });
    if (!report.push.ok && config.requirePush && report.exitCode === 0) {
      report.verdict = 'error';
      report.exitCode = 1;
      report.errors.push('the metrics push failed and --require-push is set');
    }
  }
  if (deps.env.KUBERNETES_SERVICE_HOST && (config.jobName || config.podName)) {
    report.event = await recordEvent(report, config, deps);
  }
  const path = await writeReport(config.reportDir, report);
  deps.out.write(
    `\n${formatSummary(report)}\n  report    ${path}${config.junit ? `\n  junit     ${config.junit}` : ''}\n`,
  );
  return report;
}
