/**
 * `--check-only`: the daily lightweight check. The newest backup found, read whole (gzip to its end, the
 * dump's trailer and header; an archive's every block), its age and size; then the metrics pushed under
 * job pg_restore_drill_check. No server is started and no database is touched: the quarterly drill
 * proves the restore, this proves every day that there is a fresh, whole backup to restore.
 */
import { randomBytes } from 'node:crypto';
import dayjs from 'dayjs';
import { Registry } from 'prom-client';
import type { BackupCandidate, BackupLook } from '../backups/backup-source.ts';
import { directorySource } from '../backups/directory-source.ts';
import { inspectBackup } from '../backups/inspect.ts';
import type { BackupInspection } from '../backups/integrity.ts';
import { type BackupNaming, parseBackupPattern } from '../backups/naming.ts';
import { settledNewest } from '../backups/settle.ts';
import type { DrillConfig } from '../config.ts';
import {
  BackupError,
  BackupStillBeingWrittenError,
  BackupUnreadableError,
  ConfigError,
  DrillError,
} from '../errors.ts';
import type { Executor } from '../exec/executor.ts';
import { hostExecutor } from '../exec/host.ts';
import type { Logger } from '../log.ts';
import { findPgBinDir } from '../pg/binaries.ts';
import { CHECK_JOB_NAME, recordCheckMetrics } from '../report/check-metrics.ts';
import {
  type CheckReport,
  type CheckResult,
  formatCheckSummary,
  writeCheckReport,
} from '../report/check-report.ts';
import type { PushOutcome } from '../report/publish-metrics.ts';
import { pushDrillMetrics, redactUrl } from '../report/pushgateway.ts';
import { metricsGrouping } from './publish-run.ts';

export interface CheckOnlyDeps {
  env: NodeJS.ProcessEnv;
  log: Logger;
  out: NodeJS.WritableStream;
  now: () => Date;
  signal: AbortSignal;
}

/** What the check found of the newest backup. */
interface Found {
  candidate: BackupCandidate;
  look: BackupLook;
}

/** Runs the daily check and publishes it (push, report.json, the verdict line); returns its report. */
export async function runCheckOnly(config: DrillConfig, deps: CheckOnlyDeps): Promise<CheckReport> {
  const backups = requireBackupDir(config);
  const startedAt = deps.now();
  const naming = parseBackupPattern(config.backupPattern, config.timestampFormat);
  const checks: CheckResult[] = [];
  const found = await findNewest(config, backups, naming, deps, checks);
  const read = found ? await proveWhole(config, found, naming, deps, checks) : undefined;
  const report = checkReport(backups, startedAt, deps.now(), { found, read, checks });
  report.push = await pushCheck(report, config, deps, read?.integrityOk);
  settleVerdict(report, deps.signal);
  let path: string | undefined;
  try {
    path = await writeCheckReport(config.reportDir, report);
  } catch (error) {
    deps.log.warn(`could not write the check's report.json: ${(error as Error).message}`);
  }
  deps.out.write(`${formatCheckSummary(report)}\n  report    ${path ?? 'NOT written'}\n`);
  return report;
}

function requireBackupDir(config: DrillConfig): string {
  if (config.cluster)
    throw new ConfigError('check-only', '--check-only and --cluster exclude each other: pick one.');
  if (!config.backups)
    throw new ConfigError(
      'check-only',
      '--check-only checks a backup directory: set --backups DIR / DRILL_BACKUPS (the mounted backup volume).',
    );
  return config.backups;
}

