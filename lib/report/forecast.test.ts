import { describe, expect, it } from 'vitest';
import type { SizePoint } from '../backups/size-series.ts';
import { forecastRto } from './forecast.ts';
import { buildReport, formatSummary } from './report.ts';
import { type StepRecord, stepId } from './steps.ts';

const MB = 1_000_000;
const DAY = 86_400_000;
const NEWEST = Date.parse('2026-11-24T03:00:00Z');

/** Daily backups, newest first, each `perDay` bytes of SQL smaller than the one after it (gzip 1:5). */
function daily(count: number, newestBytes: number, perDay: number): SizePoint[] {
  return Array.from({ length: count }, (_, i) => {
    const sql = newestBytes - i * perDay;
    return {
      file: `postgres-backup-${i}.sql.gz`,
      takenAt: new Date(NEWEST - i * DAY).toISOString(),
      fileBytes: Math.round(sql / 5),
      isize: sql % 2 ** 32,
    };
  });
}

describe('forecastRto', () => {
  it('projects the newest size at the fitted rate over 90 days, at the measured throughput', () => {
    // 100 MB today, +10 MB/day; 50 s to restore 100 MB (2 MB/s): 1000 MB in 90 days = 500 s; 300 s (600 MB) in 50 days.
    const forecast = forecastRto({
      series: daily(7, 100 * MB, 10 * MB),
      newestSqlBytes: 100 * MB,
      restore: { seconds: 50, sqlBytes: 100 * MB },
      budgetSeconds: 300,
    });
    expect(forecast).toMatchObject({
      throughputBytesPerSecond: 2 * MB,
      growthBytesPerDay: 10 * MB,
      projectedSqlBytes: 1000 * MB,
      forecastSeconds: 500,
      daysToBudget: 50,
    });
    expect(forecast.backups.map((b) => b.sqlBytes)).toEqual([100, 90, 80, 70, 60, 50, 40].map((n) => n * MB));
    expect(forecast.sentence).toBe(
      "at today's growth (+9.5 MiB/day of SQL over 7 backups) the restore exceeds 300 s in about 50 days (500.0 s in 90 days)",
    );
  });

  it('says the restore stays under the budget when the projection does', () => {
    const forecast = forecastRto({
      series: daily(7, 100 * MB, 1 * MB),
      newestSqlBytes: 100 * MB,
      restore: { seconds: 50, sqlBytes: 100 * MB },
      budgetSeconds: 300,
    });
    expect(forecast.forecastSeconds).toBe(95);
    expect(forecast.daysToBudget).toBe(500);
    expect(forecast.sentence).toBe(
      "stays under the 300 s budget for the next 90 days at today's growth (+976.6 KiB/day of SQL over 7 backups): about 95.0 s in 90 days",
    );
  });

  it("does not extrapolate a shrinking series: the forecast is today's restore time", () => {
    const forecast = forecastRto({
      series: daily(4, 100 * MB, -2 * MB),
      newestSqlBytes: 100 * MB,
      restore: { seconds: 50, sqlBytes: 100 * MB },
      budgetSeconds: 300,
    });
    expect(forecast).toMatchObject({ growthBytesPerDay: -2 * MB, forecastSeconds: 50, daysToBudget: null });
    expect(forecast.sentence).toMatch(
      /^no growth \(−1\.9 MiB\/day of SQL over 4 backups\): the forecast is today's restore time, 50\.0 s/,
    );
  });

  it('gives no forecast from one backup, and says why', () => {
    const forecast = forecastRto({
      series: daily(1, 100 * MB, 0),
      newestSqlBytes: 100 * MB,
      restore: { seconds: 50, sqlBytes: 100 * MB },
      budgetSeconds: 300,
    });
    expect(forecast).toMatchObject({ forecastSeconds: null, throughputBytesPerSecond: 2 * MB });
    expect(forecast.sentence).toBe(
      'no forecast: 1 backup(s) of this format in the directory; a growth rate needs 2 or more taken at different times',
    );
  });

  it('says a restore already over its budget is there today', () => {
    const forecast = forecastRto({
      series: daily(3, 100 * MB, 10 * MB),
      newestSqlBytes: 100 * MB,
      restore: { seconds: 320, sqlBytes: 100 * MB },
      budgetSeconds: 300,
    });
    expect(forecast.daysToBudget).toBe(0);
    expect(forecast.sentence).toMatch(/^the restore already takes 320\.0 s, over the 300 s budget/);
  });

  it('counts the 4 GiB wraps of ISIZE from the compression ratio of the newest backup', () => {
    const GiB = 2 ** 30;
    // 6 GiB of SQL in 1 GiB of gzip today; yesterday 5.5 GiB in 0.95 GiB: ISIZE alone says 1.5 GiB.
    const series: SizePoint[] = [
      { file: 'b.sql.gz', takenAt: new Date(NEWEST).toISOString(), fileBytes: GiB, isize: 6 * GiB - 4 * GiB },
      {
        file: 'a.sql.gz',
        takenAt: new Date(NEWEST - DAY).toISOString(),
        fileBytes: 0.95 * GiB,
        isize: 1.5 * GiB,
      },
    ];
    const forecast = forecastRto({
      series,
      newestSqlBytes: 6 * GiB,
      restore: { seconds: 100, sqlBytes: 6 * GiB },
      budgetSeconds: 300,
    });
    expect(forecast.backups.map((b) => [b.sqlBytes, b.sizeFrom])).toEqual([
      [6 * GiB, 'read by the drill'],
      [5.5 * GiB, 'gzip ISIZE + 1 × 4 GiB (from the compression ratio)'],
    ]);
    expect(forecast.growthBytesPerDay).toBe(0.5 * GiB);
  });

  it('scales a canary-mode restore (a section of the dump) by the growth of the whole dump', () => {
    // The section is 1 MB restored in 2 s; the whole dump doubles in 90 days: the forecast doubles too.
    const forecast = forecastRto({
      series: daily(2, 90 * MB, 1 * MB),
      newestSqlBytes: 90 * MB,
      restore: { seconds: 2, sqlBytes: 1 * MB },
      budgetSeconds: 300,
    });
    expect(forecast.throughputBytesPerSecond).toBe(MB / 2);
    expect(forecast.forecastSeconds).toBe(4);
  });

  it('leaves out a gzip backup whose trailer cannot be read', () => {
    const [newest, older] = daily(2, 100 * MB, 10 * MB);
    const forecast = forecastRto({
      series: [newest as SizePoint, { ...(older as SizePoint), isize: undefined }],
      newestSqlBytes: 100 * MB,
      restore: { seconds: 50, sqlBytes: 100 * MB },
      budgetSeconds: 300,
    });
    expect(forecast.leftOut).toEqual([
      { file: 'postgres-backup-1.sql.gz', reason: 'no gzip trailer to read its size from' },
    ]);
    expect(forecast.forecastSeconds).toBeNull();
  });
});

