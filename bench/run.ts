/**
 * `npm run bench`: how fast the drill restores against the raw tools, and how much memory it takes.
 * See docs/benchmarks.md for a run and how to read it.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_SEARCH_ROOTS, findPgBinDir } from '../lib/pg/binaries.ts';
import { type BenchBackup, prepareBackups } from './generate.ts';
import {
  drillOffersVerify,
  drillRun,
  type MeasureContext,
  rawPgRestoreSeconds,
  rawPsqlSeconds,
} from './measure.ts';
import { BenchUsageError, readBenchOptions, runsFor, USAGE } from './options.ts';
import { type ArchiveResult, formatResults, type PlainResult, sizeLabel } from './results.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

const log = (message: string) => process.stderr.write(`bench: ${message}\n`);
/** Aborted with the signal's name on SIGINT/SIGTERM: the running step stops, then everything is removed. */
const controller = new AbortController();

async function main(argv: string[]): Promise<number> {
  const options = readBenchOptions(argv, process.cwd());
  if (options.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (options.keepFiles && !relative(ROOT, options.keepFiles).startsWith('..')) {
    throw new BenchUsageError(
      `--keep-files ${options.keepFiles} is inside the repository: use a directory outside it.`,
    );
  }
  let firstSignalAt: number | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    // A Ctrl-C in the terminal reaches npm, tsx and the bench at once, and npm and tsx pass it on:
    // copies within a moment are that one Ctrl-C. Another one later means: exit now (the servers'
    // guardians still remove the servers).
    if (firstSignalAt !== undefined) {
      if (performance.now() - firstSignalAt > 2000) process.exit(signal === 'SIGINT' ? 130 : 143);
      return;
    }
    firstSignalAt = performance.now();
    log(`${signal}: stopping the running step and cleaning up (again to exit at once)`);
    controller.abort(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const started = performance.now();
  const { binDir } = await findPgBinDir({ path: process.env.PATH ?? '', versionRoots: DEFAULT_SEARCH_ROOTS });
  const work = await mkdtemp(join(tmpdir(), 'pg-restore-drill-bench-'));
  try {
    const ctx: MeasureContext = { binDir, root: ROOT, work, signal: controller.signal };
    const backupsRoot = options.keepFiles ?? join(work, 'backups');
    await mkdir(backupsRoot, { recursive: true });
    process.stdout.write(`${header(binDir, argv, options.gzipLevel)}\n\n`);

    const deep = await drillOffersVerify(ctx);
    log(
      deep
        ? 'the drill offers --verify: deep verification is measured'
        : 'the drill has no --verify yet: deep-verify is n/a',
    );
    const backups = await prepareBackups({
      root: backupsRoot,
      sizesMb: options.sizesMb,
      archiveSizeMb: options.archiveSizeMb,
      gzipLevel: options.gzipLevel,
      binDir,
      signal: controller.signal,
      log,
    });
    const generatedAt = performance.now();

    const plain: PlainResult[] = [];
    for (const sizeMb of options.sizesMb) {
      const backup = find(backups, sizeMb, 'plain');
      const result: PlainResult = {
        sizeMb,
        sqlBytes: backup.sqlBytes ?? 0,
        gzBytes: backup.fileBytes,
        baseline: [],
        drill: [],
        deep: deep ? [] : undefined,
      };
      const runs = runsFor(options, sizeMb);
      // Alternating, so a drift of the machine (page cache, a neighbour) hits both sides alike.
      for (let run = 1; run <= runs; run++) {
        result.baseline.push(await rawPsqlSeconds(ctx, backup));
        const drill = await drillRun(ctx, backup);
        result.drill.push(drill);
        log(
          `${sizeLabel(sizeMb)} run ${run}/${runs}: baseline ${result.baseline.at(-1)?.toFixed(2)} s, drill restore ${drill.restoreSeconds.toFixed(2)} s (total ${drill.report.phases.total.toFixed(2)} s, peak RSS ${drill.peak.sumMb.toFixed(0)} MB)`,
        );
      }
      if (result.deep) {
        const run = await drillRun(ctx, backup, ['--verify', 'deep']);
        result.deep.push(run);
        log(`${sizeLabel(sizeMb)} --verify deep: verify phase ${run.report.phases.verify} s`);
      }
      plain.push(result);
    }

    let archive: ArchiveResult | undefined;
    if (options.archiveSizeMb !== undefined) {
      const backup = find(backups, options.archiveSizeMb, 'custom');
      archive = {
        sizeMb: options.archiveSizeMb,
        fileBytes: backup.fileBytes,
        rows: [1, 2].map((jobs) => ({ jobs, raw: [], drill: [] })),
      };
      const runs = runsFor(options, options.archiveSizeMb);
      for (let run = 1; run <= runs; run++) {
        for (const row of archive.rows) {
          row.raw.push(await rawPgRestoreSeconds(ctx, backup, row.jobs));
          const drill = await drillRun(ctx, backup, ['--canary', 'none', '--jobs', String(row.jobs)]);
          row.drill.push(drill.restoreSeconds);
          log(
            `pg_restore -j${row.jobs} run ${run}/${runs}: raw ${row.raw.at(-1)?.toFixed(2)} s, drill restore ${drill.restoreSeconds.toFixed(2)} s`,
          );
        }
      }
    }

    const finished = performance.now();
    process.stdout.write(`${formatResults(plain, archive)}\n\n`);
    process.stdout.write(
      `${[
        `Bench runtime: ${minutes(finished - started)} (backups ${options.keepFiles ? 'from/into --keep-files, ' : ''}${minutes(generatedAt - started)}; restores ${minutes(finished - generatedAt)})`,
        `Load average at the end: ${loadavg()
          .map((l) => l.toFixed(2))
          .join(' ')}`,
      ].join('\n')}\n`,
    );
    return 0;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

function find(backups: BenchBackup[], sizeMb: number, format: BenchBackup['format']): BenchBackup {
  const backup = backups.find((b) => b.sizeMb === sizeMb && b.format === format);
  if (!backup) throw new Error(`no ${format} backup of ${sizeMb} MB was generated`);
  return backup;
}

/** What a reader needs to compare a run with theirs. */
function header(binDir: string, argv: string[], gzipLevel: number): string {
  const postgres = execFileSync(join(binDir, 'postgres'), ['--version'], { encoding: 'utf8' }).trim();
  const cpu = cpus();
  return [
    `pg-restore-drill bench, ${new Date().toISOString()}`,
    `  command   npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}  (tsx bench/run.ts${argv.length ? ` ${argv.join(' ')}` : ''})`,
    `  machine   ${cpu.length} CPU (${cpu[0]?.model.trim() ?? '?'}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, Linux ${release()}`,
    `  software  ${postgres} from ${binDir}; Node ${process.version}`,
    `  backups   pg_dumpall | gzip -${gzipLevel} (plain), pg_dump -Fc default compression (archive)`,
    `  load      ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} (1/5/15 min averages at the start)`,
  ].join('\n');
}

function minutes(ms: number): string {
  const seconds = Math.round(ms / 1000);
  return `${Math.floor(seconds / 60)} min ${String(seconds % 60).padStart(2, '0')} s`;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof BenchUsageError) {
      process.stderr.write(`bench: ${error.message}\n`);
      process.exitCode = 2;
      return;
    }
    if (controller.signal.aborted) {
      process.stderr.write(`bench: interrupted by ${String(controller.signal.reason)}; cleaned up\n`);
      process.exitCode = controller.signal.reason === 'SIGINT' ? 130 : 143;
      return;
    }
    process.stderr.write(`bench: failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
