/**
 * The bench's flags and its verdicts on issue #12's targets: each target is judged on the figure it
 * names, on either side of its threshold, and a size not measured is said to be not measured.
 */
import { describe, expect, it } from 'vitest';
import type { DrillRun } from '../bench/measure.ts';
import { BenchUsageError, readBenchOptions } from '../bench/options.ts';
import type { PeakRss } from '../bench/peak-rss.ts';
import { type PlainResult, pairsSaid, type Results, recommendation, targetLines } from '../bench/results.ts';
import type { DrillReport } from '../lib/report/report.ts';

function run(
  restore: number,
  wall: number,
  ownMb: number,
  verify = 0.1,
  containerMb = ownMb + 10,
  launcherMb = 0,
): DrillRun {
  const peak: PeakRss = {
    ownMb,
    launcherMb,
    largestMb: ownMb,
    largest: 'node (1)',
    containerMb,
    counted: [],
    tools: [],
  };
  const report = { mode: 'backups', deep: null, phases: { restore, verify, total: wall - 0.5 } };
  return {
    entry: 'bin',
    report: report as unknown as DrillReport,
    restoreSeconds: restore,
    wallSeconds: wall,
    peak,
  };
}

function plain(sizeMb: number, raw: number, drill: DrillRun[], deep?: DrillRun): PlainResult {
  return { sizeMb, sqlBytes: sizeMb * 1e6, gzBytes: sizeMb * 3e5, baseline: [raw, raw], drill, deep };
}

const line = (lines: string[], text: string) => lines.filter((l) => l.includes(text)).map((l) => l.trim());

