/**
 * Containers' logs as the kubelet serves them through the API server: one log per container (`container=`
 * required when the pod has several, init and sidecar containers included), `follow=true` streams until
 * the container ends, `timestamps=true` prefixes each line with its RFC 3339 time (nanoseconds),
 * `sinceTime` / `sinceSeconds` keep only the lines at or after that time. A fault can cut followed
 * streams after a number of lines (replayed ones count), the connection closed mid-stream as a
 * restarted API server or a proxy does.
 */
import type { ServerResponse } from 'node:http';
import type { V1Pod } from '@kubernetes/client-node';
import { sendStatus, startStream } from './wire.ts';

interface Line {
  at: Date;
  text: string;
}

interface Follower {
  response: ServerResponse;
  timestamps: boolean;
  sent: number;
  cut?: boolean;
}

interface ContainerLog {
  lines: Line[];
  done: boolean;
  followers: Follower[];
}

export interface LogFaults {
  /** A followed stream is cut after sending this many lines (undefined: never)… */
  cutFollowsAfterLines: number | undefined;
  /** …this many times (each cut counts one). */
  cuts: number;
}

export interface PodLogs {
  readonly faults: LogFaults;
  /** The container has started: its log exists (a request before that gets 400 "waiting to start"). */
  start(namespace: string, pod: string, container: string): void;
  write(namespace: string, pod: string, container: string, line: string): void;
  /** The container ended: followers get the end of the stream. */
  end(namespace: string, pod: string, container: string): void;
  serve(response: ServerResponse, url: URL, pod: V1Pod): void;
  close(): void;
}

/** `2026-11-24T03:10:00.123000000Z`: the kubelet's RFC3339Nano timestamps. */
function nano(at: Date): string {
  return at.toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z');
}

export function createPodLogs(): PodLogs {
  const logs = new Map<string, ContainerLog>();
  const faults: LogFaults = { cutFollowsAfterLines: undefined, cuts: 0 };
  const logKey = (namespace: string, pod: string, container: string) => `${namespace}/${pod}/${container}`;
  const format = (line: Line, timestamps: boolean) =>
    `${timestamps ? `${nano(line.at)} ` : ''}${line.text}\n`;
  const deliver = (follower: Follower, line: Line) => {
    if (follower.response.destroyed || follower.cut) return;
    follower.sent++;
    const limit = faults.cutFollowsAfterLines;
    const cut = limit !== undefined && faults.cuts > 0 && follower.sent >= limit;
    if (cut) {
      faults.cuts--;
      follower.cut = true;
    }
    // A cut comes once the lines before it have left: the client has them, then the connection drops.
    follower.response.write(format(line, follower.timestamps), () => {
      if (cut) follower.response.socket?.destroy();
    });
  };

  return {
    faults,
    start(namespace, pod, container) {
      const k = logKey(namespace, pod, container);
      if (!logs.has(k)) logs.set(k, { lines: [], done: false, followers: [] });
    },
    write(namespace, pod, container, text) {
      const log = logs.get(logKey(namespace, pod, container));
      if (!log) throw new Error(`log of ${container} written before it started`);
      const line = { at: new Date(), text };
      log.lines.push(line);
      for (const follower of log.followers) deliver(follower, line);
    },
    end(namespace, pod, container) {
      const log = logs.get(logKey(namespace, pod, container));
      if (!log) return;
      log.done = true;
      for (const follower of log.followers) follower.response.end();
      log.followers = [];
    },
    serve(response, url, pod) {
      const namespace = pod.metadata?.namespace ?? '';
      const podName = pod.metadata?.name ?? '';
      const names = (pod.spec?.containers ?? []).map((c) => c.name);
      const initNames = (pod.spec?.initContainers ?? []).map((c) => c.name);
      const container = url.searchParams.get('container') ?? (names.length === 1 ? names[0] : undefined);
      if (!container || ![...names, ...initNames].includes(container)) {
        const choose = `choose one of: [${names.join(' ')}]${initNames.length ? ` or one of the init containers: [${initNames.join(' ')}]` : ''}`;
        sendStatus(
          response,
          400,
          'BadRequest',
          container
            ? `container ${container} is not valid for pod ${podName}`
            : `a container name must be specified for pod ${podName}, ${choose}`,
        );
        return;
      }
      const log = logs.get(logKey(namespace, podName, container));
      if (!log) {
        sendStatus(
          response,
          400,
          'BadRequest',
          `container "${container}" in pod "${podName}" is waiting to start: ContainerCreating`,
        );
        return;
      }
      const sinceTime = url.searchParams.get('sinceTime');
      const sinceSeconds = Number(url.searchParams.get('sinceSeconds') || 0);
      const since = sinceTime
        ? new Date(sinceTime)
        : sinceSeconds
          ? new Date(Date.now() - sinceSeconds * 1000)
          : undefined;
      const follower: Follower = {
        response,
        timestamps: url.searchParams.get('timestamps') === 'true',
        sent: 0,
      };
      startStream(response, 'text/plain');
      for (const line of log.lines) if (!since || line.at >= since) deliver(follower, line);
      if (follower.cut) return;
      if (url.searchParams.get('follow') === 'true' && !log.done) {
        log.followers.push(follower);
        response.on('close', () => {
          log.followers = log.followers.filter((f) => f !== follower);
        });
      } else {
        response.end();
      }
    },
    close() {
      for (const log of logs.values()) for (const follower of log.followers) follower.response.end();
    },
  };
}
