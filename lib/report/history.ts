import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DrillError } from '../errors.ts';
import type { DrillReport, Verdict } from './report.ts';

/** The history file's name inside the report directory: one JSON object a line, in the order drills appended them. */
export const HISTORY_FILE = 'history.jsonl';

/** One run, as the history keeps it: what an operator compares across drills. No secrets. */
export interface HistoryEntry {
  /** When the run finished (ISO 8601, UTC). */
  time: string;
  runId: string;
  /** The backup file drilled, when the run got that far. */
  backup: string | null;
  /** The backup's age when the drill started: the RPO at drill time. */
  rpoSeconds: number | null;
  /** The restore's duration: the RTO measured. */
  rtoSeconds: number | null;
  verdict: Verdict;
  /** --verify deep: tables verified against the dump's digests; null when deep verification did not run. */
  tablesVerified: number | null;
  /** The restore mode (cluster, canary, canary-copy) and whether the drill made its own backup. */
  mode: string;
  /** The target kind (local, container, url, pod). */
  target: string | null;
}

/** A history that cannot be read or written as it is. */
export class HistoryError extends DrillError {
  static override readonly code = 'DRILL_HISTORY';
  override readonly exitCode = 2;
}

/** The history line of a finished run. `restoreMode` is the run's --mode. */
export function historyEntry(report: DrillReport, restoreMode: string): HistoryEntry {
  return {
    time: report.finishedAt,
    runId: report.runId,
    backup: report.backup?.file ?? null,
    rpoSeconds: report.backup ? Math.round(report.backup.ageSeconds) : null,
    rtoSeconds: report.restore ? round2(report.restore.seconds) : null,
    verdict: report.verdict,
    tablesVerified: report.deep ? report.deep.tables.filter((t) => t.verified).length : null,
    mode: report.mode === 'self-contained' ? `${restoreMode} (self-contained)` : restoreMode,
    target: report.target?.kind ?? null,
  };
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}

/**
 * Appends one entry to `<reportDir>/history.jsonl` as a single write of one line on a file opened for
 * appending (O_APPEND): drills sharing the directory each add their whole line at the end, never into
 * another's. Returns the file's path.
 */
export async function appendHistoryFile(reportDir: string, entry: HistoryEntry): Promise<string> {
  const path = join(reportDir, HISTORY_FILE);
  const handle = await open(path, 'a', 0o644);
  try {
    await handle.write(`${JSON.stringify(entry)}\n`);
  } finally {
    await handle.close();
  }
  return path;
}

/** What a history holds: its entries in the order they were appended, and the lines that were not an entry. */
export interface ReadHistory {
  entries: HistoryEntry[];
  /** 1-based numbers of lines that did not parse as an entry (a file edited by hand, a torn write). */
  badLines: number[];
}

/** Parses history text (the file's, or the ConfigMap's value): one entry a line, in the order appended. */
export function parseHistory(text: string): ReadHistory {
  const entries: HistoryEntry[] = [];
  const badLines: number[] = [];
  text.split('\n').forEach((line, index) => {
    if (line.trim() === '') return;
    const entry = toEntry(line);
    if (entry) entries.push(entry);
    else badLines.push(index + 1);
  });
  return { entries, badLines };
}

function toEntry(line: string): HistoryEntry | undefined {
  try {
    const value = JSON.parse(line) as Partial<HistoryEntry> | null;
    if (typeof value?.time !== 'string' || typeof value.verdict !== 'string') return undefined;
    return value as HistoryEntry;
  } catch {
    return undefined;
  }
}

/** Reads `<reportDir>/history.jsonl`; a directory without one is a clear error saying how one is made. */
export async function readHistoryFile(reportDir: string): Promise<ReadHistory & { path: string }> {
  const path = join(reportDir, HISTORY_FILE);
  const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT')
      throw new HistoryError(`Cannot read ${path}: ${error.message}`, { cause: error });
    throw new HistoryError(
      `No drill history in ${reportDir} (${HISTORY_FILE} is written by every drill with --report-dir ${reportDir}); run a drill first, or point --report-dir at the drills' report directory.`,
    );
  });
  return { ...parseHistory(text), path };
}
