import { createServer, type Server, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { type KubeConfig, PortForward } from '@kubernetes/client-node';
import { DrillError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { kubeError } from './api-errors.ts';
import { KUBE_CALL_TIMEOUT_MS } from './calls.ts';

/** A port-forward that could not open, or broke while the drill's checks were using it. */
export class PortForwardError extends DrillError {
  static override readonly code = 'DRILL_K8S_PORT_FORWARD';
  override readonly exitCode = 2;
  /** `namespace/pod`. */
  readonly pod: string;
  readonly port: number;
  constructor(pod: string, port: number, message: string, options?: ErrorOptions) {
    super(message, options);
    this.pod = pod;
    this.port = port;
  }
}

export interface PortForwardOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  pod: string;
  /** The port in the pod (PostgreSQL's, 5432). */
  port: number;
  log?: Logger;
  /** How long the API server may take to open each stream; default OPEN_TIMEOUT_MS. */
  openTimeoutMs?: number;
}

/** A listener on 127.0.0.1 whose every connection is carried to the pod's port through the API. */
export interface OpenPortForward {
  readonly host: '127.0.0.1';
  /** The ephemeral local port. */
  readonly localPort: number;
  /** `data/postgres-postgresql-0`. */
  readonly pod: string;
  /** The port in the pod. */
  readonly port: number;
  /** `pod data/postgres-postgresql-0 port 5432`. */
  readonly where: string;
  /** Connections carried so far. */
  connections(): number;
  /** Every break so far, in the operator's words: a forward that could not open, or was cut. */
  breaks(): string[];
  /** Stops listening and ends every carried connection. */
  close(): Promise<void>;
}

/** What we use of the `ws` WebSocket client-node hands back. */
interface ForwardSocket {
  readonly readyState: number;
  close(): void;
  terminate(): void;
  pause(): void;
  resume(): void;
  on(event: 'close', listener: (code: number) => void): unknown;
}

const WS_OPEN = 1;
const NORMAL_CLOSURE = 1000;
/** Each stream's WebSocket must open within this (a silent API server must not hold a check): the bound of every API call. */
export const OPEN_TIMEOUT_MS = KUBE_CALL_TIMEOUT_MS;
/** SQLSTATE connection_failure: what the drill's pg client is told when the forward under it breaks. */
const CONNECTION_FAILURE = '08006';

/**
 * Opens a `kubectl port-forward` of the drill's own: a TCP listener on 127.0.0.1 with an ephemeral
 * port, each of its connections one WebSocket to the pod's `portforward` endpoint (client-node's
 * PortForward: per port a data and an error channel, each opening with the port as 2 bytes, which it
 * strips). Whatever cuts a connection its client did not end (the error channel speaking, the
 * WebSocket closing under it, the API refusing it) is a break: logged at once naming the pod and port,
 * kept for the caller, and told to the pg client as a FATAL error (SQLSTATE 08006) with that text, so
 * the check that was using it fails saying so, never "connection terminated" alone.
 */
export async function openPortForward(options: PortForwardOptions): Promise<OpenPortForward> {
  const where = `pod ${options.namespace}/${options.pod} port ${options.port}`;
  const state: ForwardState = { options, where, closing: false, count: 0, breaks: [], live: new Set() };
  const server = createServer((socket) => void carry(state, socket));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const localPort = typeof address === 'object' && address ? address.port : 0;
  return {
    host: '127.0.0.1',
    localPort,
    pod: `${options.namespace}/${options.pod}`,
    port: options.port,
    where,
    connections: () => state.count,
    breaks: () => [...state.breaks],
    close: () => closeForward(state, server),
  };
}

interface ForwardState {
  options: PortForwardOptions;
  where: string;
  closing: boolean;
  count: number;
  breaks: string[];
  live: Set<Carried>;
}

/** One local connection and the WebSocket carrying it. */
interface Carried {
  socket: Socket;
  ws?: ForwardSocket;
  /** The pg client ended the connection itself: the WebSocket closing after that is no break. */
  clientEnded: boolean;
  /** Where the server's byte stream stands, so an error can be told between two messages. */
  stream: ReturnType<typeof messageBoundaries>;
}

/** Records a break and ends the connection, telling its pg client why when it can. */
function broke(state: ForwardState, carried: Carried, message: string): void {
  const { socket } = carried;
  if (state.closing || socket.destroyed) return;
  const text = `the port-forward to ${state.where} broke: ${message}`;
  state.breaks.push(text);
  state.options.log?.warn(text);
  if (carried.stream.atBoundary()) socket.end(errorResponse(text));
  else socket.destroy();
}

/** Carries one local connection to the pod, until either side ends it. */
async function carry(state: ForwardState, socket: Socket): Promise<void> {
  state.count += 1;
  const carried: Carried = { socket, clientEnded: false, stream: messageBoundaries() };
  state.live.add(carried);
  socket.once('end', () => (carried.clientEnded = true));
  socket.on('error', () => {});
  socket.once('close', () => {
    state.live.delete(carried);
    if (carried.ws?.readyState === WS_OPEN) carried.ws.close();
  });
  const output = new Writable({
    write(chunk: Buffer, _encoding, done) {
      carried.stream.feed(chunk);
      if (chunk.length > 0 && !socket.write(chunk) && carried.ws) {
        const ws = carried.ws;
        ws.pause();
        socket.once('drain', () => ws.resume());
      }
      done();
    },
  });
  const errors = new Writable({
    write(chunk: Buffer, _encoding, done) {
      // The error channel opens with the port alone (stripped to nothing); anything more is an error.
      if (chunk.length > 0) broke(state, carried, chunk.toString('utf8').trim());
      done();
    },
  });
  const { kubeConfig, namespace, pod, port } = state.options;
  // Without a retry count client-node hands back the WebSocket itself.
  const opening = new PortForward(kubeConfig).portForward(
    namespace,
    pod,
    [port],
    output,
    errors,
    socket,
  ) as Promise<unknown> as Promise<ForwardSocket>;
  try {
    const ws = await withinOpenTimeout(opening, state.options);
    carried.ws = ws;
    ws.on('close', (code) => {
      // 1000: the pod's end closed the connection (the server ended the session): passed on as such.
      if (code === NORMAL_CLOSURE || carried.clientEnded) socket.end();
      else
        broke(
          state,
          carried,
          `the stream was cut (WebSocket close code ${code}) while the connection was in use`,
        );
    });
    if (socket.destroyed) ws.close();
  } catch (error) {
    broke(state, carried, openFailure(state.options, error));
  }
}

/**
 * The forward's WebSocket, or a rejection once OPEN_TIMEOUT_MS have passed without the API server
 * opening it (client-node's connect has no deadline of its own); one that opens later is closed.
 */
async function withinOpenTimeout<T extends { close(): void }>(
  opening: Promise<T>,
  options: PortForwardOptions,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      void opening.then((ws) => ws.close()).catch(() => {});
      reject(
        new Error(
          `the API server did not open the stream within ${(options.openTimeoutMs ?? OPEN_TIMEOUT_MS) / 1000} s`,
        ),
      );
    }, options.openTimeoutMs ?? OPEN_TIMEOUT_MS);
  });
  try {
    return await Promise.race([opening, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Why the API would not open the forward: no such pod, or RBAC (`create pods/portforward`). */
function openFailure(options: PortForwardOptions, error: unknown): string {
  const text = (error as { message?: unknown } | null)?.message;
  const message = typeof text === 'string' ? text : String(error);
  const status = Number(/Unexpected server response: (\d+)/.exec(message)?.[1]);
  if (status === 404) {
    return `pod ${options.namespace}/${options.pod} does not exist (kubectl -n ${options.namespace} get pods)`;
  }
  const action = {
    verb: 'create',
    resource: 'pods/portforward',
    group: '',
    namespace: options.namespace,
    name: options.pod,
  };
  const cause = Number.isInteger(status) ? Object.assign(new Error(message), { statusCode: status }) : error;
  return kubeError(cause, action).message;
}

async function closeForward(state: ForwardState, server: Server): Promise<void> {
  state.closing = true;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  for (const { socket, ws } of state.live) {
    socket.destroy();
    ws?.terminate();
  }
  await closed;
}

/**
 * Follows the server's side of the PostgreSQL protocol by its framing alone (a type byte, then a
 * 4-byte length that counts itself), so a message of our own is only ever put between two of its own.
 */
function messageBoundaries(): { feed(chunk: Buffer): void; atBoundary(): boolean } {
  let header = Buffer.alloc(0);
  let remaining = 0;
  return {
    feed(chunk) {
      let at = 0;
      while (at < chunk.length) {
        if (remaining > 0) {
          const take = Math.min(remaining, chunk.length - at);
          remaining -= take;
          at += take;
          continue;
        }
        const part = chunk.subarray(at, at + 5 - header.length);
        header = Buffer.concat([header, part]);
        at += part.length;
        if (header.length === 5) {
          remaining = header.readUInt32BE(1) - 4;
          header = Buffer.alloc(0);
        }
      }
    },
    atBoundary: () => remaining === 0 && header.length === 0,
  };
}

/** A FATAL ErrorResponse message of the PostgreSQL protocol, as a server would send it. */
function errorResponse(message: string): Buffer {
  const fields = [`SFATAL`, `VFATAL`, `C${CONNECTION_FAILURE}`, `M${message}`];
  const body = Buffer.concat([...fields.map((f) => Buffer.from(`${f}\0`, 'utf8')), Buffer.of(0)]);
  const head = Buffer.alloc(5);
  head.write('E', 0, 'ascii');
  head.writeUInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}
