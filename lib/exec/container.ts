import { PassThrough, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DockerApi } from '../targets/container-engine.ts';
import type { Executor, PgTool, ToolResult, ToolRun } from './executor.ts';
import { toolVersionVia } from './tool-output.ts';

/** Keep this much of a tool's stderr, as on the host. */
const STDERR_CAP_BYTES = 256 * 1024;
/** Where the official image (and ours) put the server's socket: the tools connect there, trusted. */
export const CONTAINER_SOCKET_DIR = '/var/run/postgresql';

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
  const run = async (tool: PgTool, args: readonly string[], options: ToolRun = {}): Promise<ToolResult> => {
    // The shell reports its pid on stderr first, then becomes the tool: that pid is what an abort kills.
    const exec = await container.exec({
      Cmd: ['sh', '-c', 'echo "pid:$$" >&2; exec "$@"', 'pg-restore-drill', tool, ...args],
      Env: [
        `PGHOST=${CONTAINER_SOCKET_DIR}`,
        `PGUSER=${user}`,
        'PGDATABASE=postgres',
        'PGAPPNAME=pg-restore-drill',
      ],
      User: 'postgres',
      AttachStdin: options.stdin !== undefined,
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
    });
    const stream = await exec.start({ hijack: true, stdin: options.stdin !== undefined });
    let stderr = '';
    let pid: string | undefined;
    const stderrSink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        let text = chunk.toString('utf8');
        if (pid === undefined) {
          const match = /^pid:(\d+)\n/.exec(text);
          if (match) {
            pid = match[1];
            text = text.slice(match[0].length);
          }
        }
        if (stderr.length < STDERR_CAP_BYTES) stderr += text.slice(0, STDERR_CAP_BYTES - stderr.length);
        done();
      },
    });
    const stdoutSink = options.stdout ?? new PassThrough().resume();
    docker.modem.demuxStream(stream, stdoutSink, stderrSink);
    const ended = new Promise<void>((resolve) => {
      stream.once('end', resolve);
      stream.once('close', resolve);
      stream.once('error', () => resolve());
    });
    let feedError: Error | undefined;
    if (options.stdin) {
      // The input's end half-closes the exec's stdin: psql sees EOF. A reader that stops early resets
      // the connection, which is the tool's exit status's business, not a feed error.
      pipeline(options.stdin, stream).catch((error: NodeJS.ErrnoException) => {
        if (!['ECONNRESET', 'EPIPE', 'ERR_STREAM_PREMATURE_CLOSE'].includes(error.code ?? ''))
          feedError = error;
      });
    }
    const abort = () => {
      if (pid) void killInContainer(container, pid);
      stream.destroy();
    };
    if (options.signal?.aborted) abort();
    options.signal?.addEventListener('abort', abort, { once: true });
    try {
      await ended;
      options.stdout?.end();
      // The exec's exit code is known a moment after its streams close.
      let info = await exec.inspect();
      for (let i = 0; info.Running && i < 100; i++) {
        await sleep(50);
        info = await exec.inspect();
      }
      if (feedError) throw feedError;
      const aborted = options.signal?.aborted === true;
      return {
        exitCode: aborted ? null : (info.ExitCode ?? null),
        signal: aborted ? 'SIGTERM' : null,
        stderr: stderr.replace(/^Error: write unixpacket[^\n]*\n?/gm, ''),
      };
    } finally {
      options.signal?.removeEventListener('abort', abort);
    }
  };
  return {
    where: `container ${containerId.slice(0, 12)}`,
    readsHostPaths: backupsMounted,
    run,
    toolVersion: (tool) => toolVersionVia(run, tool),
  };
}

/** Stops a tool inside the container (SIGTERM, then SIGKILL) through a second exec. */
async function killInContainer(container: ReturnType<DockerApi['getContainer']>, pid: string): Promise<void> {
  for (const signal of ['TERM', 'KILL']) {
    const exec = await container
      .exec({ Cmd: ['kill', `-${signal}`, pid], AttachStdout: false, AttachStderr: false, User: 'postgres' })
      .catch(() => undefined);
    await exec?.start({}).catch(() => undefined);
    await sleep(2000);
  }
}
