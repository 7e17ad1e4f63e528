import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type DrillReport, formatSummary } from './report.ts';
import type { Reporter } from './reporter.ts';

/** The name, inside the report directory, of the link to the newest run's own directory. */
export const LATEST = 'latest';

/** Where one run's report.json and summary.txt go: a directory of its own, named by its run id. */
export function runReportDir(reportDir: string, runId: string): string {
  return join(reportDir, runId);
}

/**
 * Writes report.json and summary.txt into the run's own directory under `reportDir`, then points
 * `reportDir/latest` at it. Two drills sharing a report directory never write the same file: each has
 * its run id's directory, and `latest` is replaced by a rename (atomic on POSIX), so a reader sees the
 * old run or the new one, never a half-made link. Returns the report's path.
 */
export async function writeReport(reportDir: string, report: DrillReport): Promise<string> {
  const path = await writeReportFiles(reportDir, report);
  await pointLatestAt(reportDir, report.runId);
  return path;
}

/** report.json and summary.txt in the run's own directory; returns the report's path. */
async function writeReportFiles(reportDir: string, report: DrillReport): Promise<string> {
  const own = runReportDir(reportDir, report.runId);
  await mkdir(own, { recursive: true });
  const path = join(own, 'report.json');
  // By rename: the report is written again after the Kubernetes Event, and a kill then leaves the first.
  await replaceFile(path, `${JSON.stringify(report, null, 2)}\n`);
  await replaceFile(join(own, 'summary.txt'), `${formatSummary(report)}\n`);
  return path;
}

/** Writes `path` whole or not at all: a reader (or a kill) never sees half a file. */
async function replaceFile(path: string, text: string): Promise<void> {
  const staged = `${path}.${process.pid}-${randomBytes(4).toString('hex')}`;
  await writeFile(staged, text);
  await rename(staged, path);
}

/**
 * Replaces `reportDir/<link>` (default `latest`) with a relative link to `runId` (relative: the directory
 * may move). The daily check keeps its own link, `latest-check`.
 */
export async function pointLatestAt(reportDir: string, runId: string, link = LATEST): Promise<void> {
  // Only the drill's own link is replaced: a file or directory of that name is someone else's.
  const there = await lstat(join(reportDir, link)).catch(() => undefined);
  if (there && !there.isSymbolicLink()) {
    throw new Error(
      `${join(reportDir, link)} is a ${there.isDirectory() ? 'directory' : 'file'}, not the drill's link to the newest run: left as it is, and not pointed at ${runId} (move it away for the link to come back)`,
    );
  }
  const staged = join(reportDir, `.${link}-${process.pid}-${randomBytes(4).toString('hex')}`);
  await symlink(runId, staged);
  try {
    await rename(staged, join(reportDir, link));
  } catch (error) {
    await rm(staged, { force: true });
    throw error;
  }
}

/** The run id `reportDir/latest` names, or undefined when no run has written a report there yet. */
export async function latestRunId(reportDir: string): Promise<string | undefined> {
  return readlink(join(reportDir, LATEST)).catch(() => undefined);
}

/** report.json and summary.txt as a reporter; `path` is where the report went once published. */
export function reportFileReporter(reportDir: string): Reporter & { path: string | undefined } {
  const reporter = {
    name: `report.json in ${reportDir}`,
    path: undefined as string | undefined,
    async publish(report: DrillReport) {
      // Written, whatever becomes of the link after it.
      reporter.path = await writeReportFiles(reportDir, report);
      await pointLatestAt(reportDir, report.runId);
    },
  };
  return reporter;
}
