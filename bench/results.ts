import type { DrillRun } from './measure.ts';

/** The drill may cost at most this much over the raw tool doing the same restore. */
export const OVERHEAD_TARGET = 1.05;
/** Peak memory of the drill's own processes when restoring 1 GB of SQL. */
export const RSS_TARGET_MB = 150;
export const RSS_TARGET_SIZE_MB = 1000;

/** The runbook's restore budgets: < 30 s for 1–10 MB of SQL, < 5 min from 100 MB. */
export function budgetSeconds(sizeMb: number): number {
  return sizeMb <= 10 ? 30 : 300;
}

export interface PlainResult {
  sizeMb: number;
  sqlBytes: number;
  gzBytes: number;
  baseline: number[];
  drill: DrillRun[];
  /** The `--verify deep` runs; undefined when the drill has no --verify. */
  deep: DrillRun[] | undefined;
}

export interface ArchiveResult {
  sizeMb: number;
  fileBytes: number;
  rows: { jobs: number; raw: number[]; drill: number[] }[];
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? Number.NaN) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
}

const s = (seconds: number) => seconds.toFixed(2);
const mb = (bytes: number) => (bytes / 1e6).toFixed(1);
const met = (ok: boolean) => (ok ? 'met' : 'NOT met');

/** The tables, every run's figures, and each target as met / NOT met. */
export function formatResults(plain: PlainResult[], archive: ArchiveResult | undefined): string {
  const out: string[] = [];
  out.push(
    'Plain pg_dumpall | gzip backups; medians; each restore into a fresh throwaway cluster (fsync=off, as the drill):',
    ...table(
      [
        'size',
        'SQL MB',
        'gz MB',
        'runs',
        'baseline s',
        'drill restore s',
        'ratio',
        'drill total s',
        'drill peak RSS MB sum (largest)',
        'deep-verify s',
      ],
      plain.map((r) => {
        const drillRestore = median(r.drill.map((d) => d.restoreSeconds));
        const peakSum = Math.max(...r.drill.map((d) => d.peak.sumMb));
        const peakLargest = Math.max(...r.drill.map((d) => d.peak.largestMb));
        return [
          sizeLabel(r.sizeMb),
          mb(r.sqlBytes),
          mb(r.gzBytes),
          String(r.baseline.length),
          s(median(r.baseline)),
          s(drillRestore),
          (drillRestore / median(r.baseline)).toFixed(3),
          s(median(r.drill.map((d) => d.report.phases.total))),
          `${peakSum.toFixed(0)} (${peakLargest.toFixed(0)})`,
          r.deep ? s(median(r.deep.map(deepSeconds))) : 'n/a',
        ];
      }),
    ),
  );
  if (archive) {
    out.push(
      '',
      `pg_restore of a pg_dump -Fc archive of the ${sizeLabel(archive.sizeMb)} database (${mb(archive.fileBytes)} MB); medians:`,
      ...table(
        ['jobs', 'runs', 'raw pg_restore s', 'drill restore s', 'ratio'],
        archive.rows.map((r) => [
          `-j${r.jobs}`,
          String(r.raw.length),
          s(median(r.raw)),
          s(median(r.drill)),
          (median(r.drill) / median(r.raw)).toFixed(3),
        ]),
      ),
    );
  }

  out.push('', 'Every run (s), in the order run:');
  for (const r of plain) {
    out.push(
      `  ${sizeLabel(r.sizeMb).padEnd(7)} baseline ${r.baseline.map(s).join(' ')} | drill restore ${r.drill.map((d) => s(d.restoreSeconds)).join(' ')} | drill phases ${r.drill.map(phases).join(' ; ')} | peak RSS sum ${r.drill.map((d) => d.peak.sumMb.toFixed(0)).join(' ')} MB${r.deep ? ` | --verify deep: ${r.deep.map(phases).join(' ; ')}, peak RSS sum ${r.deep.map((d) => d.peak.sumMb.toFixed(0)).join(' ')} MB` : ''}`,
    );
  }
  for (const r of archive?.rows ?? []) {
    out.push(
      `  -j${r.jobs}     raw pg_restore ${r.raw.map(s).join(' ')} | drill restore ${r.drill.map(s).join(' ')}`,
    );
  }
  const counted = plain.at(-1)?.drill.at(-1)?.peak.counted;
  if (counted) out.push(`  RSS counted (last run): ${counted.join(', ')}`);

  out.push('', 'Targets:');
  for (const r of plain) {
    const ratio = median(r.drill.map((d) => d.restoreSeconds)) / median(r.baseline);
    out.push(
      `  ${met(ratio <= OVERHEAD_TARGET).padEnd(7)}  ${sizeLabel(r.sizeMb)}: drill restore ≤ ${OVERHEAD_TARGET} × baseline psql (${ratio.toFixed(3)})`,
    );
  }
  for (const r of archive?.rows ?? []) {
    const ratio = median(r.drill) / median(r.raw);
    out.push(
      `  ${met(ratio <= OVERHEAD_TARGET).padEnd(7)}  -j${r.jobs}: drill restore ≤ ${OVERHEAD_TARGET} × raw pg_restore -j${r.jobs} (${ratio.toFixed(3)})`,
    );
  }
  const big = plain.find((r) => r.sizeMb >= RSS_TARGET_SIZE_MB);
  if (big) {
    const sum = Math.max(...big.drill.map((d) => d.peak.sumMb));
    const largest = Math.max(...big.drill.map((d) => d.peak.largestMb));
    out.push(
      `  ${met(sum <= RSS_TARGET_MB).padEnd(7)}  ${sizeLabel(big.sizeMb)}: drill peak RSS ≤ ${RSS_TARGET_MB} MB, sum of the drill's processes (${sum.toFixed(0)} MB; largest single process ${largest.toFixed(0)} MB: ${met(largest <= RSS_TARGET_MB)})`,
    );
  } else {
    out.push(`  -        peak RSS ≤ ${RSS_TARGET_MB} MB at 1 GB: not measured (1000 not in --sizes)`);
  }
  for (const r of plain) {
    const restore = median(r.drill.map((d) => d.restoreSeconds));
    const budget = budgetSeconds(r.sizeMb);
    out.push(
      `  ${met(restore < budget).padEnd(7)}  ${sizeLabel(r.sizeMb)}: drill restore < ${budget} s RTO budget (${s(restore)} s)`,
    );
  }
  return out.join('\n');
}

/** The verify phase of a `--verify deep` run: the canary checks and every table read back. */
function deepSeconds(run: DrillRun): number {
  return run.report.phases.verify ?? Number.NaN;
}

function phases(run: DrillRun): string {
  const p = run.report.phases;
  return `precheck ${s(p.precheck ?? 0)} restore ${s(p.restore ?? 0)} verify ${s(p.verify ?? 0)} total ${s(p.total)}`;
}

export function sizeLabel(sizeMb: number): string {
  return sizeMb >= 1000 && sizeMb % 1000 === 0 ? `${sizeMb / 1000} GB` : `${sizeMb} MB`;
}
