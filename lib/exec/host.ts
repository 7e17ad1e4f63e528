import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Connection } from '../pg/connection.ts';
import { SESSION_OPTIONS, TOOL_APPLICATION_NAME } from '../pg/databases.ts';
import { bufferReleaser } from './buffer-release.ts';
import type { Executor, ToolResult, ToolRun } from './executor.ts';
import { keepStderr, onAbort, toolVersionVia } from './tool-output.ts';

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
  env.PGOPTIONS = SESSION_OPTIONS;
  if (connection.password !== undefined) env.PGPASSWORD = connection.password;
  if (connection.tls) env.PGSSLMODE = connection.tls.mode;
  if (connection.tls?.rootCertFile) env.PGSSLROOTCERT = connection.tls.rootCertFile;
  return env;
}

/**
 * Runs the client tools from a bin directory on this machine. `libpq` adds libpq settings of the
 * caller's own (`record` makes every session read-only with PGOPTIONS, after SESSION_OPTIONS).
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

/**
 * Streams `input` into the child's stdin. A tool that stops reading early (psql under ON_ERROR_STOP)
 * closes the pipe: EPIPE is its exit status's business, not an error of ours. An input that breaks (a
 * read error under the backup) must not reach the tool as the end of its input, where `psql -1` would
 * COMMIT what it had: the tool is killed first, and its stdin closed only once it is gone.
 */
function feedStdin(input: Readable, child: ChildProcess): Promise<void> {
  const toChild = child.stdin as Writable;
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (error?: Error) => {
      if (settled) return;
      settled = true;
      if (error) reject(error);
      else resolve();
    };
    const broke = (error?: Error) => {
      if (settled) return;
      input.unpipe(toChild);
      child.kill('SIGKILL');
      if (child.exitCode !== null || child.signalCode !== null) toChild.destroy();
      else child.once('close', () => toChild.destroy());
      settle(error);
    };
    input.once('error', (error) => broke(error));
    // Destroyed without an error before its end: the same, the tool must not see an end of input.
    input.once('close', () => {
      if (!input.readableEnded) broke();
    });
    toChild.once('error', (error: NodeJS.ErrnoException) => {
      input.unpipe(toChild);
      input.destroy();
      settle(error.code === 'EPIPE' || error.code === 'ERR_STREAM_PREMATURE_CLOSE' ? undefined : error);
    });
    toChild.once('finish', () => settle());
    // The tool went away without a write failing (it exited while its input waited): stop feeding.
    toChild.once('close', () => {
      if (toChild.writableFinished) return;
      input.unpipe(toChild);
      input.destroy();
      settle();
    });
    input.pipe(toChild);
  });
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
      stderr = keepStderr(stderr, text);
    });
    const flows = streamFlows(child, options);
    let killTimer: NodeJS.Timeout | undefined;
    const detach = onAbort(options.signal, () => {
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
      killTimer.unref();
    });
    const exited = new Promise<{ exitCode: number | null; signal: string | null }>((done) => {
      child.on('close', (exitCode, signal) => done({ exitCode, signal }));
    });
    child.on('error', (error) => {
      detach();
      reject(error);
    });
    exited.then(async (status) => {
      detach();
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

/**
 * The tool's stdin and stdout streams, each settling to its error (or undefined) at once, so a stream
 * failing early is never an unhandled rejection while the tool is still running.
 */
function streamFlows(child: ChildProcess, options: ToolRun): Promise<Error | undefined>[] {
  const flows: Promise<Error | undefined>[] = [];
  const track = (flow: Promise<void>) =>
    flows.push(
      flow.then(
        () => undefined,
        (error: Error) => error,
      ),
    );
  if (options.stdin && child.stdin) track(feedStdin(options.stdin, child));
  if (options.stdout && child.stdout) {
    // What a tool writes back (pg_restore -f -, a deep read's COPY) arrives as fresh Buffers too.
    const release = bufferReleaser();
    child.stdout.on('data', (chunk: Buffer) => release(chunk.length));
    track(pipeline(child.stdout, options.stdout));
  }
  return flows;
}
