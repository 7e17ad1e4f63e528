/**
 * The RTO forecast from one drill over a week of real backups: a cluster made bigger day by day, dumped
 * with pg_dumpall after each day, each file named and dated (mtime too) a day apart. The drill prints
 * the forecast, report.json holds its inputs, and the two metrics reach a real Pushgateway.
 */
import { readFile, utimes } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { dumpAll, psql, writeBackup } from './support/cluster.ts';
import { drillSetup } from './support/drill-setup.ts';
import { engineSkip } from './support/engine-skip.ts';
import {
  pushgatewayMissing,
  type RunningPushgateway,
  scrapeGroup,
  startPushgateway,
} from './support/pushgateway.ts';
import { latestReportFile, readReport, runCli } from './support/run-cli.ts';

const available = !engineSkip('the RTO forecast drill test', pushgatewayMissing());
const DAYS = 7;
const setup = drillSetup('drill-forecast-', { dump: false });

/** Least-squares slope of bytes over days, computed here independently of lib/report/forecast.ts. */
function slopePerDay(points: { day: number; bytes: number }[]): number {
  const mx = points.reduce((a, p) => a + p.day, 0) / points.length;
  const my = points.reduce((a, p) => a + p.bytes, 0) / points.length;
  const sxy = points.reduce((a, p) => a + (p.day - mx) * (p.bytes - my), 0);
  const sxx = points.reduce((a, p) => a + (p.day - mx) ** 2, 0);
  return sxy / sxx;
}

describe.skipIf(!available)('RTO forecast over a directory of growing backups', () => {
  it('prints the forecast, keeps its inputs in report.json and pushes it to the Pushgateway', async () => {
    const { handle } = setup.source;
    const dir = await setup.freshDir('backups');
    // A database of the cluster's own beside the canary, growing by an uneven amount each day.
    await psql(handle, 'postgres', 'CREATE DATABASE orders');
    await psql(handle, 'orders', 'CREATE TABLE line (id bigint PRIMARY KEY, note text NOT NULL)');
    const written: { name: string; day: number; sqlBytes: number }[] = [];
    for (let day = 1; day <= DAYS; day++) {
      const rows = 1500 + (day % 3) * 400;
      await psql(
        handle,
        'orders',
        `INSERT INTO line SELECT g, repeat(md5(g::text), 4) FROM generate_series((SELECT coalesce(max(id), 0) + 1 FROM line), (SELECT coalesce(max(id), 0) + ${rows} FROM line)) g`,
      );
      const dump = await dumpAll(handle);
      const stamp = `2026-11-${String(17 + day).padStart(2, '0')}`;
      const file = await writeBackup(dir, `${stamp}-030000`, dump);
      const at = new Date(`${stamp}T03:20:00Z`);
      await utimes(file, at, at);
      written.push({ name: file.slice(dir.length + 1), day, sqlBytes: Buffer.byteLength(dump) });
    }
    const gateway: RunningPushgateway = await startPushgateway();
    try {
      const reports = await setup.freshDir('reports');
      const run = await runCli([
        '--backups',
        dir,
        '--target',
        'local',
        '--rto',
        '60',
        '--pushgateway',
        gateway.url,
        '--metrics-cluster',
        'forecast-test',
        '--report-dir',
        reports,
        '--progress',
        'off',
      ]);
      expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
      const report = await readReport(reports);
      const forecast = report.forecast;
      if (!forecast) throw new Error(`no forecast in the report:\n${run.stdout}`);

      // The inputs: every backup of the week, newest first, each at the size its SQL really has.
      expect(forecast.backups.map((b) => [b.file, b.sqlBytes])).toEqual(
        [...written].reverse().map((w) => [w.name, w.sqlBytes]),
      );
      expect(forecast.backups.map((b) => b.sizeFrom)).toEqual([
        'read by the drill',
        ...Array(DAYS - 1).fill('gzip ISIZE'),
      ]);
      const slope = slopePerDay(written.map((w) => ({ day: w.day, bytes: w.sqlBytes })));
      expect(forecast.growthBytesPerDay).toBe(Math.round(slope));
      expect(slope).toBeGreaterThan(0);
      const restore = report.restore;
      if (!restore) throw new Error('no restore facts');
      const newest = written[DAYS - 1]?.sqlBytes ?? 0;
      expect(forecast.throughputBytesPerSecond).toBe(Math.round(restore.sqlBytes / restore.seconds));
      expect(forecast.forecastSeconds).toBeCloseTo((restore.seconds * (newest + 90 * slope)) / newest, 2);
      expect(forecast.budgetSeconds).toBe(60);

      // The summary says it in words, on stdout and in summary.txt.
      const line = `  forecast  ${forecast.sentence}`;
      expect(run.stdout).toContain(line);
      expect(await readFile(latestReportFile(reports, 'summary.txt'), 'utf8')).toContain(line);
      expect(forecast.sentence).toMatch(
        /^(at today's growth \(\+\d+\.\d KiB\/day of SQL over 7 backups\) the restore exceeds 60 s in about \d+ days? \(\d+\.\d s in 90 days\)|stays under the 60 s budget for the next 90 days at today's growth \(\+\d+\.\d KiB\/day of SQL over 7 backups\): about \d+\.\d s in 90 days)$/,
      );

      // The same numbers in a real Pushgateway, in the drill's own group.
      const samples = await scrapeGroup(gateway.url, { job: 'pg_restore_drill', ...report.push?.grouping });
      const value = (name: string) => samples.find((s) => s.name === name)?.value;
      expect(report.push?.ok).toBe(true);
      expect(value('pg_dr_drill_rto_forecast_seconds')).toBe(forecast.forecastSeconds);
      expect(value('pg_dr_drill_restore_throughput_bytes_per_second')).toBe(
        forecast.throughputBytesPerSecond,
      );
      expect(value('pg_dr_drill_rto_budget_seconds')).toBe(60);
    } finally {
      await gateway.stop();
    }
  });
});
