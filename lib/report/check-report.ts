import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PgVersion } from '../pg/version.ts';
import type { PushOutcome } from './publish-metrics.ts';
import { type BackupFacts, formatBytes, formatDuration } from './report.ts';
import { pointLatestAt, runReportDir } from './report-file.ts';

/** The name, inside the report directory, of the link to the newest daily check's own directory. */
export const LATEST_CHECK = 'latest-check';

/** One check of `--check-only`: what it compared and how it came out. */
export interface CheckResult {
  name: string;
  ok: boolean;
  summary: string;
  /** The error's stable code when it failed on one (DRILL_BACKUP_TRUNCATED, DRILL_NO_BACKUPS…). */
  code?: string;
}

/** report.json of a daily check: the newest backup, its integrity, the push. No secrets. */
export interface CheckReport {
  schemaVersion: 1;
  kind: 'check-only';
  runId: string;
  verdict: 'passed' | 'failed' | 'interrupted';
  exitCode: number;
  startedAt: string;
  finishedAt: string;
  /** The backup directory looked in. */
  location: string;
  backup: BackupFacts | null;
  /** What reading the whole file proved (absent when it was not read to its end). */
  dump: { kind: string; sqlBytes: number; dumpedFrom?: PgVersion; dumpedBy?: PgVersion } | null;
  checks: CheckResult[];
  push: PushOutcome | null;
  /** The metrics pushed (or that would have been): what the alerts see of this check. */
  metrics: Record<string, number>;
}

/** The one-line verdict printed last and kept first in summary.txt. */
export function checkVerdictLine(report: CheckReport): string {
  const head = `pg-restore-drill --check-only: ${report.verdict.toUpperCase()}`;
  const failed = report.checks.find((c) => !c.ok);
  if (failed) return `${head}: ${failed.name}: ${failed.summary.split('\n', 1)[0]}`;
  if (report.verdict === 'interrupted') return `${head}: stopped before the checks ended`;
  const b = report.backup;
  const sql = report.dump ? ` (${formatBytes(report.dump.sqlBytes)} SQL)` : '';
  const pushed = report.push
    ? `; metrics pushed to ${report.push.url}`
    : '; metrics not pushed (no --pushgateway)';
  return `${head}: ${b?.file}, ${formatBytes(b?.sizeBytes ?? 0)}${sql}, taken ${b?.takenAt}, age ${formatDuration(b?.ageSeconds ?? 0)}; whole${pushed}`;
}

/** The checks as lines, then the verdict line: stdout and summary.txt. */
export function formatCheckSummary(report: CheckReport): string {
  return [
    ...report.checks.map((c) => `  ${c.ok ? '✓' : '✗'} ${c.name.padEnd(30)} ${c.summary}`),
    checkVerdictLine(report),
  ].join('\n');
}

/**
 * Writes report.json and summary.txt into the check's own run directory under `reportDir` and points
 * `reportDir/latest-check` at it (the drill's own `latest` is left to the drill). Returns the path.
 */
export async function writeCheckReport(reportDir: string, report: CheckReport): Promise<string> {
  const own = runReportDir(reportDir, report.runId);
  await mkdir(own, { recursive: true });
  const path = join(own, 'report.json');
  await writeFile(path, `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(join(own, 'summary.txt'), `${formatCheckSummary(report)}\n`);
  await pointLatestAt(reportDir, report.runId, LATEST_CHECK);
  return path;
}