/** A passed step record carrying `facts`. */
function step(name: string, facts: Record<string, unknown>): StepRecord {
  return { id: stepId(name), name, phase: 'precheck', status: 'passed', durationMs: 1, message: '', facts };
}

describe('the forecast in a report', () => {
  it("is read off the steps' facts and said in the summary", () => {
    const series = daily(3, 100 * MB, 10 * MB);
    const steps = [
      step('backup: newest backup found', { backupSeries: series }),
      step('restore: completed', {
        restore: { seconds: 50, sqlBytes: 100 * MB, rtoBudgetSeconds: 300, skippedStatements: [] },
        dump: { kind: 'pg_dumpall', sqlBytes: 100 * MB },
      }),
    ];
    const report = buildReport({
      runId: 'r',
      mode: 'backups',
      startedAt: new Date(NEWEST),
      finishedAt: new Date(NEWEST + 60_000),
      target: undefined,
      steps,
      errors: [],
      interrupted: undefined,
    });
    expect(report.forecast?.forecastSeconds).toBe(500);
    expect(formatSummary(report).split('\n')).toContain(
      "  forecast  at today's growth (+9.5 MiB/day of SQL over 3 backups) the restore exceeds 300 s in about 50 days (500.0 s in 90 days)",
    );
  });

  it('is null when the restore did not complete', () => {
    const steps = [step('backup: newest backup found', { backupSeries: daily(3, MB, 1000) })];
    const input = { runId: 'r', mode: 'backups' as const, startedAt: new Date(0), finishedAt: new Date(1) };
    const report = buildReport({ ...input, target: undefined, steps, errors: [], interrupted: undefined });
    expect(report.forecast).toBeNull();
    expect(formatSummary(report)).not.toContain('forecast');
  });
});
