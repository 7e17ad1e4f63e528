import type { Duplex } from 'node:stream';
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { SESSION_OPTIONS } from '../pg/databases.ts';
import type { DockerApi } from './container-engine.ts';
import type { Executor, PgTool, ToolResult, ToolRun } from './executor.ts';
import { onAbort, pidStderr, toolVersionVia } from './tool-output.ts';

/** Where the official image (and ours) put the server's socket: the tools connect there, trusted. */
export const CONTAINER_SOCKET_DIR = '/var/run/postgresql';

type Container = ReturnType<DockerApi['getContainer']>;

/**
 * Runs the client tools inside the server's container through the engine's exec API, so client and
 * server versions always match and nothing is installed on the host. Standard input is streamed into
 * the exec (the backup is never copied into the container); the tools reach the server over its local
 * socket with trust authentication, so no password travels at all.
 */
export function containerExecutor(
  docker: DockerApi,
  containerId: string,
  user: string,
  /** The backup directory is mounted at its own path inside: the tools may take its paths. */
  backupsMounted = false,
): Executor {
  const container = docker.getContainer(containerId);
  const run = (tool: PgTool, args: readonly string[], options: ToolRun = {}) =>
    runInContainer(docker, container, user, tool, args, options);
  return {
    where: `container ${containerId.slice(0, 12)}`,
    readsHostPaths: backupsMounted,
    run,
    toolVersion: (tool) => toolVersionVia(run, tool),
  };
}

/** One tool in one exec: streams in, out and err, waits for its exit code. */
async function runInContainer(
  docker: DockerApi,
  container: Container,
  user: string,
  tool: PgTool,
  args: readonly string[],
  options: ToolRun,
): Promise<ToolResult> {
  // The shell reports its pid on stderr first, then becomes the tool: that pid is what an abort kills.
  const exec = await container.exec({
    Cmd: ['sh', '-c', 'echo "pid:$$" >&2; exec "$@"', 'pg-restore-drill', tool, ...args],
    Env: [
      `PGHOST=${CONTAINER_SOCKET_DIR}`,
      `PGUSER=${user}`,
      'PGDATABASE=postgres',
      'PGAPPNAME=pg-restore-drill',
      `PGOPTIONS=${SESSION_OPTIONS}`,
    ],
    User: 'postgres',
    AttachStdin: options.stdin !== undefined,
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
  });
  const stream: Duplex = await exec.start({ hijack: true, stdin: options.stdin !== undefined });
  const stderr = pidStderr();
  docker.modem.demuxStream(stream, options.stdout ?? new PassThrough().resume(), stderr.sink);
  const ended = new Promise<void>((resolve) => {
    stream.once('end', resolve);
    stream.once('close', resolve);
    stream.once('error', () => resolve());
  });
  const feed = feedStdin(options.stdin, stream);
  const detach = onAbort(options.signal, () => {
    const pid = stderr.pid();
    if (pid) void killInContainer(container, pid);
    stream.destroy();
  });
  try {
    await ended;
    options.stdout?.end();
    const exitCode = await exitCodeOf(exec);
    const feedError = feed();
    if (feedError) throw feedError;
    const aborted = options.signal?.aborted === true;
    return {
      exitCode: aborted ? null : exitCode,
      signal: aborted ? 'SIGTERM' : null,
      stderr: stderr.text().replace(/^Error: write unixpacket[^\n]*\n?/gm, ''),
    };
  } finally {
    detach();
  }
}

/**
 * Streams the input into the exec; its end half-closes the exec's stdin, so psql sees EOF. Returns what
 * broke the input, once the exec has ended. A reader that stops early resets the connection: that is
 * the tool's exit status's business, not a feed error.
 */
function feedStdin(stdin: ToolRun['stdin'], stream: Duplex): () => Error | undefined {
  let feedError: Error | undefined;
  if (stdin) {
    pipeline(stdin, stream).catch((error: NodeJS.ErrnoException) => {
      if (!['ECONNRESET', 'EPIPE', 'ERR_STREAM_PREMATURE_CLOSE'].includes(error.code ?? ''))
        feedError = error;
    });
  }
  return () => feedError;
}

/** The exec's exit code, known a moment after its streams close. */
async function exitCodeOf(exec: Awaited<ReturnType<Container['exec']>>): Promise<number | null> {
  let info = await exec.inspect();
  for (let i = 0; info.Running && i < 100; i++) {
    await sleep(50);
    info = await exec.inspect();
  }
  return info.ExitCode ?? null;
}

/** Stops a tool inside the container (SIGTERM, then SIGKILL) through a second exec. */
async function killInContainer(container: Container, pid: string): Promise<void> {
  for (const signal of ['TERM', 'KILL']) {
    const exec = await container
      .exec({ Cmd: ['kill', `-${signal}`, pid], AttachStdout: false, AttachStderr: false, User: 'postgres' })
      .catch(() => undefined);
    await exec?.start({}).catch(() => undefined);
    await sleep(2000);
  }
}