/** The newest backup, once it has stopped growing (as the drill waits for it), or a failed check. */
async function findNewest(
  config: DrillConfig,
  dir: string,
  naming: BackupNaming,
  deps: CheckOnlyDeps,
  checks: CheckResult[],
): Promise<Found | undefined> {
  const name = 'backup: newest backup found';
  try {
    const settled = await settledNewest({
      source: directorySource(dir, naming),
      naming,
      intervalMs: config.growthCheckIntervalSeconds * 1000,
      waitMs: config.waitForNewestSeconds * 1000,
      signal: deps.signal,
      clock: () => performance.now(),
      now: () => deps.now().getTime(),
      onGrowing: (c) => deps.log.info(`${c.name} is still being written: waiting for it to finish`),
    });
    const { candidate, discovery } = settled;
    checks.push({
      name,
      ok: true,
      summary: `${candidate.name} (${discovery.candidates.length} candidate(s), ${discovery.ignored.length} other file(s) ignored, ${discovery.rejected.length} rejected)`,
    });
    return { candidate, look: settled.look };
  } catch (error) {
    checks.push(failed(name, error));
    return undefined;
  }
}

/**
 * The newest backup read to its end, as the drill's precheck reads it before a live server sees it.
 * `integrityOk` is 0 only for a fault of the file itself; a file the check could not read (permissions,
 * no pg_restore for an archive) fails the check but says nothing of the backup's integrity.
 */
async function proveWhole(
  config: DrillConfig,
  found: Found,
  naming: BackupNaming,
  deps: CheckOnlyDeps,
  checks: CheckResult[],
): Promise<{ inspection?: BackupInspection; integrityOk?: boolean }> {
  const name = 'backup: whole';
  const { candidate } = found;
  try {
    const inspection = await inspectBackup({
      backup: candidate,
      source: directorySource(config.backups as string, naming),
      executor: await archiveExecutor(config, deps.env, candidate),
      read: 'whole',
      look: found.look,
      growthCheckIntervalSeconds: config.growthCheckIntervalSeconds,
    });
    checks.push({ name, ok: true, summary: wholeSummary(candidate, inspection) });
    return { inspection, integrityOk: true };
  } catch (error) {
    checks.push(failed(name, error));
    const fileFault =
      error instanceof BackupError &&
      !(error instanceof BackupStillBeingWrittenError) &&
      !(error instanceof BackupUnreadableError);
    return fileFault ? { integrityOk: false } : {};
  }
}

function wholeSummary(candidate: BackupCandidate, inspection: BackupInspection): string {
  if (inspection.toc) {
    return `${candidate.format} archive of ${inspection.toc.dbname ?? '?'}: ${inspection.toc.tocEntries} TOC entries, every block decompresses`;
  }
  const gzip = candidate.compression === 'gzip' ? 'gzip decoded to its end (CRC and length), ' : '';
  return `${gzip}${inspection.sqlBytes} bytes of SQL, a ${inspection.kind} dump from PostgreSQL ${inspection.dumpedFrom?.text ?? '?'} (its header), ending with its trailer`;
}

/**
 * pg_restore for an archive's checks, from the machine's PostgreSQL binaries; no server is involved
 * (`pg_restore -l` and `-f /dev/null` read the file only), so the connection is a placeholder that
 * nothing uses. Plain backups need no tool at all.
 */
async function archiveExecutor(
  config: DrillConfig,
  env: NodeJS.ProcessEnv,
  candidate: BackupCandidate,
): Promise<Executor> {
  const none: Executor = {
    where: 'no tool (a plain backup is read in-process)',
    readsHostPaths: true,
    run: () => Promise.reject(new Error('a plain backup runs no tool')),
    toolVersion: async () => undefined,
  };
  if (candidate.format === 'plain') return none;
  const { binDir } = await findPgBinDir({
    ...(config.pgBinDir ? { explicit: config.pgBinDir } : {}),
    path: env.PATH ?? '',
    versionRoots: config.pgSearchRoots,
    tools: ['pg_restore'],
  });
  const unused = { host: '/nonexistent', port: 5432, user: 'none', password: undefined, database: 'none' };
  return hostExecutor(binDir, unused, env);
}

function failed(name: string, error: unknown): CheckResult {
  const message = error instanceof Error ? error.message : String(error);
  return error instanceof DrillError
    ? { name, ok: false, summary: message, code: error.code }
    : { name, ok: false, summary: message };
}