describe('bench targets', () => {
  const results: Results = {
    plain: [
      plain(10, 1.0, [run(1.02, 3, 120), run(1.02, 3, 140)]),
      plain(1000, 30, [run(31.5, 32.5, 149), run(31.5, 32.5, 149)], run(31, 35, 151, 7.5)),
    ],
    selfContained: {
      bin: [run(0.2, 1.5, 100), run(0.2, 1.7, 100)],
      npm: [run(0.2, 1.9, 180)],
      cold: { bin: run(0.2, 2.6, 110) },
    },
    archive: undefined,
  };
  const lines = targetLines(results);

  it('judges the wall time at 1 GB on wall ÷ raw: 32.5 / 30 is within 1.10', () => {
    expect(line(lines, 'drill wall time')).toEqual([
      'met      1 GB: drill wall time ≤ 1.1 × raw gunzip | psql (1.083: 32.50 s against 30.00 s; over 1.1 in 0 of 2 pairs, pair ratios 1.083)',
    ]);
  });

  it('judges the restore on restore ÷ raw at every size from 10 MB: 1.02 met, 1.05 NOT met', () => {
    expect(line(lines, 'drill restore ≤ 1.03')).toEqual([
      'met      10 MB: drill restore ≤ 1.03 × raw gunzip | psql (1.020; over 1.03 in 0 of 2 pairs, pair ratios 1.020)',
      'NOT met  1 GB: drill restore ≤ 1.03 × raw gunzip | psql (1.050; over 1.03 in 2 of 2 pairs, pair ratios 1.050)',
    ]);
  });

  it('judges the fixed overhead on wall − restore of the self-contained drill, per command, a first run with an empty initdb cache on its own', () => {
    expect(line(lines, 'fixed overhead')).toEqual([
      'NOT met  self-contained drill (MALLOC_ARENA_MAX=2 node --max-semi-space-size=1 bin/pg-restore-drill.mjs --target local, first run, empty initdb cache): fixed overhead ≤ 1.5 s (2.40 s: wall 2.60 s, restore 0.20 s)',
      'met      self-contained drill (MALLOC_ARENA_MAX=2 node --max-semi-space-size=1 bin/pg-restore-drill.mjs --target local): fixed overhead ≤ 1.5 s (1.40 s: wall 1.60 s, restore 0.20 s)',
      'NOT met  self-contained drill (npm run drill -- --target local): fixed overhead ≤ 1.5 s (1.70 s: wall 1.90 s, restore 0.20 s)',
    ]);
  });

  it('judges peak RSS on the highest own sum of every run of a size, the deep run included', () => {
    expect(line(lines, 'peak RSS').map((l) => l.slice(0, l.indexOf(':')))).toEqual([
      'met      10 MB',
      'NOT met  1 GB',
      'met      self-contained (MALLOC_ARENA_MAX=2 node --max-semi-space-size=1 bin/pg-restore-drill.mjs)',
      'NOT met  self-contained (npm run drill --)',
    ]);
  });

  it("judges `npm run drill` on the drill's processes and names npm's own beside them", () => {
    const npm = targetLines({
      ...results,
      selfContained: {
        bin: [],
        npm: [run(0.2, 1.4, 130, 0.1, 200, 60), run(0.2, 1.4, 128, 0.1, 200, 58)],
        cold: {},
      },
    });
    expect(line(npm, 'self-contained (npm run drill --): peak RSS')).toEqual([
      "met      self-contained (npm run drill --): peak RSS of the drill's own processes ≤ 150 MiB (130 MiB; largest node (1) 130 MiB; npm's own process beside it, not the drill's: 60 MiB)",
    ]);
  });

  it('judges --verify deep on its verify phase ÷ the same run’s restore: 7.5 / 31 is within 0.25', () => {
    expect(line(lines, '--verify deep')).toEqual([
      'met      1 GB: --verify deep ≤ 0.25 × the restore (0.242: verify 7.50 s, restore 31.00 s, same run)',
    ]);
  });

  it('says how the alternated pairs behind a ratio went: over the target in every pair, or in some', () => {
    expect(pairsSaid([1, 1, 1], [1.2, 1.1, 1.3], 1.03)).toBe(
      'over 1.03 in 3 of 3 pairs, pair ratios 1.100–1.300',
    );
    expect(pairsSaid([1, 2, 1], [0.9, 2.2, 1.02], 1.03)).toBe(
      'over 1.03 in 1 of 3 pairs, pair ratios 0.900–1.100',
    );
    expect(pairsSaid([], [], 1.03)).toBe('no pairs');
  });

  it('reads the pg_restore rows pair by pair too', () => {
    const archive = targetLines({
      ...results,
      archive: {
        sizeMb: 100,
        fileBytes: 3e7,
        rows: [{ jobs: 1, raw: [2.5, 2.6, 2.4], drill: [2.4, 2.9, 2.5] }],
      },
    });
    expect(line(archive, 'pg_restore -j1')).toEqual([
      'met      -j1: drill restore ≤ 1.03 × raw pg_restore -j1 (1.000; over 1.03 in 2 of 3 pairs, pair ratios 0.960–1.115)',
    ]);
  });

  it('says the 1 GB targets were not measured when no size reaches 1 GB', () => {
    const small = targetLines({ ...results, plain: results.plain.slice(0, 1) });
    expect(line(small, 'not measured')).toHaveLength(2);
  });

  it('recommends the container peak × 1.5 rounded up to 16 Mi, leaving npm out', () => {
    // Highest container peak without npm: the 1 GB deep run, 151 + 10 MiB → 241.5 → 256 Mi.
    expect(recommendation(results, 'today')[2]?.trim()).toBe(
      'recommended  requests.memory: 256Mi  limits.memory: 512Mi  (peak × 1.5, rounded up to 16 Mi; limit 2 × request)',
    );
  });
});

describe('bench options', () => {
  it('takes canary and MB sizes, sorted, without repeats', () => {
    expect(readBenchOptions(['--sizes', '100,canary,10,100'], '/tmp').sizesMb).toEqual([0, 10, 100]);
  });

  it('refuses a size that is neither canary nor a whole number of MB, naming the flag', () => {
    expect(() => readBenchOptions(['--sizes', 'canary,10k'], '/tmp')).toThrow(BenchUsageError);
    expect(() => readBenchOptions(['--sizes', 'canary,10k'], '/tmp')).toThrow(
      /--sizes \(canary or MB\).*`10k`/,
    );
  });
});
