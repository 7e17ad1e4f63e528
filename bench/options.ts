import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

/** `--sizes canary`: the canary database alone, a few KB of SQL (0 MB of application data). */
export const CANARY_SIZE = 0;
/** The sizes `npm run bench` runs by default: the canary alone, about 10 MB, 100 MB and 1 GB of SQL. */
export const DEFAULT_SIZES_MB = [CANARY_SIZE, 10, 100, 1000];
/** The database of this size is also dumped with `pg_dump -Fc` for the pg_restore rows. */
export const DEFAULT_ARCHIVE_SIZE_MB = 100;
/** gzip level of the plain backups: the CronJob runs plain `gzip`, whose default is 6. */
export const DEFAULT_GZIP_LEVEL = 6;
/** Plain gzip's pg_dumpall output is stored as 32-bit length in the gzip trailer: stay below 4 GiB. */
const MAX_SIZE_MB = 4000;

export interface BenchOptions {
  sizesMb: number[];
  /** Runs per size; undefined: 2 for 1 GB and more, 5 below. */
  runs: number | undefined;
  /** Size whose database is also archived with pg_dump -Fc; undefined: no pg_restore rows. */
  archiveSizeMb: number | undefined;
  /** Reuse (and keep) the generated backups in this directory. */
  keepFiles: string | undefined;
  gzipLevel: number;
  /** Write the run's section of this Markdown file (between the bench markers) from the output. */
  writeDoc: string | undefined;
  help: boolean;
}

export const USAGE = `Usage: npm run bench -- [options]

Generates pg_dumpall backups (pg_dumpall | gzip) of the canary alone (a few KB) and of about 10 MB,
100 MB and 1 GB of SQL and a pg_dump -Fc archive, then restores each into a fresh throwaway cluster: raw
gunzip | psql / pg_restore against the drill as its users run it (node --max-semi-space-size=1 bin/pg-restore-drill.mjs
--target local, timed from spawn to exit), alternating; then the self-contained drill (node
bin/pg-restore-drill.mjs and npm run drill, --target local). Prints the medians and each target.

Options:
  --sizes LIST          canary (a few KB) or MB of uncompressed SQL, comma-separated
                        (default: ${DEFAULT_SIZES_MB.map(sizeToken).join(',')})
  --runs N              runs of each measurement (default: 2 for 1000 MB and more, 5 below,
                        9 for the pg_restore rows)
  --archive-size MB     size whose database is also dumped with pg_dump -Fc for the pg_restore rows;
                        must be one of --sizes, or none (default: ${DEFAULT_ARCHIVE_SIZE_MB} when in --sizes, else none)
  --keep-files DIR      keep the generated backups in DIR and reuse them on the next run (not in the repo)
  --gzip-level N        gzip level of the plain backups (default: ${DEFAULT_GZIP_LEVEL}, as the CronJob's plain gzip)
  --write-doc FILE      also write the run (command, machine, the output) into FILE between the lines
                        <!-- bench-run:begin --> and <!-- bench-run:end --> (docs/benchmarks.md has them)
  --help                print this help`;

export class BenchUsageError extends Error {
  readonly code = 'BENCH_USAGE';
}

/** Reads the bench's flags; every bad value is a BenchUsageError naming the flag and the value. */
export function readBenchOptions(argv: readonly string[], cwd: string): BenchOptions {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: [...argv],
      options: {
        sizes: { type: 'string' },
        runs: { type: 'string' },
        'archive-size': { type: 'string' },
        'keep-files': { type: 'string' },
        'gzip-level': { type: 'string' },
        'write-doc': { type: 'string' },
        help: { type: 'boolean' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    throw new BenchUsageError(`${(error as Error).message}. See --help.`);
  }
  const text = (name: string) => values[name] as string | undefined;
  const whole = (name: string, value: string, min: number, max: number): number => {
    const number = Number(value);
    if (!Number.isInteger(number) || number < min || number > max) {
      throw new BenchUsageError(
        `Expected --${name} to be a whole number from ${min} to ${max}, got \`${value}\`.`,
      );
    }
    return number;
  };
  const sizesText = text('sizes');
  const sizesMb = sizesText
    ? [
        ...new Set(
          sizesText
            .split(',')
            .map((s) =>
              s.trim() === 'canary' ? CANARY_SIZE : whole('sizes (canary or MB)', s.trim(), 1, MAX_SIZE_MB),
            ),
        ),
      ].sort((a, b) => a - b)
    : DEFAULT_SIZES_MB;
  const runsText = text('runs');
  const archiveText = text('archive-size');
  let archiveSizeMb: number | undefined;
  if (archiveText === undefined) {
    archiveSizeMb = sizesMb.includes(DEFAULT_ARCHIVE_SIZE_MB) ? DEFAULT_ARCHIVE_SIZE_MB : undefined;
  } else if (archiveText !== 'none') {
    archiveSizeMb = whole('archive-size', archiveText, 1, MAX_SIZE_MB);
    if (!sizesMb.includes(archiveSizeMb)) {
      throw new BenchUsageError(
        `Expected --archive-size to be one of --sizes (${sizesMb.join(', ')}) or none, got \`${archiveText}\`.`,
      );
    }
  }
  const keepFiles = text('keep-files');
  return {
    sizesMb,
    runs: runsText === undefined ? undefined : whole('runs', runsText, 1, 50),
    archiveSizeMb,
    keepFiles: keepFiles === undefined ? undefined : resolve(cwd, keepFiles),
    gzipLevel: whole('gzip-level', text('gzip-level') ?? String(DEFAULT_GZIP_LEVEL), 1, 9),
    writeDoc: text('write-doc') === undefined ? undefined : resolve(cwd, text('write-doc') ?? ''),
    help: values.help === true,
  };
}

/** A size as --sizes spells it. */
function sizeToken(sizeMb: number): string {
  return sizeMb === CANARY_SIZE ? 'canary' : String(sizeMb);
}

/** A size for people: `canary`, `10 MB`, `1 GB`. */
export function sizeLabel(sizeMb: number): string {
  if (sizeMb === CANARY_SIZE) return 'canary';
  return sizeMb >= 1000 && sizeMb % 1000 === 0 ? `${sizeMb / 1000} GB` : `${sizeMb} MB`;
}

/**
 * Runs for a size: `--runs`, else 2 from 1 GB up (each run costs about a minute there), else 5 (a
 * restore of a few seconds varies by more than the 3 % the restore target allows: with 3 runs one
 * slow run in either column moved the 100 MB ratio from 1.04 to 1.09).
 */
export function runsFor(options: BenchOptions, sizeMb: number): number {
  return options.runs ?? (sizeMb >= 1000 ? 2 : 5);
}

/**
 * Runs of each pg_restore row: `--runs`, else 9. A restore of the 100 MB archive takes some 2.5 s and
 * its runs spread from 2.1 to 3.4 s on the bench machine: medians of 5 put the drill 5 to 13 % above
 * raw in three runs of the bench, while 8 pairs of the same two commands, alternated, gave 1.004 (-j1)
 * and 1.007 (-j2) on 2026-12-02. Each pair costs some 7 s.
 */
export function archiveRunsFor(options: BenchOptions): number {
  return options.runs ?? 9;
}
