import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * A fault-injecting HTTP proxy on 127.0.0.1, in front of a real server (the Pushgateway): each request
 * takes the next fault from the queue, and once the queue is empty every request passes through. The
 * faults are what sits between the drill and its gateway in production: a load balancer's own 5xx, a
 * peer that takes the request and never answers, a connection reset after the request was sent.
 */
export type Fault =
  /** Forwarded to the upstream, its answer returned as it is. */
  | { kind: 'pass' }
  /** Answered by the proxy itself, never forwarded (a load balancer's 502/503). */
  | { kind: 'answer'; status: number; body?: string }
  /** Read and never answered: held until the client gives up and closes the connection. */
  | { kind: 'hang' }
  /** Read and held until releaseHeld(), then forwarded: the client waits as long as the test needs. */
  | { kind: 'hold' }
  /** Read, then the connection is reset (TCP RST) without an answer. */
  | { kind: 'reset' };

export interface ProxiedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  fault: Fault['kind'];
  /** For a forwarded request, the upstream's status. */
  upstreamStatus?: number;
}

export interface FaultProxy {
  /** http://127.0.0.1:PORT, the proxy's own address. */
  url: string;
  port: number;
  /** Every request the proxy read, in order, with the fault it met. */
  received: ProxiedRequest[];
  /** Queues faults for the next requests. */
  inject(...faults: Fault[]): void;
  /** Resolves with the next request the proxy reads (from the moment of the call). */
  nextRequest(): Promise<ProxiedRequest>;
  /** Forwards every held request and drops the faults still queued. */
  releaseHeld(): void;
  close(): Promise<void>;
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => {
      body += chunk;
    });
    request.on('end', () => resolve(body));
    request.on('error', reject);
  });
}

function forward(
  upstream: URL,
  request: IncomingMessage,
  body: string,
  response: ServerResponse,
  seen: ProxiedRequest,
) {
  const outgoing = httpRequest(
    {
      host: upstream.hostname,
      port: upstream.port,
      method: request.method,
      path: request.url,
      headers: { ...request.headers, host: upstream.host },
    },
    (answer) => {
      seen.upstreamStatus = answer.statusCode;
      response.writeHead(answer.statusCode ?? 502, answer.statusMessage, answer.headers);
      answer.pipe(response);
    },
  );
  outgoing.on('error', (error) => {
    response.writeHead(502, { 'content-type': 'text/plain' });
    response.end(`fault proxy: upstream ${upstream.host} failed: ${error.message}`);
  });
  outgoing.end(body);
}

/** Starts a proxy to `upstreamUrl` (loopback only) on a port the kernel picks. */
export async function startFaultProxy(upstreamUrl: string): Promise<FaultProxy> {
  const upstream = new URL(upstreamUrl);
  if (upstream.hostname !== '127.0.0.1' && upstream.hostname !== '[::1]') {
    throw new Error(`fault proxy: upstream ${upstream.host} is not loopback; tests stay on 127.0.0.1/::1`);
  }
  const queue: Fault[] = [];
  const received: ProxiedRequest[] = [];
  const sockets = new Set<Socket>();
  const waiting: ((seen: ProxiedRequest) => void)[] = [];
  const held: (() => void)[] = [];
  const server = createServer(async (request, response) => {
    const body = await readBody(request);
    const fault = queue.shift() ?? { kind: 'pass' };
    const seen: ProxiedRequest = {
      method: request.method ?? '',
      path: request.url ?? '',
      headers: request.headers,
      body,
      fault: fault.kind,
    };
    received.push(seen);
    for (const resolve of waiting.splice(0)) resolve(seen);
    if (fault.kind === 'pass') forward(upstream, request, body, response, seen);
    else if (fault.kind === 'hold') held.push(() => forward(upstream, request, body, response, seen));
    else if (fault.kind === 'answer') {
      response.writeHead(fault.status, { 'content-type': 'text/plain' });
      response.end(fault.body ?? '');
    } else if (fault.kind === 'reset') request.socket.resetAndDestroy();
    // 'hang': nothing; the socket closes when the client aborts, or at close().
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    received,
    inject: (...faults) => void queue.push(...faults),
    nextRequest: () => new Promise((resolve) => waiting.push(resolve)),
    releaseHeld: () => {
      queue.length = 0;
      for (const release of held.splice(0)) release();
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
