import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { libpqEnv } from '../lib/exec/host.ts';
import { withClient } from '../lib/pg/databases.ts';
import type { DrillReport } from '../lib/report/report.ts';
import type { StartedTarget } from '../lib/targets/target.ts';
import { startTestCluster } from '../test/support/cluster.ts';
import { readReport } from '../test/support/run-cli.ts';
import { runChild, tailLines } from './child.ts';
import type { BenchBackup } from './generate.ts';
import { type PeakRss, watchPeakRss } from './peak-rss.ts';

export interface MeasureContext {
  binDir: string;
  /** The project root: where `bin/pg-restore-drill.mjs` is and the drill runs from. */
  root: string;
  /** Scratch space for reports and logs, removed at the end. */
  work: string;
  signal: AbortSignal;
  /**
   * The bench's own initdb template cache (`--initdb-cache`), when the drill has one: never the user's
   * ~/.cache, so a run starts from a state the bench knows. Undefined: the drill has no such setting.
   */
  initdbCache?: string;
}

/** Runs `fn` against a cluster made for it alone (same settings as the drill's), stopped afterwards. */
async function withFreshCluster<T>(
  ctx: MeasureContext,
  fn: (target: StartedTarget) => Promise<T>,
): Promise<T> {
  ctx.signal.throwIfAborted();
  const target = await startTestCluster();
  try {
    ctx.signal.throwIfAborted();
    return await fn(target);
  } finally {
    await target.stop();
  }
}

/** The one error a whole pg_dumpall replayed into a fresh cluster must give, and no other. */
const EXPECTED_BASELINE_ERROR = 'ERROR:  role "postgres" already exists';

/**
 * The floor: `gunzip -c FILE | psql -X -q -v ON_ERROR_STOP=0 -d postgres`, as POSTGRES-NOTES measured
 * it. It connects as a second superuser made before the clock starts: the dump's `ALTER ROLE postgres …
 * PASSWORD` would otherwise lock psql out at the next `\connect`. `CREATE ROLE postgres` fails, hence
 * ON_ERROR_STOP off; any other error fails the bench.
 */
export async function rawPsqlSeconds(ctx: MeasureContext, backup: BenchBackup): Promise<number> {
  return withFreshCluster(ctx, async (target) => {
    const password = randomBytes(18).toString('base64url');
    await withClient(target.handle.connection, 'postgres', (c) =>
      c.query(`CREATE ROLE bench_baseline SUPERUSER LOGIN PASSWORD '${password}'`),
    );
    const env = libpqEnv({ ...target.handle.connection, user: 'bench_baseline', password }, process.env);
    const result = await runChild(
      'bash',
      [
        '-c',
        'set -o pipefail; gunzip -c "$1" | "$0" -X -q -v ON_ERROR_STOP=0 -d postgres',
        join(ctx.binDir, 'psql'),
        backup.file,
      ],
      { env, signal: ctx.signal, stopSignal: 'SIGTERM' },
    );
    const errors = result.stderr.split('\n').filter((line) => /\b(ERROR|FATAL):/.test(line));
    if (result.exitCode !== 0 || errors.length !== 1 || !errors[0]?.endsWith(EXPECTED_BASELINE_ERROR)) {
      throw new Error(
        `baseline restore of ${backup.file}: exit ${result.exitCode ?? result.signal}, errors:\n${tailLines(result.stderr)}`,
      );
    }
    return result.seconds;
  });
}

/** `pg_restore` with the drill's own flags (lib/restore/archive-restore.ts), `-j N` when N > 1. */
export async function rawPgRestoreSeconds(
  ctx: MeasureContext,
  backup: BenchBackup,
  jobs: number,
): Promise<number> {
  return withFreshCluster(ctx, async (target) => {
    const args = ['--exit-on-error', '--no-owner', '--no-privileges', '--create', '-d', 'postgres'];
    if (jobs > 1) args.push('-j', String(jobs));
    const result = await runChild(join(ctx.binDir, 'pg_restore'), [...args, backup.file], {
      env: libpqEnv(target.handle.connection, process.env),
      signal: ctx.signal,
      stopSignal: 'SIGTERM',
    });
    if (result.exitCode !== 0) {
      throw new Error(
        `pg_restore ${args.join(' ')} ${backup.file}: exit ${result.exitCode ?? result.signal}:\n${tailLines(result.stderr)}`,
      );
    }
    return result.seconds;
  });
}

/** How the drill is started: what the image and the CronJob run, or what the README tells a newcomer. */
export type DrillEntry = 'bin' | 'npm';

/**
 * The environment the image (Dockerfile ENV) and the CronJob give `node bin/pg-restore-drill.mjs`
 * beyond the user's; `npm run drill` sets it in its script. glibc reads it as node starts.
 */
const BIN_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };
const BIN_ENV_TEXT = Object.entries(BIN_ENV)
  .map(([name, value]) => `${name}=${value}`)
  .join(' ');

