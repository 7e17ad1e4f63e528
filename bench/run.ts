/**
 * `npm run bench`: how fast the drill restores against the raw tools, and how much memory it takes.
 * See docs/benchmarks.md for a run and how to read it.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { DEFAULT_SEARCH_ROOTS, findPgBinDir } from '../lib/pg/binaries.ts';
import { type BenchBackup, prepareBackups } from './generate.ts';
import {
  type DrillEntry,
  type DrillRun,
  drillHelp,
  drillRun,
  ENTRY_COMMAND,
  type MeasureContext,
  offers,
  rawPgRestoreSeconds,
  rawPsqlSeconds,
} from './measure.ts';
import {
  archiveRunsFor,
  BenchUsageError,
  CANARY_SIZE,
  readBenchOptions,
  runsFor,
  sizeLabel,
  USAGE,
} from './options.ts';
import {
  type ArchiveResult,
  formatResults,
  type PlainResult,
  type Results,
  type SelfContainedResult,
} from './results.ts';

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
    const head = header(binDir, argv, options.gzipLevel);
    process.stdout.write(`${head}\n\n`);

    const help = await drillHelp(ctx);
    const deep = offers(help, '--verify');
    log(
      deep
        ? 'the drill offers --verify: deep verification is measured'
        : 'the drill has no --verify: deep-verify is n/a',
    );
    if (offers(help, '--initdb-cache')) {
      ctx.initdbCache = join(work, 'initdb-cache');
      log(`the drill keeps an initdb template cache: the bench's own, ${ctx.initdbCache}, empty at first`);
    }
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
    const results: Results = {
      plain: [],
      selfContained: await measureSelfContained(ctx, runsFor(options, CANARY_SIZE)),
      archive: undefined,
    };
    for (const sizeMb of options.sizesMb) {
      results.plain.push(
        await measurePlain(ctx, find(backups, sizeMb, 'plain'), runsFor(options, sizeMb), deep),
      );
    }
    if (options.archiveSizeMb !== undefined) {
      const backup = find(backups, options.archiveSizeMb, 'custom');
      results.archive = await measureArchive(ctx, backup, archiveRunsFor(options), deep);
    }

    const finished = performance.now();
    const body = [
      formatResults(results, await currentResources()),
      '',
      `Bench runtime: ${minutes(finished - started)} (backups ${options.keepFiles ? 'from/into --keep-files, ' : ''}${minutes(generatedAt - started)}; restores ${minutes(finished - generatedAt)})`,
      `Load average at the end: ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    ].join('\n');
    process.stdout.write(`${body}\n`);
    if (options.writeDoc) {
      await writeDocSection(options.writeDoc, argv, `${head}\n\n${body}`);
      log(`wrote the run into ${options.writeDoc}`);
    }
    return 0;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * Runs `raw` and `drill` once each, raw first in odd runs and drill first in even ones (ABBA…): a drift
 * of the machine hits both sides alike, and so does whatever a run leaves behind for the next (its
 * cluster's files being removed, the page cache): with raw always first, the drill always came second.
 */
async function pair(run: number, raw: () => Promise<void>, drill: () => Promise<void>): Promise<void> {
  for (const side of run % 2 === 1 ? [raw, drill] : [drill, raw]) await side();
}

/** Raw and drill alternating (ABBA…, see pair); then --verify deep. */
async function measurePlain(
  ctx: MeasureContext,
  backup: BenchBackup,
  runs: number,
  deep: boolean,
): Promise<PlainResult> {
  const label = sizeLabel(backup.sizeMb);
  const result: PlainResult = {
    sizeMb: backup.sizeMb,
    sqlBytes: backup.sqlBytes ?? 0,
    gzBytes: backup.fileBytes,
    baseline: [],
    drill: [],
    deep: undefined,
  };
  for (let run = 1; run <= runs; run++) {
    let drill: DrillRun | undefined;
    await pair(
      run,
      async () => {
        result.baseline.push(await rawPsqlSeconds(ctx, backup));
      },
      async () => {
        drill = await drillRun(ctx, backup);
      },
    );
    if (!drill) throw new Error('unreachable: the pair ran no drill');
    result.drill.push(drill);
    log(
      `${label} run ${run}/${runs}: raw ${result.baseline.at(-1)?.toFixed(2)} s, drill restore ${drill.restoreSeconds.toFixed(2)} s, wall ${drill.wallSeconds.toFixed(2)} s, RSS ${drill.peak.ownMb.toFixed(0)} MiB`,
    );
  }
  if (deep) {
    result.deep = await drillRun(ctx, backup, ['--verify', 'deep']);
    log(
      `${label} --verify deep: verify ${result.deep.report.phases.verify?.toFixed(2)} s, restore ${result.deep.restoreSeconds.toFixed(2)} s`,
    );
  }
  return result;
}

