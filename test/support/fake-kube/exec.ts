/**
 * The exec endpoint: the upgrade to a WebSocket speaking v5/v4.channel.k8s.io, whose process is real
 * (the requested command runs on this machine, psql against a throwaway cluster), so streamed bytes
 * really reach it. Refused as the API server and kubelet refuse it: no such pod, no such container, a
 * pod with no node yet (400), a container that is not running (the kubelet's 500 "container not
 * found"), RBAC. A fault can drop the connection mid-way: after some stdin, or after the process ended
 * but before the status frame.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { IncomingMessage } from 'node:http';
import { STATUS_CODES } from 'node:http';
import { constants } from 'node:os';
import type { Duplex } from 'node:stream';
import type { V1Pod, V1Status } from '@kubernetes/client-node';
import { FAKE_USER, json, statusBody } from './wire.ts';
import { WebSocketServer, type WsSocket } from './ws.ts';

const STDIN_HEAD_BYTES = 4096;

/** One exec, as the fake ran it. */
export interface ExecRecord {
  namespace: string;
  pod: string;
  container: string;
  command: string[];
  protocol: string;
  pid: number | undefined;
  /** Bytes received on the stdin channel. */
  stdinBytes: number;
  /** The first STDIN_HEAD_BYTES of stdin, as text: what a test needs to tell a restore from a read. */
  stdinHead: string;
  /** How stdin ended: v5's close frame, or the connection closing. */
  stdinClosedBy: 'close-frame' | 'connection' | undefined;
  stderrBytes: number;
  exit: { code: number | null; signal: string | null } | undefined;
  /** The fault that cut this exec's connection, if one did. */
  dropped?: 'stdin' | 'status';
}

export interface ExecFaults {
  /** The connection is dropped (no close frame) once this many stdin bytes have arrived. */
  dropAfterStdinBytes: number | undefined;
  /** The process runs to its end, then the connection is dropped before the status frame. */
  dropBeforeStatus: boolean;
}

export interface ExecOptions {
  /** The environment of every exec'd process (e.g. PATH and POSTGRES_PASSWORD). */
  env(): NodeJS.ProcessEnv;
  /** Subprotocols accepted, preferred first. */
  protocols(): string[];
  forbidden(): boolean;
  getPod(namespace: string, name: string): V1Pod | undefined;
  faults: ExecFaults;
  record(exec: ExecRecord): void;
}

