/**
 * The portforward endpoint for the fake Kubernetes API (test/support/fake-kube-api.ts), added through
 * `fake.extend({ upgrade })`: `GET /api/v1/namespaces/NS/pods/POD/portforward?ports=N` upgraded to a
 * WebSocket speaking `v4.channel.k8s.io` as the kubelet does for port-forwarding: per port a data
 * channel (0) and an error channel (1), each opened by the server with the port as 2 bytes little
 * endian; then the data channel carries the connection both ways, and a failure to reach the port is
 * told on the error channel. Each stream is a real TCP connection to a real local PostgreSQL
 * (127.0.0.1:`localPort`), so what goes through it is what the drill sent. Every forward is recorded,
 * with the startup parameters (user, database, application_name) of the PostgreSQL session it carried.
 */
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { V1Pod } from '@kubernetes/client-node';
import { rejectUpgrade } from './fake-kube/exec.ts';
import { WebSocketServer, type WsSocket } from './fake-kube/ws.ts';
import type { FakeKubeApi } from './fake-kube-api.ts';

/** The port-forward subprotocols the kubelet speaks over WebSocket (no v5: it has no close frame here). */
const PORTFORWARD_PROTOCOLS = ['v4.channel.k8s.io', 'channel.k8s.io'];
const DATA = 0;
const ERROR = 1;

/** One port-forward stream, as the fake carried it. */
export interface ForwardRecord {
  namespace: string;
  pod: string;
  /** The port asked for (`?ports=`). */
  port: number;
  protocol: string;
  /** The local PostgreSQL port the stream was connected to. */
  connectedTo: number;
  /** The startup message's parameters (user, database, application_name), once it came through. */
  startup: Record<string, string> | undefined;
  bytesToPod: number;
  bytesFromPod: number;
  /** Who ended it: the drill (WebSocket closed), the pod's end (TCP closed), or the fault (`cut`). */
  endedBy: 'client' | 'pod' | 'cut' | undefined;
}

export interface FakePortForward {
  forwards: ForwardRecord[];
  /**
   * A fault: the first stream whose drill-side bytes make this true is cut there (the WebSocket dropped
   * without a close frame, its TCP connection destroyed), as a dying API server or node would.
   */
  cutWhen: ((bytesToPod: Buffer, record: ForwardRecord) => boolean) | undefined;
  /**
   * A fault: the first stream whose drill-side bytes make this true is held there: those bytes and all
   * after them are never delivered, so what the drill is waiting for never comes. `held` resolves then.
   */
  holdWhen: ((bytesToPod: Buffer) => boolean) | undefined;
  held: Promise<ForwardRecord>;
  /** A fault: upgrade requests are taken and never answered, as by an API server that hangs. */
  silent: boolean;
}

/**
 * Serves the portforward endpoint of `fake`: every stream to a pod's `port` goes to 127.0.0.1:`localPort`
 * (e.g. a test cluster's). RBAC (`create pods/portforward` in `fake.forbidden`) and a missing pod are
 * refused as the API server refuses them (403, 404), before the upgrade.
 */
export function servePortForward(fake: FakeKubeApi, localPort: number): FakePortForward {
  let gotHeld: (record: ForwardRecord) => void = () => {};
  const served: FakePortForward = {
    forwards: [],
    cutWhen: undefined,
    holdWhen: undefined,
    silent: false,
    held: new Promise((resolve) => {
      gotHeld = resolve;
    }),
  };
  const onHold = (record: ForwardRecord) => gotHeld(record);
  const sockets = new Set<WsSocket>();
  const tcps = new Set<Socket>();
  const hung = new Set<Duplex>();
  const wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (offered) => PORTFORWARD_PROTOCOLS.find((p) => offered.has(p)) ?? false,
  });
  fake.extend({
    upgrade: (request, socket, head, url) => {
      const match = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/portforward$/.exec(url.pathname);
      if (!match) return false;
      const [, namespace = '', pod = ''] = match;
      const port = Number(url.searchParams.get('ports'));
      if (served.silent) {
        hung.add(socket);
        return true;
      }
      const refusal = refusalFor(fake, namespace, pod, port);
      if (refusal) {
        rejectUpgrade(socket, ...refusal);
        return true;
      }
      wss.handleUpgrade(request, socket, head, (ws) => {
        const record: ForwardRecord = {
          namespace,
          pod,
          port,
          protocol: ws.protocol,
          connectedTo: localPort,
          startup: undefined,
          bytesToPod: 0,
          bytesFromPod: 0,
          endedBy: undefined,
        };
        served.forwards.push(record);
        sockets.add(ws);
        ws.on('close', () => sockets.delete(ws));
        const tcp = connect(localPort, '127.0.0.1');
        tcps.add(tcp);
        tcp.on('close', () => tcps.delete(tcp));
        carry(served, ws, tcp, record, onHold);
      });
      return true;
    },
  });
  const close = fake.close;
  fake.close = async () => {
    for (const ws of sockets) ws.terminate();
    for (const tcp of tcps) tcp.destroy();
    for (const socket of hung) socket.destroy();
    wss.close();
    await close();
  };
  return served;
}