/**
 * The self-contained drill, `node bin/…` and `npm run drill` alternating. With an initdb template
 * cache, each command first runs once with an empty cache (a machine's first drill: initdb runs, and
 * the `node bin/…` run fills the cache the later runs use), then `runs` times with it warm.
 */
async function measureSelfContained(ctx: MeasureContext, runs: number): Promise<SelfContainedResult> {
  const result: SelfContainedResult = { bin: [], npm: [], cold: {} };
  const say = (entry: DrillEntry, what: string, drill: DrillRun) =>
    log(
      `self-contained (${ENTRY_COMMAND[entry]}) ${what}: wall ${drill.wallSeconds.toFixed(2)} s, restore ${drill.restoreSeconds.toFixed(2)} s, RSS ${drill.peak.ownMb.toFixed(0)} MiB`,
    );
  if (ctx.initdbCache) {
    for (const entry of ['bin', 'npm'] as const) {
      const empty = entry === 'bin' ? ctx.initdbCache : join(ctx.work, 'initdb-cache-first-npm');
      const drill = await drillRun(ctx, undefined, [], entry, empty);
      result.cold[entry] = drill;
      say(entry, 'first run, empty initdb cache', drill);
    }
  }
  for (let run = 1; run <= runs; run++) {
    for (const entry of ['bin', 'npm'] as const) {
      const drill = await drillRun(ctx, undefined, [], entry);
      result[entry].push(drill);
      say(entry, `run ${run}/${runs}`, drill);
    }
  }
  return result;
}

/**
 * Raw pg_restore -j1, drill --jobs 1, raw -j2, drill --jobs 2, alternating. The archive has no canary:
 * the drill refuses `--canary none` with nothing else to verify, so it verifies deep where it can (the
 * restore's own time is unchanged by what follows it).
 */
async function measureArchive(
  ctx: MeasureContext,
  backup: BenchBackup,
  runs: number,
  deep: boolean,
): Promise<ArchiveResult> {
  const noCanary = ['--canary', 'none', ...(deep ? ['--verify', 'deep'] : [])];
  const archive: ArchiveResult = {
    sizeMb: backup.sizeMb,
    fileBytes: backup.fileBytes,
    rows: [1, 2].map((jobs) => ({ jobs, raw: [], drill: [] })),
  };
  for (let run = 1; run <= runs; run++) {
    for (const row of archive.rows) {
      await pair(
        run,
        async () => {
          row.raw.push(await rawPgRestoreSeconds(ctx, backup, row.jobs));
        },
        async () => {
          row.drill.push(
            (await drillRun(ctx, backup, [...noCanary, '--jobs', String(row.jobs)])).restoreSeconds,
          );
        },
      );
      log(
        `pg_restore -j${row.jobs} run ${run}/${runs}: raw ${row.raw.at(-1)?.toFixed(2)} s, drill restore ${row.drill.at(-1)?.toFixed(2)} s`,
      );
    }
  }
  return archive;
}

