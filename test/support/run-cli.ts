import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { DrillReport } from '../../lib/report/report.ts';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** The CLI as it ships: compiled JavaScript (`npm run build`; the integration project rebuilds a stale one). */
export const CLI_ENTRY = join(ROOT, 'dist/bundle/cli.js');

/** node's arguments to run `entry`: shipped JavaScript as it is, a TypeScript test wrapper under tsx. */
export function nodeArgs(entry: string, args: string[]): string[] {
  return entry.endsWith('.ts') ? ['--import', 'tsx', entry, ...args] : [entry, ...args];
}

export interface CliRun {
  child: ChildProcess;
  /** Resolves when the CLI exits. */
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
  /** Resolves once stdout has printed a line matching `pattern`. */
  waitFor(pattern: RegExp): Promise<void>;
}

/** Variables through which testcontainers finds a container engine. */
export const ENGINE_ENV = ['DOCKER_HOST', 'TESTCONTAINERS_RYUK_DISABLED', 'TESTCONTAINERS_HOST_OVERRIDE'];

export interface CliOptions {
  engine?: boolean;
  entry?: string;
  /** Through `npm run drill --` itself, as an operator or a CI job starts it (npm relays signals). */
  npm?: boolean;
  /** In a process group of its own (its pid is the group's id): a test can signal the whole group. */
  detached?: boolean;
  /** A command the drill runs under, e.g. `setpriv --bounding-set=… --`. */
  prefix?: string[];
}

const TEST_CACHE_HOME = join(tmpdir(), `pg-restore-drill-test-cache-${process.getuid?.() ?? 'user'}`);

/**
 * The environment a test's CLI runs with: this process's, without DRILL_*, PG* and DATABASE_URL, and
 * without the container engine's variables unless `engine` (elsewhere `--target auto` must mean the
 * local binaries, whatever the machine runs); then `env`.
 */
export function cliEnv(env: NodeJS.ProcessEnv = {}, engine = false): NodeJS.ProcessEnv {
  const base = Object.fromEntries(
    Object.entries(process.env).filter(
      ([name]) =>
        !name.startsWith('DRILL_') &&
        !name.startsWith('PG') &&
        name !== 'DATABASE_URL' &&
        (engine || !ENGINE_ENV.includes(name)),
    ),
  );
  // The two looks at the newest backup that tell whether it is still being written are 5 s apart by
  // default: a test that is not about a growing backup looks 0.1 s apart (a test may set it again).
  // The local target's initdb template cache goes to a directory of the tests' own in the temp dir,
  // never the user's ~/.cache (the cache's own tests give theirs).
  return {
    ...base,
    XDG_CACHE_HOME: TEST_CACHE_HOME,
    DRILL_GROWTH_CHECK_INTERVAL: '0.1',
    ...env,
  };
}

/**
 * Starts the drill as the operator would: `node dist/bundle/cli.js args` (what `npm run drill -- args` runs),
 * or through `npm run drill --` itself with `npm: true` (npm relays signals).
 */
export function startCli(args: string[], env: NodeJS.ProcessEnv = {}, options: CliOptions = {}): CliRun {
  const [drill, drillArgs] = options.npm
    ? ['npm', ['run', '--silent', 'drill', '--', ...args]]
    : [process.execPath, nodeArgs(options.entry ?? CLI_ENTRY, args)];
  const [command, ...argv] = [...(options.prefix ?? []), drill, ...drillArgs];
  const child = spawn(command as string, argv, {
    cwd: ROOT,
    detached: options.detached === true,
    env: cliEnv(env, options.engine === true),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const waiters: { pattern: RegExp; resolve: () => void }[] = [];
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    for (const w of waiters.filter((w) => w.pattern.test(stdout))) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const done = new Promise<{
    code: number | null;
    signal: NodeJS.Signals | null;
    stdout: string;
    stderr: string;
  }>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return {
    child,
    done,
    waitFor: (pattern) =>
      pattern.test(stdout)
        ? Promise.resolve()
        : new Promise((resolve, reject) => {
            waiters.push({ pattern, resolve });
            void done.then(({ code }) =>
              reject(new Error(`the CLI exited (${code}) before printing ${pattern}:\n${stdout}\n${stderr}`)),
            );
          }),
  };
}

export function runCli(args: string[], env: NodeJS.ProcessEnv = {}, options: CliOptions = {}) {
  return startCli(args, env, options).done;
}

/** A file of the newest run's report in a --report-dir: each run writes its own directory, `latest` names it. */
export function latestReportFile(dir: string, file: 'report.json' | 'summary.txt' = 'report.json'): string {
  return join(dir, 'latest', file);
}

export async function readReport(dir: string): Promise<DrillReport> {
  return JSON.parse(await readFile(latestReportFile(dir), 'utf8')) as DrillReport;
}

/**
 * Writes `dump` (gzipped) as the one backup of a new directory `name` in `scratch` and runs
 * `--verify deep --progress off` on it, then `args`, with the report in `name-report`; returns the run
 * and its report.
 */
export async function deepDrill(scratch: string, name: string, dump: string | Buffer, args: string[] = []) {
  const dir = join(scratch, name);
  await mkdir(dir);
  await writeFile(join(dir, 'postgres-backup-2026-11-21-030000.sql.gz'), gzipSync(dump));
  return deepDrillOf(dir, join(scratch, `${name}-report`), args);
}

/** `--backups dir --verify deep --progress off --report-dir reports`, then `args`; the run and its report. */
export async function deepDrillOf(dir: string, reports: string, args: string[] = []) {
  const run = await runCli([
    '--backups',
    dir,
    '--verify',
    'deep',
    '--progress',
    'off',
    '--report-dir',
    reports,
    ...args,
  ]);
  return { ...run, report: await readReport(reports) };
}
