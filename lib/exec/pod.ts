import { PassThrough } from 'node:stream';
import { finished } from 'node:stream/promises';
import { setTimeout as delay } from 'node:timers/promises';
import type { KubeConfig, V1Status } from '@kubernetes/client-node';
import { ConfigError } from '../errors.ts';
import { PodExecError } from '../k8s/errors.ts';
import { SESSION_OPTIONS } from '../pg/databases.ts';
import type { Executor, PgTool, ToolResult, ToolRun } from './executor.ts';
import { type ExecPlace, feedStdin, openExec, type PodExec, pacedStdout, runQuietly } from './pod-socket.ts';
import { onAbort, type PidStderr, pidStderr, toolVersionVia } from './tool-output.ts';

/** The operator's PostgreSQL pod (Bitnami chart) and its container. */
export const DEFAULT_POD = 'postgres-postgresql-0';
export const DEFAULT_POD_CONTAINER = 'postgresql';
/** The variable the Bitnami image gets the postgres password in (from the chart's Secret). */
export const DEFAULT_PASSWORD_ENV = 'POSTGRES_PASSWORD';
/** After SIGTERM inside the pod, a tool that has not exited by then gets SIGKILL. */
const KILL_GRACE_MS = 5000;
/** On abort, how long to wait for the tool's pid if it has not arrived yet (it is the first stderr line). */
const PID_WAIT_MS = 2000;

/** A container of a pod. */
export interface PodRef {
  namespace: string;
  name: string;
  container: string;
}

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
    ['PGOPTIONS', SESSION_OPTIONS],
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
  const place = { kubeConfig: options.kubeConfig, pod: options.pod, where: describePod(options.pod) };
  const run = (tool: PgTool, args: readonly string[], runOptions: ToolRun = {}) =>
    runInPod(options, place, tool, args, runOptions);
  return { where: place.where, readsHostPaths: false, run, toolVersion: (tool) => toolVersionVia(run, tool) };
}

/** One tool in one exec: streams in, out and err, and reads its exit code from the status channel. */
async function runInPod(
  options: PodExecutorOptions,
  place: ExecPlace,
  tool: PgTool,
  args: readonly string[],
  runOptions: ToolRun,
): Promise<ToolResult> {
  const stderr = pidStderr();
  const stdout = pacedStdout(runOptions.stdout);
  // With stdin, Exec is handed a stream that never speaks, only so that it asks for stdin=true: the
  // bytes are sent by feedStdin, each waiting for the socket.
  const stdinQuery = runOptions.stdin ? new PassThrough() : null;
  const exec = await openExec(
    place,
    podToolCommand(options, tool, args),
    stdout.sink,
    stderr.sink,
    stdinQuery,
  );
  stdout.attach(exec.socket);
  const stopper = podStopper(place, exec, stderr, options.killGraceMs ?? KILL_GRACE_MS);
  const feed = runOptions.stdin
    ? await feedStdin(exec, place.where, runOptions.stdin, () => stopper.aborted)
    : undefined;
  const detach = onAbort(runOptions.signal, () => {
    if (stopper.aborted) return;
    feed?.destroy();
    stopper.abort();
  });
  try {
    const status = await exec.ended;
    // Input the tool did not read (it stopped early) is dropped, not waited for.
    feed?.destroy();
    await feed?.done;
    stdinQuery?.destroy();
    if (runOptions.stdout) {
      runOptions.stdout.end();
      await finished(runOptions.stdout).catch(() => {});
    }
    const feedError = feed?.error();
    if (feedError) throw feedError;
    if (stopper.aborted) return { exitCode: null, signal: 'SIGTERM', stderr: stderr.text() };
    return { exitCode: exitCodeOf(status, tool, place.where), signal: null, stderr: stderr.text() };
  } finally {
    detach();
    if (exec.isOpen() && !stopper.aborted) exec.socket.close();
  }
}

/** The exit code a finished exec reported, or why it reported none. */
function exitCodeOf(status: V1Status | undefined, tool: PgTool, where: string): number {
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
  return exitCode;
}

/**
 * Stops a tool in the pod. Closing the exec does not stop it (the kubelet leaves it running): it is
 * killed by its pid, TERM then KILL, through a second exec, and the exec closed only then. The waits end
 * as soon as the tool does.
 */
function podStopper(
  place: ExecPlace,
  exec: PodExec,
  stderr: PidStderr,
  killGraceMs: number,
): { readonly aborted: boolean; abort(): void } {
  const waits = new AbortController();
  void exec.ended.then(() => waits.abort());
  const wait = (ms: number) => delay(ms, true, { signal: waits.signal }).catch(() => false as const);
  let aborted = false;
  const kill = async () => {
    await Promise.race([stderr.pidKnown, wait(PID_WAIT_MS)]);
    const pid = stderr.pid();
    if (pid !== undefined && exec.isOpen()) {
      await runQuietly(place, killCommand('TERM', pid));
      if (await wait(killGraceMs)) await runQuietly(place, killCommand('KILL', pid));
    }
    if (exec.isOpen()) exec.socket.close();
  };
  return {
    get aborted() {
      return aborted;
    },
    abort() {
      aborted = true;
      void kill();
    },
  };
}
