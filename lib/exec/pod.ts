import { PassThrough, Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { StringDecoder } from 'node:string_decoder';
import { setTimeout as delay } from 'node:timers/promises';
import { Exec, type KubeConfig, type V1Status } from '@kubernetes/client-node';
import { ConfigError } from '../errors.ts';
import { kubeError } from '../k8s/api-errors.ts';
import { ExecStdinUnsupportedError, PodExecError } from '../k8s/errors.ts';
import type { Executor, PgTool, ToolResult, ToolRun } from './executor.ts';
import { toolVersionVia } from './tool-output.ts';

/** The operator's PostgreSQL pod (Bitnami chart) and its container. */
export const DEFAULT_POD = 'postgres-postgresql-0';
export const DEFAULT_POD_CONTAINER = 'postgresql';
/** The variable the Bitnami image gets the postgres password in (from the chart's Secret). */
export const DEFAULT_PASSWORD_ENV = 'POSTGRES_PASSWORD';
/** Keep this much of a tool's stderr, as on the host. */
const STDERR_CAP_BYTES = 256 * 1024;
/** After SIGTERM inside the pod, a tool that has not exited by then gets SIGKILL. */
const KILL_GRACE_MS = 5000;
/** On abort, how long to wait for the tool's pid if it has not arrived yet (it is the first stderr line). */
const PID_WAIT_MS = 2000;
/** The only exec subprotocol that can half-close stdin (Kubernetes ≥ 1.30). */
const V5_PROTOCOL = 'v5.channel.k8s.io';
const STDIN_CHANNEL = Buffer.of(0);
/** Channel 255 (close), stream 0 (stdin): the v5 way to send EOF. */
const CLOSE_STDIN = Buffer.of(255, 0);

/** A container of a pod. */
export interface PodRef {
  namespace: string;
  name: string;
  container: string;
}

/** What we use of the exec WebSocket client-node hands back (a `ws` WebSocket). */
interface ExecSocket {
  readonly protocol: string;
  readonly readyState: number;
  send(data: Buffer, callback?: (error?: Error) => void): void;
  close(): void;
  pause(): void;
  resume(): void;
  once(event: 'close', listener: () => void): unknown;
}
const WS_OPEN = 1;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** `data/postgres-postgresql-0` or `postgres-postgresql-0` (in `defaultNamespace`) → a PodRef. */
export function parsePodRef(
  text: string,
  defaultNamespace: string,
  container: string = DEFAULT_POD_CONTAINER,
): PodRef {
  const [first, second, ...rest] = text.split('/');
  const namespace = second === undefined ? defaultNamespace : (first ?? '');
  const name = second ?? first ?? '';
  if (rest.length > 0 || !DNS_LABEL.test(namespace) || !DNS_SUBDOMAIN.test(name)) {
    throw new ConfigError(
      'pod',
      `Expected --pod to be NAMESPACE/POD or POD, e.g. data/${DEFAULT_POD}, got \`${text}\`.`,
    );
  }
  if (!DNS_LABEL.test(container)) {
    throw new ConfigError(
      'pod-container',
      `Expected a container name, e.g. ${DEFAULT_POD_CONTAINER}, got \`${container}\`.`,
    );
  }
  return { namespace, name, container };
}

/** `pod data/postgres-postgresql-0 (container postgresql)`. */
export function describePod(pod: PodRef): string {
  return `pod ${pod.namespace}/${pod.name} (container ${pod.container})`;
}

export interface PodExecutorOptions {
  kubeConfig: KubeConfig;
  pod: PodRef;
  /** libpq inside the pod; defaults 127.0.0.1, 5432, postgres, postgres. */
  host?: string;
  port?: number;
  user?: string;
  database?: string;
  /**
   * The pod's variable holding the password; `<NAME>_FILE` is read when it is empty (Bitnami's
   * usePasswordFiles). Default POSTGRES_PASSWORD.
   */
  passwordEnv?: string;
  killGraceMs?: number;
}

/** Single-quotes a word for sh. */
function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * The shell that runs a tool inside the pod. It reports its pid on stderr (what an abort kills), takes
 * the password from the pod's own environment into PGPASSWORD (so it never travels: not in our argv,
 * not in the exec request), sets the libpq connection, then becomes the tool.
 */
