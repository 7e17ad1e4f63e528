import type { HistoryEntry } from './history.ts';

/** An entry with the change of its RTO since the run before it that restored (null: nothing to compare). */
export type HistoryRow = HistoryEntry & { rtoDeltaSeconds: number | null };

/** How the RTO moved over the listed runs that restored: oldest and newest, and the change. */
export interface RtoTrend {
  runs: number;
  firstSeconds: number;
  lastSeconds: number;
  changeSeconds: number;
  /** The change as a share of the first RTO, in percent (null when the first RTO was 0). */
  changePercent: number | null;
}

/**
 * The `limit` entries that finished last, newest first, each with its RTO delta against the run that
 * finished before it. Entries are in the order they were appended, which is not the order they finished
 * in when drills share a history: each appends after writing its report, so one that finished first can
 * append second. A time that does not parse keeps its place after the entry written before it.
 */
export function historyRows(entries: readonly HistoryEntry[], limit = entries.length): HistoryRow[] {
  const byFinish = finishOrder(entries);
  const listed = byFinish.slice(Math.max(0, byFinish.length - limit));
  let previous: number | null = null;
  const rows = listed.map((entry) => {
    const rto = entry.rtoSeconds;
    const rtoDeltaSeconds = rto !== null && previous !== null ? round2(rto - previous) : null;
    if (rto !== null) previous = rto;
    return { ...entry, rtoDeltaSeconds };
  });
  return rows.reverse();
}

function finishOrder(entries: readonly HistoryEntry[]): HistoryEntry[] {
  let last = Number.NEGATIVE_INFINITY;
  const keyed = entries.map((entry, index) => {
    const time = Date.parse(entry.time);
    if (Number.isFinite(time)) last = time;
    return { entry, index, time: Number.isFinite(time) ? time : last };
  });
  keyed.sort((a, b) => a.time - b.time || a.index - b.index);
  return keyed.map((k) => k.entry);
}

/** The RTO trend of rows (newest first); null with fewer than two runs that restored. */
export function rtoTrend(rows: readonly HistoryRow[]): RtoTrend | null {
  const rtos = rows.flatMap((row) => (row.rtoSeconds === null ? [] : [row.rtoSeconds])).reverse();
  const first = rtos[0];
  const last = rtos.at(-1);
  if (rtos.length < 2 || first === undefined || last === undefined) return null;
  const changeSeconds = round2(last - first);
  const changePercent = first === 0 ? null : Math.round((changeSeconds / first) * 1000) / 10;
  return { runs: rtos.length, firstSeconds: first, lastSeconds: last, changeSeconds, changePercent };
}

const COLUMNS = ['FINISHED (UTC)', 'VERDICT', 'RTO', 'ΔRTO', 'RPO', 'TABLES', 'MODE', 'TARGET', 'BACKUP'];

/** The history as a table, newest first, and a line on the RTO trend under it. */
export function formatHistoryTable(rows: readonly HistoryRow[], source: string): string {
  if (rows.length === 0) return `No drills recorded yet in ${source}.`;
  const cells = rows.map((row) => [
    row.time.replace('T', ' ').replace(/\.\d+Z$|Z$/, ''),
    row.verdict,
    row.rtoSeconds === null ? '-' : `${row.rtoSeconds.toFixed(2)} s`,
    row.rtoDeltaSeconds === null ? '-' : `${signed(row.rtoDeltaSeconds)} s`,
    row.rpoSeconds === null ? '-' : duration(row.rpoSeconds),
    row.tablesVerified === null ? '-' : String(row.tablesVerified),
    row.mode,
    row.target ?? '-',
    row.backup ?? '-',
  ]);
  const widths = COLUMNS.map((title, i) => Math.max(title.length, ...cells.map((c) => (c[i] ?? '').length)));
  const line = (values: string[]) =>
    values
      .map((value, i) => (i === values.length - 1 ? value : value.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const trend = rtoTrend(rows);
  return [
    `Drill history from ${source}, newest first (${rows.length} run(s)):`,
    line(COLUMNS),
    ...cells.map(line),
    '',
    trend
      ? `RTO trend over the ${trend.runs} runs that restored: ${trend.firstSeconds.toFixed(2)} s → ${trend.lastSeconds.toFixed(2)} s (${signed(trend.changeSeconds)} s${trend.changePercent === null ? '' : `, ${signed(trend.changePercent, 1)}%`})`
      : 'RTO trend: fewer than two runs that restored, nothing to compare yet.',
  ].join('\n');
}

function signed(value: number, digits = 2): string {
  return `${value > 0 ? '+' : ''}${value.toFixed(digits)}`;
}

/** 75 s → `1m 15s`; 90061 s → `1d 1h`. */
function duration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}
