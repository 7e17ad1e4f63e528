import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { StringDecoder } from 'node:string_decoder';
import type { KubeConfig } from '@kubernetes/client-node';
import { KUBE_CALL_TIMEOUT_MS } from './calls.ts';
import type { Clock } from './clock.ts';

/** A `kubectl logs -f` in progress. */
export interface LogFollow {
  /** Resolves when the log ends (the container exited) or the follow is stopped. */
  readonly done: Promise<void>;
  stop(): void;
}

/** After a followed stream ends while the container still runs (a dropped connection): ask again after this. */
export const LOG_RESUME_PAUSE_MS = 500;

export interface FollowOptions {
  /** Whether the container may still write: a stream that ends before then was dropped, and is resumed. */
  stillRunning(): boolean;
  clock: Clock;
  /** Told of each resume and of a resume that failed (the follow then ends). */
  warn(message: string): void;
}

/** A log line's RFC 3339 timestamp (`timestamps=true`) and the line without it. */
function splitTimestamp(line: string): [string, string] {
  const space = line.indexOf(' ');
  return space > 0 ? [line.slice(0, space), line.slice(space + 1)] : ['', line];
}

/** A UTC timestamp with its fraction padded to nanoseconds, so that text order is time order. */
function sortable(stamp: string): string {
  const match = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(stamp);
  return match ? `${match[1]}.${(match[2] ?? '').padEnd(9, '0')}Z` : stamp;
}

/** `2026-11-24T03:10:00.123456789Z` → `2026-11-24T03:10:00Z`: sinceTime is read to the second. */
function toSecond(timestamp: string): string {
  return timestamp.replace(/\.\d+(?=Z|[+-]\d\d:\d\d$)/, '');
}

/** GETs the log; resolves with the response once it answers 200, rejects with its status and message. */
async function openLog(
  kubeConfig: KubeConfig,
  pod: { namespace: string; name: string; container: string },
  query: Record<string, string>,
): Promise<IncomingMessage> {
  const server = kubeConfig.getCurrentCluster()?.server;
  if (!server) throw new Error('No currently active cluster');
  const url = new URL(`${server.replace(/\/$/, '')}/api/v1/namespaces/${pod.namespace}/pods/${pod.name}/log`);
  for (const [key, value] of Object.entries({ container: pod.container, ...query }))
    url.searchParams.set(key, value);
  const options: RequestOptions = { method: 'GET' };
  await kubeConfig.applyToHTTPSOptions(options as never);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const request = send(url, options, (response) => {
      if (response.statusCode === 200) return resolve(response);
      let body = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      response.on('end', () => {
        let message: string | undefined;
        try {
          message = (JSON.parse(body) as { message?: string }).message;
        } catch {
          message = body.trim() || undefined;
        }
        reject(
          Object.assign(new Error(message ?? `HTTP ${response.statusCode}`), {
            statusCode: response.statusCode,
          }),
        );
      });
    });
    // Until the server answers; a followed log may then be quiet for as long as the container is.
    request.setTimeout(KUBE_CALL_TIMEOUT_MS, () =>
      request.destroy(new Error(`no answer within ${KUBE_CALL_TIMEOUT_MS / 1000} s`)),
    );
    request.once('response', () => request.setTimeout(0));
    request.on('error', reject);
    request.end();
  });
}

/**
 * Follows a container's log (`follow=true`) into `out`, honouring its backpressure, and never ends `out`
 * (it is usually our stdout, and several pods may write to it in turn). Asks for `timestamps=true` and
 * strips them: when the stream ends while `stillRunning()` (the connection dropped: an API server
 * restarting, a proxy's idle cut), it is asked again with `sinceTime` (to the second) and the lines
 * already written are skipped, so none is lost or written twice. Rejects when the API server refuses
 * the first request (e.g. 400 while the container is still being created, 403 without `pods/log`).
 */
export async function followPodLogs(
  kubeConfig: KubeConfig,
  pod: { namespace: string; name: string; container: string },
  out: NodeJS.WritableStream,
  options: FollowOptions,
): Promise<LogFollow> {
  const base = { follow: 'true', timestamps: 'true' };
  let stopped = false;
  let current: IncomingMessage | undefined = await openLog(kubeConfig, pod, base);
  // The newest timestamp written, and how many lines carried it: a resumed stream repeats that second.
  let last = '';
  let atLast = 0;
  let skip = 0;
  const write = (line: string): string | undefined => {
    const [stamp, text] = splitTimestamp(line);
    if (!stamp) return `${text}\n`;
    const at = sortable(stamp);
    if (last && at < last) return undefined;
    if (at === last && skip > 0) {
      skip--;
      return undefined;
    }
    if (at === last) atLast++;
    else [last, atLast, skip] = [at, 1, 0];
    return `${text}\n`;
  };
  const done = (async () => {
    while (current && !stopped) {
      await drain(current, out, write);
      if (stopped || !options.stillRunning()) break;
      await options.clock.sleep(LOG_RESUME_PAUSE_MS).catch(() => {});
      if (stopped || !options.stillRunning()) break;
      options.warn(
        `the log stream of ${pod.namespace}/${pod.name} (container ${pod.container}) ended while it runs: resuming from ${last || 'the start'}`,
      );
      // The lines at `last` are sent again (sinceTime is inclusive, and read to the second): skip those seen.
      skip = atLast;
      const since: Record<string, string> = last ? { sinceTime: toSecond(last) } : {};
      current = await openLog(kubeConfig, pod, { ...base, ...since }).catch((error: Error) => {
        options.warn(`could not resume the log of ${pod.namespace}/${pod.name}: ${error.message}`);
        return undefined;
      });
    }
  })();
  return {
    done,
    stop: () => {
      stopped = true;
      current?.destroy();
    },
  };
}

/** Writes a response's lines through `line` into `out` (waiting on its drain) until the response ends. */
function drain(
  response: IncomingMessage,
  out: NodeJS.WritableStream,
  line: (text: string) => string | undefined,
): Promise<void> {
  const decoder = new StringDecoder('utf8');
  let partial = '';
  return new Promise((resolve) => {
    const finish = () => resolve();
    response.on('data', (chunk: Buffer) => {
      const lines = (partial + decoder.write(chunk)).split('\n');
      partial = lines.pop() ?? '';
      const text = lines
        .map(line)
        .filter((l) => l !== undefined)
        .join('');
      if (text && !out.write(text)) {
        response.pause();
        out.once('drain', () => response.resume());
      }
    });
    response.once('end', finish);
    response.once('close', finish);
    response.once('error', finish);
  });
}
