import type { SizePoint } from '../backups/size-series.ts';

/** How far ahead the forecast looks: a quarter, the interval of the restore drills. */
export const FORECAST_HORIZON_DAYS = 90;
const DAY_SECONDS = 86_400;
const GZIP_ISIZE_WRAP = 2 ** 32;

/** One backup of the fit, with the SQL size it was given and where that size came from. */
export interface ForecastPoint extends SizePoint {
  sqlBytes: number;
  sizeFrom: string;
}

/** report.json's `forecast`: the inputs (sizes, times, rate, throughput) and what follows from them. */
export interface RtoForecast {
  horizonDays: number;
  budgetSeconds: number;
  /** Newest first; the newest's size is the one the restore measured. */
  backups: ForecastPoint[];
  /** Backups of the series left out of the fit, with why. */
  leftOut: { file: string; reason: string }[];
  restoreSeconds: number | null;
  /** SQL bytes restored per second of restore: `restore.sqlBytes / restore.seconds`. */
  throughputBytesPerSecond: number | null;
  /** Slope of the least-squares line of SQL size over backup time. */
  growthBytesPerDay: number | null;
  /** The newest backup's SQL size grown at that rate (never shrunk) for horizonDays. */
  projectedSqlBytes: number | null;
  /** The restore time of projectedSqlBytes at today's throughput; pg_dr_drill_rto_forecast_seconds. */
  forecastSeconds: number | null;
  /** Days after the newest backup until the restore reaches the budget: 0 already there, null never. */
  daysToBudget: number | null;
  /** The forecast in words (the summary's line). */
  sentence: string;
}

export interface ForecastInput {
  series: readonly SizePoint[];
  /** The newest backup's SQL bytes as the drill read them (report.dump.sqlBytes). */
  newestSqlBytes: number | undefined;
  /** The completed restore: its duration and the SQL bytes it replayed (absent: it did not complete). */
  restore: { seconds: number; sqlBytes: number } | undefined;
  budgetSeconds: number;
  horizonDays?: number;
}

/**
 * The RTO forecast of one drill: the newest backup's SQL size grown at the rate the series shows (a
 * least-squares line over backup time), divided by the throughput this restore measured. A shrinking or
 * flat series is not extrapolated: the forecast is then today's restore time.
 */
export function forecastRto(input: ForecastInput): RtoForecast {
  const horizonDays = input.horizonDays ?? FORECAST_HORIZON_DAYS;
  const { points, leftOut } = sqlSizes(input.series, input.newestSqlBytes);
  const restore = input.restore && input.restore.seconds > 0 ? input.restore : undefined;
  const throughput = restore ? restore.sqlBytes / restore.seconds : null;
  const base: RtoForecast = {
    horizonDays,
    budgetSeconds: input.budgetSeconds,
    backups: points,
    leftOut,
    restoreSeconds: restore?.seconds ?? null,
    throughputBytesPerSecond: throughput === null ? null : Math.round(throughput),
    growthBytesPerDay: null,
    projectedSqlBytes: null,
    forecastSeconds: null,
    daysToBudget: null,
    sentence: '',
  };
  const newest = points[0];
  if (!restore || !newest || newest.sqlBytes <= 0) {
    return { ...base, sentence: 'no forecast: the restore did not complete, so no throughput was measured' };
  }
  const slope = slopePerDay(points);
  if (slope === undefined) {
    return {
      ...base,
      sentence: `no forecast: ${points.length} backup(s) of this format in the directory; a growth rate needs 2 or more taken at different times`,
    };
  }
  return project(base, newest.sqlBytes, slope, restore.seconds);
}

/** The projection once a rate is known; the sentence says what an operator needs to plan. */
function project(base: RtoForecast, size: number, slope: number, seconds: number): RtoForecast {
  const { horizonDays, budgetSeconds: budget } = base;
  const growth = Math.max(0, slope);
  const projected = size + growth * horizonDays;
  const forecast = (seconds * projected) / size;
  const days = seconds >= budget ? 0 : growth === 0 ? null : (size * (budget / seconds - 1)) / growth;
  const rate = `${slope >= 0 ? '+' : '−'}${mib(Math.abs(slope))}/day of SQL over ${base.backups.length} backups`;
  const sentence =
    days === 0
      ? `the restore already takes ${seconds.toFixed(1)} s, over the ${budget} s budget; at today's growth (${rate}) about ${forecast.toFixed(1)} s in ${horizonDays} days`
      : growth === 0
        ? `no growth (${rate}): the forecast is today's restore time, ${seconds.toFixed(1)} s; stays under the ${budget} s budget for the next ${horizonDays} days`
        : days !== null && days <= horizonDays
          ? `at today's growth (${rate}) the restore exceeds ${budget} s in about ${aboutDays(days)} (${forecast.toFixed(1)} s in ${horizonDays} days)`
          : `stays under the ${budget} s budget for the next ${horizonDays} days at today's growth (${rate}): about ${forecast.toFixed(1)} s in ${horizonDays} days`;
  return {
    ...base,
    growthBytesPerDay: Math.round(slope),
    projectedSqlBytes: Math.round(projected),
    forecastSeconds: round3(forecast),
    daysToBudget: days === null ? null : Math.round(days * 10) / 10,
    sentence,
  };
}