export function podToolCommand(options: PodExecutorOptions, tool: PgTool, args: readonly string[]): string[] {
  const variable = options.passwordEnv ?? DEFAULT_PASSWORD_ENV;
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(variable)) {
    throw new ConfigError('pod-password-env', `Expected an environment variable name, got \`${variable}\`.`);
  }
  const settings: [string, string][] = [
    ['PGHOST', options.host ?? '127.0.0.1'],
    ['PGPORT', String(options.port ?? 5432)],
    ['PGUSER', options.user ?? 'postgres'],
    ['PGDATABASE', options.database ?? 'postgres'],
    ['PGAPPNAME', 'pg-restore-drill'],
    ['PGCONNECT_TIMEOUT', '15'],
  ];
  const script = [
    'echo "pid:$$" >&2',
    `pw=\${${variable}:-}`,
    `if [ -z "$pw" ] && [ -n "\${${variable}_FILE:-}" ]; then pw=$(cat "\${${variable}_FILE}") || exit 125; fi`,
    'if [ -n "$pw" ]; then PGPASSWORD=$pw; export PGPASSWORD; fi',
    'unset pw',
    settings.map(([name, value]) => `${name}=${shellQuote(value)}`).join(' '),
    `export ${settings.map(([name]) => name).join(' ')}`,
    'exec "$@"',
  ].join('\n');
  return ['sh', '-c', script, 'pg-restore-drill', tool, ...args];
}

/** The shell's own `kill`: images need not ship a kill binary, every one that runs sh has the builtin. */
export function killCommand(signal: 'TERM' | 'KILL', pid: string): string[] {
  return ['sh', '-c', `kill -${signal} "$1"`, 'kill', pid];
}

/** The exit code a finished exec reports on its status channel (channel 3). */
export function exitCodeFromStatus(status: V1Status): number | undefined {
  if (status.status === 'Success') return 0;
  if (status.reason !== 'NonZeroExitCode') return undefined;
  const cause = status.details?.causes?.find((c) => c.reason === 'ExitCode');
  const code = Number(cause?.message);
  return Number.isInteger(code) ? code : undefined;
}

/**
 * Runs the client tools inside a pod through the Kubernetes exec API (client-node's Exec over the
 * v5/v4.channel.k8s.io WebSocket), as an operator would with `kubectl exec -i … psql`: standard input is
 * streamed in with backpressure (the backup is never copied into the pod) and closed with v5's
 * close-stdin frame, standard output goes to the caller's sink, stderr is kept (capped), and the exit code
 * comes from the status channel. An abort kills the tool inside the pod through a second exec.
 */
