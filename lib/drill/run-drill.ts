import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import dayjs from 'dayjs';
import { directorySource, requireCandidates } from '../backups/directory-source.ts';
import { parseBackupPattern } from '../backups/naming.ts';
import type { DrillConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import { buildReport, type DrillReport, formatSummary, writeReport } from '../report/report.ts';
import { StepRecorder } from '../report/steps.ts';
import { executorFor } from '../targets/attach.ts';
import { startTarget } from '../targets/start-target.ts';
import type { StartedTarget } from '../targets/target.ts';
import type { DrillPlan } from './plan.ts';
import { runDrillSpecs } from './run-specs.ts';
import { seedCanary, takeBackup } from './seed.ts';

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
}

/**
 * One drill run: find the backup (or make one), start the target, run the drill specs, report, and
 * clean up whatever happened. Errors before the specs start (bad configuration, no backups, no tools,
 * an unsafe target) are thrown; everything after ends in a report.
 */
export async function runDrill(config: DrillConfig, deps: DrillDeps): Promise<DrillReport> {
  const { log } = deps;
  const startedAt = deps.now();
  const runId = `${dayjs.utc(startedAt).format('YYYYMMDD-HHmmss')}-${randomBytes(3).toString('hex')}`;
  const naming = parseBackupPattern(config.backupPattern, config.timestampFormat);
  if (config.backups) requireCandidates(await directorySource(config.backups, naming).discover(), naming);

  const cleanups: { what: string; run: () => Promise<unknown> }[] = [];
  let target: StartedTarget | undefined;
  const errors: string[] = [];
  const recorder = new StepRecorder(deps.out);
  try {
    const work = await mkdtemp(join(config.tempDir, 'pg-restore-drill-run-'));
    cleanups.push({ what: `remove ${work}`, run: () => rm(work, { recursive: true, force: true }) });
    target = await startTarget(config, { env: deps.env, log, runId });
    const started = target;
    cleanups.push({
      what: 'stop the target',
      run: async () => (config.keep ? log.info(await started.keep()) : started.stop()),
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
      mode: config.backups ? 'backups' : 'self-contained',
      backupDir,
      naming,
      canary: config.canary,
      rtoSeconds: config.rtoSeconds,
      target: target.handle,
      startedAt: startedAt.getTime(),
    };
    deps.out.write(
      `pg-restore-drill ${runId}: ${plan.mode} drill of ${config.canary} on ${target.handle.description}\n`,
    );
    await runDrillSpecs({
      root: deps.root,
      plan,
      recorder,
      junit: config.junit,
      signal: deps.signal,
      stdout: deps.out,
      stderr: deps.err,
    });
    errors.push(...recorder.runErrors);
  } catch (error) {
    if (!target) throw error;
    errors.push((error as Error).message);
  } finally {
    for (const cleanup of cleanups.reverse()) {
      await cleanup.run().catch((error: Error) => log.warn(`could not ${cleanup.what}: ${error.message}`));
    }
  }
  const interrupted = deps.signal.aborted ? String(deps.signal.reason) : undefined;
  if (interrupted) errors.push(`interrupted by ${interrupted}`);
  const report = buildReport({
    runId,
    mode: config.backups ? 'backups' : 'self-contained',
    startedAt,
    finishedAt: deps.now(),
    target: target?.handle,
    steps: recorder.steps,
    errors,
    interrupted,
  });
  const path = await writeReport(config.reportDir, report);
  deps.out.write(
    `\n${formatSummary(report)}\n  report    ${path}${config.junit ? `\n  junit     ${config.junit}` : ''}\n`,
  );
  return report;
}