/** Why the API server would refuse this forward (status, reason, message), or undefined. */
function refusalFor(
  fake: FakeKubeApi,
  namespace: string,
  pod: string,
  port: number,
): [number, string, string] | undefined {
  if (fake.forbidden.some((rule) => rule.verb === 'create' && rule.resource === 'pods/portforward')) {
    const user = 'system:serviceaccount:ci:pg-restore-drill-ci';
    const message = `pods "${pod}" is forbidden: User "${user}" cannot create resource "pods/portforward" in API group "" in the namespace "${namespace}"`;
    return [403, 'Forbidden', message];
  }
  if (!(fake.get('pods', namespace, pod) as V1Pod | undefined)) {
    return [404, 'NotFound', `pods "${pod}" not found`];
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    return [400, 'BadRequest', `invalid port ${port}`];
  }
  return undefined;
}

/** Carries one stream: the port prefixes first, then bytes both ways until either end closes. */
function carry(
  served: FakePortForward,
  ws: WsSocket,
  tcp: Socket,
  record: ForwardRecord,
  onHold: (record: ForwardRecord) => void,
): void {
  let holding = false;
  const prefix = Buffer.alloc(2);
  prefix.writeUInt16LE(record.port);
  ws.send(Buffer.concat([Buffer.of(DATA), prefix]));
  ws.send(Buffer.concat([Buffer.of(ERROR), prefix]));
  const toClient = (channel: number, data: Buffer) => {
    if (ws.readyState === 1) ws.send(Buffer.concat([Buffer.of(channel), data]));
  };
  ws.on('message', (data) => {
    if (data[0] !== DATA || record.endedBy) return;
    const bytes = data.subarray(1);
    record.bytesToPod += bytes.length;
    record.startup ??= startupParameters(bytes);
    if (holding || served.holdWhen?.(bytes)) {
      if (!holding) {
        holding = true;
        served.holdWhen = undefined;
        onHold(record);
      }
      return;
    }
    if (served.cutWhen?.(bytes, record)) {
      served.cutWhen = undefined;
      record.endedBy = 'cut';
      ws.terminate();
      tcp.destroy();
      return;
    }
    tcp.write(bytes);
  });
  ws.on('close', () => {
    record.endedBy ??= 'client';
    tcp.end();
  });
  tcp.on('data', (chunk: Buffer) => {
    record.bytesFromPod += chunk.length;
    toClient(DATA, chunk);
  });
  tcp.on('error', (error) => {
    toClient(
      ERROR,
      Buffer.from(
        `error forwarding port ${record.port} to pod ${record.pod}: dial tcp 127.0.0.1:${record.port}: ${error.message}`,
      ),
    );
  });
  tcp.on('close', () => {
    record.endedBy ??= 'pod';
    if (ws.readyState === 1) ws.close(1000);
  });
}

/** The parameters of a PostgreSQL StartupMessage (protocol 3.0), or undefined if `bytes` is not one. */
function startupParameters(bytes: Buffer): Record<string, string> | undefined {
  if (bytes.length < 8 || bytes.readUInt32BE(4) !== 0x00030000) return undefined;
  const words = bytes.subarray(8, bytes.readUInt32BE(0)).toString('utf8').split('\0');
  const parameters: Record<string, string> = {};
  for (let i = 0; i + 1 < words.length && words[i] !== ''; i += 2)
    parameters[words[i] ?? ''] = words[i + 1] ?? '';
  return parameters;
}
