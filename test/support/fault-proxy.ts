import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * A fault-injecting HTTP proxy on 127.0.0.1, in front of a real server: the Pushgateway, or the container
 * engine's API. Each request meets the fault its `rule` picks, else the next fault from the queue, and
 * once the queue is empty every request passes through. The faults are what sits between the drill and
 * its peer in production: a load balancer's own 5xx, an engine whose runtime fails, a peer that takes
 * the request and never answers, a connection reset after the request was sent. Plain request and
 * answer only: a connection upgrade (an engine's attach or exec hijack) is not proxied.
 */
export type Fault =
  /** Forwarded to the upstream, its answer returned as it is. */
  | { kind: 'pass' }
  /** Answered by the proxy itself, never forwarded (a load balancer's 502/503, an engine's 500). */
  | { kind: 'answer'; status: number; body?: string; contentType?: string }
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
  /** The request's body, decoded as UTF-8 (forwarded as the bytes it was). */
  body: string;
  fault: Fault['kind'];
  /** For a forwarded request, the upstream's status. */
  upstreamStatus?: number;
}

/**
 * Picks a request's fault ahead of the queue (undefined: the queue decides). It sees every request, so
 * it can count them or turn on a fault from some request on.
 */
export type FaultRule = (request: { method: string; path: string }) => Fault | undefined;

export interface FaultProxy {
  /** http://127.0.0.1:PORT, the proxy's own address. */
  url: string;
  /** tcp://127.0.0.1:PORT, the same address as DOCKER_HOST names an engine. */
  dockerHost: string;
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

function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

/** Where the proxy forwards to: a loopback host and port, or a unix socket (DOCKER_HOST's unix://PATH). */
type Upstream = { kind: 'tcp'; url: URL } | { kind: 'unix'; socketPath: string };

function parseUpstream(upstreamUrl: string): Upstream {
  if (upstreamUrl.startsWith('unix://'))
    return { kind: 'unix', socketPath: upstreamUrl.slice('unix://'.length) };
  const url = new URL(upstreamUrl.replace(/^tcp:/, 'http:'));
  if (url.hostname !== '127.0.0.1' && url.hostname !== '[::1]') {
    throw new Error(`fault proxy: upstream ${url.host} is not loopback; tests stay on 127.0.0.1/::1`);
  }
  return { kind: 'tcp', url };
}

function upstreamName(upstream: Upstream): string {
  return upstream.kind === 'tcp' ? upstream.url.host : upstream.socketPath;
}

function forward(
  upstream: Upstream,
  request: IncomingMessage,
  body: Buffer,
  response: ServerResponse,
  seen: ProxiedRequest,
) {
  const where =
    upstream.kind === 'tcp'
      ? {
          host: upstream.url.hostname,
          port: upstream.url.port,
          headers: { ...request.headers, host: upstream.url.host },
        }
      : { socketPath: upstream.socketPath, headers: request.headers };
  const outgoing = httpRequest({ ...where, method: request.method, path: request.url }, (answer) => {
    seen.upstreamStatus = answer.statusCode;
    response.writeHead(answer.statusCode ?? 502, answer.statusMessage, answer.headers);
    answer.pipe(response);
  });
  outgoing.on('error', (error) => {
    response.writeHead(502, { 'content-type': 'text/plain' });
    response.end(`fault proxy: upstream ${upstreamName(upstream)} failed: ${error.message}`);
  });
  outgoing.end(body);
}

/**
 * Starts a proxy on a port the kernel picks, to `upstreamUrl`: http:// or tcp:// on loopback only, or
 * unix://PATH (an engine's API socket, as DOCKER_HOST names it).
 */
export async function startFaultProxy(
  upstreamUrl: string,
  options: { rule?: FaultRule } = {},
): Promise<FaultProxy> {
  const upstream = parseUpstream(upstreamUrl);
  const queue: Fault[] = [];
  const received: ProxiedRequest[] = [];
  const sockets = new Set<Socket>();
  const waiting: ((seen: ProxiedRequest) => void)[] = [];
  const held: (() => void)[] = [];
  const server = createServer(async (request, response) => {
    const body = await readBody(request);
    const method = request.method ?? '';
    const path = request.url ?? '';
    const fault = options.rule?.({ method, path }) ?? queue.shift() ?? { kind: 'pass' };
    const seen: ProxiedRequest = {
      method,
      path,
      headers: request.headers,
      body: body.toString('utf8'),
      fault: fault.kind,
    };
    received.push(seen);
    for (const resolve of waiting.splice(0)) resolve(seen);
    if (fault.kind === 'pass') forward(upstream, request, body, response, seen);
    else if (fault.kind === 'hold') held.push(() => forward(upstream, request, body, response, seen));
    else if (fault.kind === 'answer') {
      response.writeHead(fault.status, { 'content-type': fault.contentType ?? 'text/plain' });
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
    dockerHost: `tcp://127.0.0.1:${port}`,
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
