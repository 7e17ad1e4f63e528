import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { libpqEnv } from '../lib/exec/host.ts';
import { withClient } from '../lib/pg/databases.ts';
import type { DrillReport } from '../lib/report/report.ts';
import type { StartedTarget } from '../lib/targets/target.ts';
import { runChild, tailLines } from './child.ts';
import { startThrowaway } from './cluster.ts';
import type { BenchBackup } from './generate.ts';
import { type PeakRss, watchPeakRss } from './peak-rss.ts';

export interface MeasureContext {
  binDir: string;
  /** The project root: where `lib/cli.ts` is and the drill runs from. */
  root: string;
  /** Scratch space for reports and logs, removed at the end. */
  work: string;
  signal: AbortSignal;
}

/** Runs `fn` against a cluster made for it alone (same settings as the drill's), stopped afterwards. */
async function withFreshCluster<T>(
  ctx: MeasureContext,
  fn: (target: StartedTarget) => Promise<T>,
): Promise<T> {
  ctx.signal.throwIfAborted();
  const target = await startThrowaway(ctx.binDir);
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

export interface DrillRun {
  report: DrillReport;
  /** report.restore.seconds */
  restoreSeconds: number;
  peak: PeakRss;
  /** Wall time of the whole CLI process. */
  wallSeconds: number;
}

let drillRuns = 0;

/**
 * The drill as an operator runs it, a child process: `node --import tsx lib/cli.ts --target local
 * --backups DIR …`, which starts its own throwaway cluster. Its memory is watched from outside.
 */
export async function drillRun(
  ctx: MeasureContext,
  backup: BenchBackup,
  extra: string[] = [],
): Promise<DrillRun> {
  const n = ++drillRuns;
  const reportDir = join(ctx.work, `drill-report-${n}`);
  const logFile = join(ctx.work, `drill-${n}.log`);
  let watcher: ReturnType<typeof watchPeakRss> | undefined;
  let peak: PeakRss | undefined;
  const args = [
    '--import',
    'tsx',
    'lib/cli.ts',
    '--target',
    'local',
    '--backups',
    backup.dir,
    '--report-dir',
    reportDir,
    '--progress',
    'off',
    '--mode',
    'cluster',
    ...extra,
  ];
  const result = await runChild(process.execPath, args, {
    env: drillEnv(process.env),
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
  const report = await readFile(join(reportDir, 'latest', 'report.json'), 'utf8')
    .then((text) => JSON.parse(text) as DrillReport)
    .catch(() => undefined);
  if (result.exitCode !== 0 || report?.verdict !== 'passed' || !report.restore || !peak) {
    const log = await readFile(logFile, 'utf8').catch(() => '');
    throw new Error(
      `drill ${args.slice(2).join(' ')} ended with ${result.exitCode ?? result.signal} (${report?.verdict ?? 'no report'}):\n${tailLines(log, 20)}`,
    );
  }
  await rm(reportDir, { recursive: true, force: true });
  await rm(logFile, { force: true });
  return { report, restoreSeconds: report.restore.seconds, peak, wallSeconds: result.seconds };
}

/** Whether the drill's --help offers `--verify` (deep verification is being built). */
export async function drillOffersVerify(ctx: MeasureContext): Promise<boolean> {
  const logFile = join(ctx.work, 'drill-help.txt');
  const result = await runChild(process.execPath, ['--import', 'tsx', 'lib/cli.ts', '--help'], {
    env: drillEnv(process.env),
    cwd: ctx.root,
    logFile,
    signal: ctx.signal,
    stopSignal: 'SIGTERM',
  });
  const help = await readFile(logFile, 'utf8');
  if (result.exitCode !== 0) throw new Error(`lib/cli.ts --help failed:\n${tailLines(help)}`);
  return /^\s*--verify\b/m.test(help);
}

/** The caller's environment without DRILL_*, PG* or DATABASE_URL: the flags alone decide each run. */
function drillEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(env).filter(([name]) => !/^(DRILL_|PG)/.test(name) && name !== 'DATABASE_URL'),
  );
}
