import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Connection } from '../pg/connection.ts';
import { TOOL_APPLICATION_NAME } from '../pg/databases.ts';
import type { Executor, ToolResult, ToolRun } from './executor.ts';
import { toolVersionVia } from './tool-output.ts';

/** Keep this much of a tool's stderr: with ON_ERROR_STOP the error that matters comes first. */
const STDERR_CAP_BYTES = 256 * 1024;
/** After SIGTERM, a tool that has not exited by then gets SIGKILL. */
const KILL_GRACE_MS = 5000;

/** Variables of the parent environment a tool may see; every PG* setting comes from the target instead. */
const PASSED_ENV = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'LC_CTYPE', 'LC_MESSAGES', 'TZ', 'TMPDIR'];

/**
 * The libpq environment for a connection. The password travels here, never in argv (argv is visible to
 * every user through `ps`).
 */
export function libpqEnv(connection: Connection, base: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const name of PASSED_ENV) if (base[name] !== undefined) env[name] = base[name];
  env.PGHOST = connection.host;
  env.PGPORT = String(connection.port);
  env.PGUSER = connection.user;
  env.PGDATABASE = connection.database;
  env.PGAPPNAME = TOOL_APPLICATION_NAME;
  env.PGCONNECT_TIMEOUT = '15';
  if (connection.password !== undefined) env.PGPASSWORD = connection.password;
  return env;
}

/**
 * Runs the client tools from a bin directory on this machine. `libpq` adds libpq settings of the
 * caller's own (`record` makes every session read-only with PGOPTIONS).
 */
export function hostExecutor(
  binDir: string,
  connection: Connection,
  baseEnv: NodeJS.ProcessEnv,
  libpq: NodeJS.ProcessEnv = {},
): Executor {
  const env = { ...libpqEnv(connection, baseEnv), ...libpq };
  const run: Executor['run'] = (tool, args, options) => runProcess(join(binDir, tool), args, env, options);
  return {
    where: `host (${binDir})`,
    readsHostPaths: true,
    run,
    toolVersion: (tool) => toolVersionVia(run, tool),
  };
}

/** Spawns a program, streams stdin/stdout, collects stderr, honours an AbortSignal. */
export function runProcess(
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  options: ToolRun = {},
): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env,
      // A process group of its own: a signal to the drill's group (a terminal, `timeout`, a CI runner) is
      // the drill's to act on; it stops the tool itself (the abort below), then cleans up and reports.
      detached: true,
      stdio: [options.stdin ? 'pipe' : 'ignore', options.stdout ? 'pipe' : 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (text: string) => {
      if (stderr.length < STDERR_CAP_BYTES) stderr += text.slice(0, STDERR_CAP_BYTES - stderr.length);
    });
    // Each flow settles to its error (or undefined) at once, so a stream failing early is never an
    // unhandled rejection while the tool is still running.
    const flows: Promise<Error | undefined>[] = [];
    const track = (flow: Promise<void>) =>
      flows.push(
        flow.then(
          () => undefined,
          (error: Error) => error,
        ),
      );
    if (options.stdin && child.stdin) {
      // A tool that stops reading early (psql under ON_ERROR_STOP) closes the pipe: EPIPE is its exit
      // status's business, not an error of ours. Other stream errors are reported through the pipeline.
      track(
        pipeline(options.stdin, child.stdin).catch((error: NodeJS.ErrnoException) => {
          if (error.code !== 'EPIPE' && error.code !== 'ERR_STREAM_PREMATURE_CLOSE') throw error;
        }),
      );
    }
    if (options.stdout && child.stdout) track(pipeline(child.stdout, options.stdout));
    let killTimer: NodeJS.Timeout | undefined;
    const abort = () => {
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
      killTimer.unref();
    };
    if (options.signal?.aborted) abort();
    options.signal?.addEventListener('abort', abort, { once: true });
    const exited = new Promise<{ exitCode: number | null; signal: string | null }>((done) => {
      child.on('close', (exitCode, signal) => done({ exitCode, signal }));
    });
    child.on('error', (error) => {
      options.signal?.removeEventListener('abort', abort);
      reject(error);
    });
    exited.then(async (status) => {
      options.signal?.removeEventListener('abort', abort);
      if (killTimer) clearTimeout(killTimer);
      // A stream that broke while the tool ran (gunzip on a damaged file) is the real cause, whatever
      // the tool's exit status says about the input it saw end early.
      const failed = (await Promise.all(flows)).find((error) => error !== undefined);
      if (failed) {
        reject(failed);
        return;
      }
      resolve({ ...status, stderr });
    }, reject);
  });
}