/**
 * Each backup's SQL size. The newest: what the drill read. A gzip predecessor: its ISIZE, which is the
 * length mod 2^32: past 4 GiB the number of wraps is the one that brings it nearest to its compressed
 * size times the newest's compression ratio (exact while that ratio is off by less than 2 GiB of SQL).
 * Plain SQL and archives: their size on disk (an archive's bytes stand for its SQL: the forecast is a
 * ratio of sizes of one kind).
 */
function sqlSizes(
  series: readonly SizePoint[],
  newestSqlBytes: number | undefined,
): { points: ForecastPoint[]; leftOut: RtoForecast['leftOut'] } {
  const [newest, ...older] = series;
  if (!newest) return { points: [], leftOut: [] };
  const newestSql = newestSqlBytes ?? newest.isize ?? newest.fileBytes;
  const points: ForecastPoint[] = [
    {
      ...newest,
      sqlBytes: newestSql,
      sizeFrom: newestSqlBytes === undefined ? sizeWord(newest) : 'read by the drill',
    },
  ];
  const leftOut: RtoForecast['leftOut'] = [];
  const ratio = newest.fileBytes > 0 ? newestSql / newest.fileBytes : 1;
  for (const point of older) {
    if (point.isize === undefined && isGzipName(point.file)) {
      leftOut.push({ file: point.file, reason: 'no gzip trailer to read its size from' });
    } else if (point.isize === undefined) {
      points.push({ ...point, sqlBytes: point.fileBytes, sizeFrom: 'file size' });
    } else {
      const wraps = Math.max(0, Math.round((point.fileBytes * ratio - point.isize) / GZIP_ISIZE_WRAP));
      points.push({
        ...point,
        sqlBytes: point.isize + wraps * GZIP_ISIZE_WRAP,
        sizeFrom: wraps === 0 ? 'gzip ISIZE' : `gzip ISIZE + ${wraps} × 4 GiB (from the compression ratio)`,
      });
    }
  }
  return { points, leftOut };
}

function sizeWord(point: SizePoint): string {
  return point.isize === undefined ? 'file size' : 'gzip ISIZE';
}

function isGzipName(file: string): boolean {
  return file.endsWith('.gz');
}

/** Least-squares slope of SQL bytes over backup time, per day; undefined with fewer than 2 distinct times. */
function slopePerDay(points: readonly ForecastPoint[]): number | undefined {
  if (points.length < 2) return undefined;
  const xs = points.map((p) => Date.parse(p.takenAt) / 1000 / DAY_SECONDS);
  const ys = points.map((p) => p.sqlBytes);
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
  const my = ys.reduce((a, b) => a + b, 0) / ys.length;
  let sxx = 0;
  let sxy = 0;
  for (let i = 0; i < xs.length; i++) {
    const dx = (xs[i] as number) - mx;
    sxx += dx * dx;
    sxy += dx * ((ys[i] as number) - my);
  }
  return sxx > 0 ? sxy / sxx : undefined;
}

function aboutDays(days: number): string {
  return days < 1 ? 'less than a day' : `${Math.round(days)} day${Math.round(days) === 1 ? '' : 's'}`;
}

function mib(bytes: number): string {
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}

/**
 * The forecast of a run from its steps' facts: the `backupSeries` the newest-backup step listed, the
 * dump's SQL size and the completed restore. Null when the restore did not complete (nothing measured).
 */
export function forecastOf(facts: (key: string) => unknown): RtoForecast | null {
  const series = facts('backupSeries') as SizePoint[] | null;
  const restore = facts('restore') as { seconds: number; sqlBytes: number; rtoBudgetSeconds: number } | null;
  const dump = facts('dump') as { sqlBytes: number } | null;
  if (!series || !restore) return null;
  return forecastRto({
    series,
    newestSqlBytes: dump?.sqlBytes,
    restore: { seconds: restore.seconds, sqlBytes: restore.sqlBytes },
    budgetSeconds: restore.rtoBudgetSeconds,
  });
}