/** The drill container's memory request and limit in k8s/base/cronjob.yaml, as it is now. */
async function currentResources(): Promise<string> {
  const text = await readFile(join(ROOT, 'k8s/base/cronjob.yaml'), 'utf8').catch(() => undefined);
  const cronJob = text ? (parse(text) as CronJobShape) : undefined;
  const containers = cronJob?.spec?.jobTemplate?.spec?.template?.spec?.containers ?? [];
  const memory = containers.find((c) => c.name === 'drill')?.resources;
  return memory
    ? `requests.memory: ${memory.requests?.memory ?? 'unset'}  limits.memory: ${memory.limits?.memory ?? 'unset'}`
    : 'no drill container found in k8s/base/cronjob.yaml';
}

interface CronJobShape {
  spec?: {
    jobTemplate?: {
      spec?: {
        template?: {
          spec?: {
            containers?: {
              name: string;
              resources?: { requests?: { memory?: string }; limits?: { memory?: string } };
            }[];
          };
        };
      };
    };
  };
}

const DOC_BEGIN = '<!-- bench-run:begin -->';
const DOC_END = '<!-- bench-run:end -->';

/** Replaces the run between the markers of a Markdown file with this run: its command, machine, output. */
async function writeDocSection(file: string, argv: string[], output: string): Promise<void> {
  const text = await readFile(file, 'utf8');
  const begin = text.indexOf(DOC_BEGIN);
  const end = text.indexOf(DOC_END);
  if (begin < 0 || end < begin) {
    throw new BenchUsageError(
      `--write-doc ${file}: no ${DOC_BEGIN} … ${DOC_END} lines in it; add them where the run goes.`,
    );
  }
  const section = [
    DOC_BEGIN,
    '',
    `Run with \`npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}\`; its standard output, verbatim (the header gives`,
    'the machine, the software and the load):',
    '',
    '```',
    output,
    '```',
    '',
  ].join('\n');
  await writeFile(file, `${text.slice(0, begin)}${section}${text.slice(end)}`);
}

function find(backups: BenchBackup[], sizeMb: number, format: BenchBackup['format']): BenchBackup {
  const backup = backups.find((b) => b.sizeMb === sizeMb && b.format === format);
  if (!backup) throw new Error(`no ${format} backup of ${sizeLabel(sizeMb)} was generated`);
  return backup;
}

/** What a reader needs to compare a run with theirs, and which drill was measured. */
function header(binDir: string, argv: string[], gzipLevel: number): string {
  const postgres = execFileSync(join(binDir, 'postgres'), ['--version'], { encoding: 'utf8' }).trim();
  const cpu = cpus();
  const args = argv.length ? ` ${argv.join(' ')}` : '';
  return [
    `pg-restore-drill bench, ${new Date().toISOString()}`,
    `  command   npm run bench${argv.length ? ` --${args}` : ''}  (${benchScript()}${args})`,
    `  drill     ${ENTRY_COMMAND.bin} (${drillRuntime()}), tree ${treeVersion()}`,
    `  machine   ${cpu.length} CPU (${cpu[0]?.model.trim() ?? '?'}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, Linux ${release()}`,
    `  software  ${postgres} from ${binDir}; Node ${process.version}`,
    `  backups   pg_dumpall | gzip -${gzipLevel} (plain), pg_dump -Fc default compression (archive)`,
    `  load      ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} (1/5/15 min averages at the start)`,
  ].join('\n');
}

/** package.json's `bench` script: what `npm run bench` ran. */
function benchScript(): string {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    scripts?: Record<string, string>;
  };
  return pkg.scripts?.bench ?? '?';
}

/** Whether the drill's entry compiles TypeScript at run time (tsx) or runs JavaScript as it is. */
function drillRuntime(): string {
  const bin = readFileSync(join(ROOT, 'bin/pg-restore-drill.mjs'), 'utf8');
  return /\btsx\b/.test(bin.replace(/^\s*\/\/.*$/gm, ''))
    ? 'TypeScript compiled at run time by tsx'
    : 'no tsx in its entry';
}

/** The commit measured, and whether the work tree differs from it. */
function treeVersion(): string {
  try {
    const git = (...args: string[]) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();
    return `${git('rev-parse', '--short', 'HEAD')}${git('status', '--porcelain', '--untracked-files=no') ? ' + uncommitted changes' : ''}`;
  } catch {
    return 'unknown (no git)';
  }
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