export function podExecutor(options: PodExecutorOptions): Executor {
  const { kubeConfig, pod } = options;
  const where = describePod(pod);
  const killGraceMs = options.killGraceMs ?? KILL_GRACE_MS;

  /** One exec: connects, and says when the command has ended (status received, or the socket closed). */
  const open = async (
    command: string[],
    stdout: Writable | null,
    stderr: Writable,
    stdin: PassThrough | null,
  ): Promise<{ socket: ExecSocket; ended: Promise<V1Status | undefined> }> => {
    let gotStatus: (status: V1Status) => void = () => {};
    const status = new Promise<V1Status>((resolve) => {
      gotStatus = resolve;
    });
    let socket: ExecSocket;
    try {
      socket = await new Exec(kubeConfig).exec(
        pod.namespace,
        pod.name,
        pod.container,
        command,
        stdout,
        stderr,
        stdin,
        false,
        (s) => gotStatus(s),
      );
    } catch (error) {
      throw connectError(error);
    }
    const closed = new Promise<undefined>((resolve) => socket.once('close', () => resolve(undefined)));
    return { socket, ended: Promise.race([status, closed]) };
  };

  const connectError = (error: unknown): Error => {
    const text = (error as { message?: unknown } | null)?.message;
    const message = typeof text === 'string' ? text : String(error);
    const status = Number(/Unexpected server response: (\d+)/.exec(message)?.[1]);
    if (status === 404) {
      return new PodExecError(
        where,
        `Pod ${pod.namespace}/${pod.name} does not exist (kubectl -n ${pod.namespace} get pods).`,
        { cause: error },
      );
    }
    if (status === 400) {
      return new PodExecError(
        where,
        `The API server refused to exec in ${where} (HTTP 400): is the container named ${pod.container}, and is it running?`,
        { cause: error },
      );
    }
    return kubeError(
      Number.isInteger(status) ? Object.assign(new Error(message), { statusCode: status }) : error,
      {
        verb: 'create',
        resource: 'pods/exec',
        group: '',
        namespace: pod.namespace,
        name: pod.name,
      },
    );
  };

  /** Runs a short command (kill) and waits for it to end; failures are ignored. */
  const runQuietly = async (command: string[]): Promise<void> => {
    const sink = new PassThrough().resume();
    const exec = await open(command, null, sink, null).catch(() => undefined);
    await exec?.ended;
  };

  const run = async (
    tool: PgTool,
    args: readonly string[],
    runOptions: ToolRun = {},
  ): Promise<ToolResult> => {
    let stderr = '';
    let pid: string | undefined;
    let pidSeen: () => void = () => {};
    const pidKnown = new Promise<void>((resolve) => {
      pidSeen = resolve;
    });
    // One decoder across chunks: a character split between two WebSocket frames stays whole.
    const decoder = new StringDecoder('utf8');
    const stderrSink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        let text = decoder.write(chunk);
        if (pid === undefined) {
          const match = /^pid:(\d+)\n/.exec(text);
          if (match) {
            pid = match[1];
            pidSeen();
            text = text.slice(match[0].length);
          }
        }
        if (stderr.length < STDERR_CAP_BYTES) stderr += text.slice(0, STDERR_CAP_BYTES - stderr.length);
        done();
      },
    });
    // The caller's sink may be slower than the pod: pause reading the socket until it drains.
    let socket: ExecSocket | undefined;
    let paused = false;
    const stdoutSink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        const out = runOptions.stdout;
        if (out && !out.write(chunk) && socket && !paused) {
          const s = socket;
          paused = true;
          s.pause();
          out.once('drain', () => {
            paused = false;
            s.resume();
          });
        }
        done();
      },
    });
    // With stdin, Exec is handed a stream that never speaks, only so that it asks for stdin=true: the
    // bytes are sent below, each waiting for the socket (client-node's own feed has no backpressure).
    const stdinQuery = runOptions.stdin ? new PassThrough() : null;
    const exec = await open(podToolCommand(options, tool, args), stdoutSink, stderrSink, stdinQuery);
    socket = exec.socket;
    const ws = exec.socket;
    const isOpen = () => ws.readyState === WS_OPEN;

    let aborted = false;
    let feed: Writable | undefined;
    let feedError: Error | undefined;
    let feeding: Promise<void> = Promise.resolve();
    if (runOptions.stdin) {
      if (ws.protocol !== V5_PROTOCOL) {
        ws.close();
        await exec.ended;
        throw new ExecStdinUnsupportedError(
          where,
          `The API server offers ${ws.protocol || 'no'} exec protocol, which cannot close stdin: psql would never see the end of the backup. Streaming into ${where} needs ${V5_PROTOCOL} (Kubernetes 1.30 or newer).`,
        );
      }
      let sendFailed = false;
      feed = new Writable({
        highWaterMark: 256 * 1024,
        write(chunk: Buffer, _encoding, done) {
          ws.send(Buffer.concat([STDIN_CHANNEL, chunk]), (error) => {
            if (error) sendFailed = true;
            done(error ?? null);
          });
        },
        final(done) {
          ws.send(CLOSE_STDIN, (error) => done(error ?? null));
        },
      });
      feeding = pipeline(runOptions.stdin, feed).catch((error: NodeJS.ErrnoException) => {
        // The tool ended (or we stopped it) while input was left: its exit status says what happened.
        if (sendFailed || aborted || !isOpen()) return;
        // The input broke (gunzip on a damaged file): end the tool's stdin so it stops, report the cause.
        if (error.code !== 'ERR_STREAM_PREMATURE_CLOSE') feedError = error;
        ws.send(CLOSE_STDIN);
      });
    }

    // Closing the exec does not stop the tool (the kubelet leaves it running): kill it by its pid, TERM
    // then KILL, through a second exec, and close only then. The waits end as soon as the tool does.
    const waits = new AbortController();
    void exec.ended.then(() => waits.abort());
    const wait = (ms: number) => delay(ms, true, { signal: waits.signal }).catch(() => false as const);
    const abort = () => {
      if (aborted) return;
      aborted = true;
      feed?.destroy();
      void (async () => {
        await Promise.race([pidKnown, wait(PID_WAIT_MS)]);
        if (pid !== undefined && isOpen()) {
          await runQuietly(killCommand('TERM', pid));
          if (await wait(killGraceMs)) await runQuietly(killCommand('KILL', pid));
        }
        if (isOpen()) ws.close();
      })();
    };
    if (runOptions.signal?.aborted) abort();
    runOptions.signal?.addEventListener('abort', abort, { once: true });
    try {
      const status = await exec.ended;
      // Input the tool did not read (it stopped early) is dropped, not waited for.
      feed?.destroy();
      await feeding;
      stdinQuery?.destroy();
      if (runOptions.stdout) {
        runOptions.stdout.end();
        await finished(runOptions.stdout).catch(() => {});
      }
      if (feedError) throw feedError;
      if (aborted) return { exitCode: null, signal: 'SIGTERM', stderr };
      if (!status) {
        throw new PodExecError(
          where,
          `The exec connection to ${where} closed before ${tool} reported its exit status.`,
        );
      }
      const exitCode = exitCodeFromStatus(status);
      if (exitCode === undefined) {
        throw new PodExecError(
          where,
          `Running ${tool} in ${where} failed: ${status.message ?? status.reason ?? 'unknown error'}`,
        );
      }
      return { exitCode, signal: null, stderr };
    } finally {
      runOptions.signal?.removeEventListener('abort', abort);
      if (isOpen() && !aborted) ws.close();
    }
  };

  return { where, readsHostPaths: false, run, toolVersion: (tool) => toolVersionVia(run, tool) };
}