/** The check's report before the push: the verdict of what was found and read. */
function checkReport(
  location: string,
  startedAt: Date,
  finishedAt: Date,
  parts: {
    found?: Found | undefined;
    read?: { inspection?: BackupInspection } | undefined;
    checks: CheckResult[];
  },
): CheckReport {
  const candidate = parts.found?.candidate;
  const inspection = parts.read?.inspection;
  const ok = parts.checks.every((c) => c.ok);
  return {
    schemaVersion: 1,
    kind: 'check-only',
    runId: `check-${dayjs.utc(startedAt).format('YYYYMMDD-HHmmss')}-${randomBytes(3).toString('hex')}`,
    verdict: ok ? 'passed' : 'failed',
    exitCode: ok ? 0 : 1,
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    location,
    backup: candidate
      ? {
          file: candidate.name,
          path: candidate.path,
          sizeBytes: candidate.sizeBytes,
          takenAt: candidate.takenAt.toISOString(),
          ageSeconds: Math.max(0, Math.round((startedAt.getTime() - candidate.takenAt.getTime()) / 1000)),
        }
      : null,
    dump: inspection
      ? {
          kind: inspection.kind,
          sqlBytes: inspection.sqlBytes,
          ...(inspection.dumpedFrom ? { dumpedFrom: inspection.dumpedFrom } : {}),
          ...(inspection.dumpedBy ? { dumpedBy: inspection.dumpedBy } : {}),
        }
      : null,
    checks: parts.checks,
    push: null,
    metrics: {},
  };
}

/**
 * Pushes the check's metrics under job pg_restore_drill_check with the drill's other grouping labels.
 * A push that fails is the check's failure: the daily check exists to keep the alerts informed.
 */
async function pushCheck(
  report: CheckReport,
  config: DrillConfig,
  deps: CheckOnlyDeps,
  integrityOk: boolean | undefined,
): Promise<PushOutcome | null> {
  const registry = new Registry();
  const backup = report.backup;
  recordCheckMetrics(registry, {
    success: report.verdict === 'passed',
    finishedAt: new Date(report.finishedAt),
    ...(backup ? { backup: { takenAt: new Date(backup.takenAt), sizeBytes: backup.sizeBytes } } : {}),
    ...(integrityOk === undefined ? {} : { integrityOk }),
  });
  for (const metric of await registry.getMetricsAsJSON())
    report.metrics[metric.name] = metric.values[0]?.value ?? Number.NaN;
  if (!config.pushgateway) return null;
  // The same labels as the drill's group, under a job of its own.
  const grouping = metricsGrouping(config);
  const name = 'push: metrics reachable';
  const result = await pushDrillMetrics({
    registry,
    url: config.pushgateway,
    grouping,
    job: CHECK_JOB_NAME,
    logger: deps.log,
    signal: deps.signal,
  });
  const url = redactUrl(config.pushgateway);
  const outcome = { url, job: CHECK_JOB_NAME, grouping, attempts: result.attempts };
  if (result.ok) {
    report.checks.push({
      name,
      ok: true,
      summary: `pushed to ${url} (job ${CHECK_JOB_NAME}, ${Object.entries(grouping)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ')})`,
    });
    return { ...outcome, ok: true };
  }
  report.checks.push({ name, ok: false, summary: result.error.message, code: result.error.code });
  return { ...outcome, ok: false, error: result.error.message };
}

/** The verdict once the push is known: a failed push fails the check; a signal interrupts it. */
function settleVerdict(report: CheckReport, signal: AbortSignal): void {
  if (signal.aborted) {
    report.verdict = 'interrupted';
    report.exitCode = String(signal.reason) === 'SIGINT' ? 130 : 143;
  } else if (report.checks.some((c) => !c.ok)) {
    report.verdict = 'failed';
    report.exitCode = 1;
  }
}