/** The command line of each entry, as a person would type it (the drill's flags follow). */
export const ENTRY_COMMAND: Record<DrillEntry, string> = {
  bin: `${BIN_ENV_TEXT} node --max-semi-space-size=1 bin/pg-restore-drill.mjs`,
  npm: 'npm run drill --',
};

function entryArgv(entry: DrillEntry, args: string[]): [string, string[]] {
  return entry === 'bin'
    ? [process.execPath, ['--max-semi-space-size=1', 'bin/pg-restore-drill.mjs', ...args]]
    : ['npm', ['run', 'drill', '--', ...args]];
}

export interface DrillRun {
  entry: DrillEntry;
  report: DrillReport;
  /** report.restore.seconds: psql's (or pg_restore's) spawn to exit, timed inside the drill. */
  restoreSeconds: number;
  peak: PeakRss;
  /** Wall time of the whole drill: its process's spawn to its exit. */
  wallSeconds: number;
}

let drillRuns = 0;

/**
 * The drill as its users run it, a child process in its own process group: `node
 * bin/pg-restore-drill.mjs --target local --report-dir R --progress off …` (the image's entrypoint and
 * the CronJob's command) or `npm run drill -- …`. Without `backup` it is the self-contained drill
 * (seed the canary, back it up, restore it); with one, `--backups DIR --mode cluster`. It starts its own
 * throwaway cluster; its memory is watched from outside, its restore time read from its report.
 */
export async function drillRun(
  ctx: MeasureContext,
  backup: BenchBackup | undefined,
  extra: string[] = [],
  entry: DrillEntry = 'bin',
  initdbCache = ctx.initdbCache,
): Promise<DrillRun> {
  const n = ++drillRuns;
  const reportDir = join(ctx.work, `drill-report-${n}`);
  const logFile = join(ctx.work, `drill-${n}.log`);
  let watcher: ReturnType<typeof watchPeakRss> | undefined;
  let peak: PeakRss | undefined;
  const args = [
    '--target',
    'local',
    ...(backup ? ['--backups', backup.dir, '--mode', 'cluster'] : []),
    '--report-dir',
    reportDir,
    '--progress',
    'off',
    ...(initdbCache ? ['--initdb-cache', initdbCache] : []),
    ...extra,
  ];
  const [command, argv] = entryArgv(entry, args);
  const result = await runChild(command, argv, {
    env: entryEnv(entry),
    cwd: ctx.root,
    logFile,
    signal: ctx.signal,
    stopSignal: 'SIGINT',
    onStart: (pid) => {
      watcher = watchPeakRss(pid);
    },
  }).finally(() => {
    peak = watcher?.stop();
  });
  // The tests' own reader: it follows the report directory's layout (a run's own subdirectory…).
  const report = await readReport(reportDir).catch(() => undefined);
  if (result.exitCode !== 0 || report?.verdict !== 'passed' || !report.restore || !peak) {
    const log = await readFile(logFile, 'utf8').catch(() => '');
    throw new Error(
      `${ENTRY_COMMAND[entry]} ${args.join(' ')} ended with ${result.exitCode ?? result.signal} (${report?.verdict ?? 'no report'}):\n${tailLines(log, 20)}`,
    );
  }
  await rm(reportDir, { recursive: true, force: true });
  await rm(logFile, { force: true });
  return { entry, report, restoreSeconds: report.restore.seconds, peak, wallSeconds: result.seconds };
}

/** The drill's --help, to learn which settings the measured tree has (`--verify`, `--initdb-cache`). */
export async function drillHelp(ctx: MeasureContext): Promise<string> {
  const logFile = join(ctx.work, 'drill-help.txt');
  const [command, argv] = entryArgv('bin', ['--help']);
  const result = await runChild(command, argv, {
    env: drillEnv(process.env),
    cwd: ctx.root,
    logFile,
    signal: ctx.signal,
    stopSignal: 'SIGTERM',
  });
  const help = await readFile(logFile, 'utf8');
  if (result.exitCode !== 0) throw new Error(`${ENTRY_COMMAND.bin} --help failed:\n${tailLines(help)}`);
  return help;
}

/** Whether a --help text offers a flag. */
export const offers = (help: string, flag: string) => new RegExp(`^\\s*${flag}\\b`, 'm').test(help);

function entryEnv(entry: DrillEntry): NodeJS.ProcessEnv {
  const env = drillEnv(process.env);
  return entry === 'bin' ? { ...env, ...BIN_ENV } : env;
}

/**
 * The caller's environment as a user's shell would have it: without DRILL_*, PG*, DATABASE_URL (the
 * flags alone decide each run), without what npm and tsx put there for the bench itself (npm_*,
 * NODE_OPTIONS, node_modules/.bin on PATH).
 */
function drillEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const kept = Object.fromEntries(
    Object.entries(env).filter(
      ([name]) => !/^(DRILL_|PG|npm_|TSX_)/i.test(name) && name !== 'DATABASE_URL' && name !== 'NODE_OPTIONS',
    ),
  );
  kept.PATH = (env.PATH ?? '')
    .split(':')
    .filter((dir) => !dir.endsWith('node_modules/.bin'))
    .join(':');
  return kept;
}
