import { type PassThrough, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CoreV1Api, Exec, type KubeConfig, type V1Status } from '@kubernetes/client-node';
import { kubeError } from '../k8s/api-errors.ts';
import { boundedCall } from '../k8s/calls.ts';
import { ExecStdinUnsupportedError, PodExecError } from '../k8s/errors.ts';
import { describePodState } from '../k8s/job-status.ts';
import type { ToolRun } from './executor.ts';
import type { PodRef } from './pod.ts';

/** The only exec subprotocol that can half-close stdin (Kubernetes ≥ 1.30). */
const V5_PROTOCOL = 'v5.channel.k8s.io';
const STDIN_CHANNEL = Buffer.of(0);
/** Channel 255 (close), stream 0 (stdin): the v5 way to send EOF. */
const CLOSE_STDIN = Buffer.of(255, 0);
const WS_OPEN = 1;

/** What we use of the exec WebSocket client-node hands back (a `ws` WebSocket). */
export interface ExecSocket {
  readonly protocol: string;
  readonly readyState: number;
  send(data: Buffer, callback?: (error?: Error) => void): void;
  close(): void;
  pause(): void;
  resume(): void;
  once(event: 'close', listener: () => void): unknown;
}

/** One exec in a pod: its socket, and when the command has ended (status received, or socket closed). */
export interface PodExec {
  socket: ExecSocket;
  ended: Promise<V1Status | undefined>;
  isOpen(): boolean;
}

/** Where an exec goes: the cluster, the pod's container, and how the operator reads it. */
export interface ExecPlace {
  kubeConfig: KubeConfig;
  pod: PodRef;
  where: string;
}

/** Starts one exec (client-node's Exec over the v5/v4.channel.k8s.io WebSocket). */
export async function openExec(
  place: ExecPlace,
  command: string[],
  stdout: Writable | null,
  stderr: Writable,
  stdin: PassThrough | null,
): Promise<PodExec> {
  const { pod } = place;
  let gotStatus: (status: V1Status) => void = () => {};
  const status = new Promise<V1Status>((resolve) => {
    gotStatus = resolve;
  });
  let socket: ExecSocket;
  try {
    socket = await new Exec(place.kubeConfig).exec(
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
    throw await connectError(place, error);
  }
  const closed = new Promise<undefined>((resolve) => socket.once('close', () => resolve(undefined)));
  return { socket, ended: Promise.race([status, closed]), isOpen: () => socket.readyState === WS_OPEN };
}

/**
 * Why an exec could not start, in the operator's words: no such pod, a pod that is not running (the API
 * server's 400 for a pod with no node yet, the kubelet's 500 "container not found" for one whose
 * container is not running: its phase and state are read and named), RBAC.
 */
async function connectError(place: ExecPlace, error: unknown): Promise<Error> {
  const { pod, where } = place;
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
  if (status === 400 || status === 500) {
    const state = await podState(place);
    const why = state
      ? `the pod is ${state}: its container ${pod.container} must be running`
      : `is the container named ${pod.container}, and is it running?`;
    return new PodExecError(
      where,
      `The API server refused to exec in ${where} (HTTP ${status}): ${why} (kubectl -n ${pod.namespace} get pod ${pod.name}).`,
      { cause: error },
    );
  }
  return kubeError(
    Number.isInteger(status) ? Object.assign(new Error(message), { statusCode: status }) : error,
    { verb: 'create', resource: 'pods/exec', group: '', namespace: pod.namespace, name: pod.name },
  );
}

/** The pod's phase and what holds its container, when the pod can be read (`get pods`); else undefined. */
async function podState({ kubeConfig, pod }: ExecPlace): Promise<string | undefined> {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const { namespace, name } = pod;
  const read = await boundedCall({ verb: 'get', resource: 'pods', group: '', namespace, name }, (call) =>
    core.readNamespacedPod({ namespace, name }, call),
  ).catch(() => undefined);
  if (!read) return undefined;
  const statuses = [...(read.status?.containerStatuses ?? []), ...(read.status?.initContainerStatuses ?? [])];
  const container = statuses.find((s) => s.name === pod.container)?.state;
  const held = container?.waiting
    ? `; container ${pod.container} waiting: ${container.waiting.reason ?? 'unknown'}`
    : container?.terminated
      ? `; container ${pod.container} exited with code ${container.terminated.exitCode}`
      : '';
  return `${describePodState(read, undefined)}${held}`;
}

/** Runs a short command (kill) and waits for it to end; failures are ignored. */
export async function runQuietly(place: ExecPlace, command: string[]): Promise<void> {
  const sink = new Writable({ write: (_chunk, _encoding, done) => done() });
  const exec = await openExec(place, command, null, sink, null).catch(() => undefined);
  await exec?.ended;
}

/**
 * The exec's stdout sink, forwarding to the caller's: the caller may be slower than the pod, so the
 * socket is paused until it drains. `attach` gives it the socket once the exec is open.
 */
export function pacedStdout(out: ToolRun['stdout']): { sink: Writable; attach(socket: ExecSocket): void } {
  let socket: ExecSocket | undefined;
  let paused = false;
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
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
  return { sink, attach: (s) => (socket = s) };
}

/** The input being streamed into an exec. */
export interface StdinFeed {
  /** Drops input the tool did not read. */
  destroy(): void;
  /** Settles when the feed has stopped; never rejects. */
  done: Promise<void>;
  /** What broke the input (gunzip on a damaged file), if something did. */
  error(): Error | undefined;
}

/**
 * Streams `stdin` into the exec, each chunk waiting for the socket (client-node's own feed has no
 * backpressure), and ends it with v5's close-stdin frame. `stopped` says the run is being aborted.
 */
export async function feedStdin(
  exec: PodExec,
  where: string,
  stdin: NonNullable<ToolRun['stdin']>,
  stopped: () => boolean,
): Promise<StdinFeed> {
  const ws = exec.socket;
  if (ws.protocol !== V5_PROTOCOL) {
    ws.close();
    await exec.ended;
    throw new ExecStdinUnsupportedError(
      where,
      `The API server offers ${ws.protocol || 'no'} exec protocol, which cannot close stdin: psql would never see the end of the backup. Streaming into ${where} needs ${V5_PROTOCOL} (Kubernetes 1.30 or newer).`,
    );
  }
  let sendFailed = false;
  let feedError: Error | undefined;
  const feed = new Writable({
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
  const done = pipeline(stdin, feed).catch((error: NodeJS.ErrnoException) => {
    // The tool ended (or we stopped it) while input was left: its exit status says what happened.
    if (sendFailed || stopped() || !exec.isOpen()) return;
    // The input broke (gunzip on a damaged file): end the tool's stdin so it stops, report the cause.
    if (error.code !== 'ERR_STREAM_PREMATURE_CLOSE') feedError = error;
    ws.send(CLOSE_STDIN);
  });
  return { destroy: () => feed.destroy(), done, error: () => feedError };
}