export function rejectUpgrade(socket: Duplex, code: number, reason: string, message: string): void {
  const body = json(statusBody(code, reason, message));
  socket.end(
    `HTTP/1.1 ${code} ${STATUS_CODES[code]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

/** The kubelet's plain-text refusal, relayed by the API server. */
function rejectPlain(socket: Duplex, code: number, text: string): void {
  socket.end(
    `HTTP/1.1 ${code} ${STATUS_CODES[code]}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`,
  );
}

function exitStatus(record: ExecRecord, code: number | null, signal: NodeJS.Signals | null): V1Status {
  const exitCode = code ?? 128 + (signal ? constants.signals[signal] : 0);
  if (exitCode === 0) return { metadata: {}, status: 'Success' } as V1Status;
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: error executing command [${record.command.join(' ')}], exit code ${exitCode}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(exitCode) }] },
  } as V1Status;
}

export interface ExecEndpoint {
  /** Takes an upgrade of `/api/v1/namespaces/NS/pods/NAME/exec`; false for any other path. */
  upgrade(request: IncomingMessage, socket: Duplex, head: Buffer, url: URL): boolean;
  close(): void;
}

export function createExecEndpoint(options: ExecOptions): ExecEndpoint {
  const children = new Set<ChildProcess>();
  const sockets = new Set<WsSocket>();
  const wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (offered) => options.protocols().find((p) => offered.has(p)) ?? false,
  });

  const run = (ws: WsSocket, record: ExecRecord, withStdin: boolean) => {
    sockets.add(ws);
    const send = (channel: number, data: Buffer) => {
      if (ws.readyState === 1) ws.send(Buffer.concat([Buffer.of(channel), data]));
    };
    const [program = '', ...args] = record.command;
    const child = spawn(program, args, {
      env: options.env(),
      stdio: [withStdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    record.pid = child.pid;
    child.stdin?.on('error', () => {});
    const endStdin = (by: ExecRecord['stdinClosedBy']) => {
      if (record.stdinClosedBy || !child.stdin) return;
      record.stdinClosedBy = by;
      child.stdin.end();
    };
    // Backpressure: stop reading the socket while the process has not taken what it was given.
    let paused = false;
    ws.on('message', (data) => {
      const channel = data[0];
      if (channel === 0 && child.stdin) {
        record.stdinBytes += data.length - 1;
        if (record.stdinHead.length < STDIN_HEAD_BYTES)
          record.stdinHead += data.subarray(1, 1 + STDIN_HEAD_BYTES - record.stdinHead.length).toString();
        const limit = options.faults.dropAfterStdinBytes;
        if (limit !== undefined && record.stdinBytes >= limit && !record.dropped) {
          record.dropped = 'stdin';
          ws.terminate();
          return;
        }
        if (!child.stdin.write(data.subarray(1)) && !paused) {
          paused = true;
          ws.pause();
          child.stdin.once('drain', () => {
            paused = false;
            ws.resume();
          });
        }
      } else if (channel === 255 && data[1] === 0 && ws.protocol === 'v5.channel.k8s.io') {
        endStdin('close-frame');
      }
    });
    // As the kubelet does, a closed connection closes the process's stdin but does not stop it.
    ws.on('close', () => {
      sockets.delete(ws);
      endStdin('connection');
    });
    child.stdout?.on('data', (chunk: Buffer) => send(1, chunk));
    child.stderr?.on('data', (chunk: Buffer) => {
      record.stderrBytes += chunk.length;
      send(2, chunk);
    });
    let finished = false;
    const finish = (status: V1Status) => {
      if (finished) return;
      finished = true;
      children.delete(child);
      if (options.faults.dropBeforeStatus) {
        record.dropped ??= 'status';
        ws.terminate();
        return;
      }
      send(3, Buffer.from(json(status)));
      if (ws.readyState === 1) ws.close(1000);
    };
    child.on('error', (error) => {
      record.exit = { code: null, signal: null };
      finish({
        metadata: {},
        status: 'Failure',
        message: `OCI runtime exec failed: exec failed: unable to start container process: ${error.message}: unknown`,
        reason: 'InternalError',
        code: 500,
      } as V1Status);
    });
    child.on('close', (code, signal) => {
      record.exit = { code, signal };
      finish(exitStatus(record, code, signal));
    });
  };

  /** Why the pod's container cannot be exec'd into now, as the API server (400) or the kubelet (500) says. */
  const refusal = (socket: Duplex, pod: V1Pod, podName: string, container: string): boolean => {
    const containers = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])];
    if (!containers.some((c) => c.name === container)) {
      rejectUpgrade(socket, 400, 'BadRequest', `container ${container} is not valid for pod ${podName}`);
      return true;
    }
    const phase = pod.status?.phase;
    if (phase === 'Pending' && !pod.spec?.nodeName) {
      rejectUpgrade(socket, 400, 'BadRequest', `pod ${podName} does not have a host assigned`);
      return true;
    }
    const statuses = [...(pod.status?.containerStatuses ?? []), ...(pod.status?.initContainerStatuses ?? [])];
    const state = statuses.find((s) => s.name === container)?.state;
    if (phase !== 'Running' || (state !== undefined && state.running === undefined)) {
      rejectPlain(socket, 500, `container not found ("${container}")`);
      return true;
    }
    return false;
  };

  return {
    upgrade(request, socket, head, url) {
      const match = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/exec$/.exec(url.pathname);
      if (!match) return false;
      const namespace = match[1] ?? '';
      const podName = match[2] ?? '';
      if (options.forbidden()) {
        rejectUpgrade(
          socket,
          403,
          'Forbidden',
          `pods "${podName}" is forbidden: User "${FAKE_USER}" cannot create resource "pods/exec" in API group "" in the namespace "${namespace}"`,
        );
        return true;
      }
      const pod = options.getPod(namespace, podName);
      if (!pod) {
        rejectUpgrade(socket, 404, 'NotFound', `pods "${podName}" not found`);
        return true;
      }
      const container = url.searchParams.get('container') ?? '';
      if (refusal(socket, pod, podName, container)) return true;
      const command = url.searchParams.getAll('command');
      const withStdin = url.searchParams.get('stdin') === 'true';
      wss.handleUpgrade(request, socket, head, (ws) => {
        const record: ExecRecord = {
          namespace,
          pod: podName,
          container,
          command,
          protocol: ws.protocol,
          pid: undefined,
          stdinBytes: 0,
          stdinHead: '',
          stdinClosedBy: undefined,
          stderrBytes: 0,
          exit: undefined,
        };
        options.record(record);
        run(ws, record, withStdin);
      });
      return true;
    },
    close() {
      for (const socket of sockets) socket.terminate();
      for (const child of children) child.kill('SIGKILL');
      wss.close();
    },
  };
}
