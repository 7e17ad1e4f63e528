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
  const first = await openLog(kubeConfig, pod, FOLLOW);
  const follow = { stopped: false, current: first as IncomingMessage | undefined };
  const done = resumeLoop(kubeConfig, pod, out, options, follow);
  return {
    done,
    stop: () => {
      follow.stopped = true;
      follow.current?.destroy();
    },
  };
}

const FOLLOW = { follow: 'true', timestamps: 'true' };
/** Resumes in a row that bring no new line before the follow gives up (the stream keeps breaking). */
export const MAX_IDLE_RESUMES = 5;

/** The lines already written, by timestamp: a resumed stream repeats the second it starts in. */
function lineFilter() {
  let last = '';
  let atLast = 0;
  let skip = 0;
  return {
    last: () => last,
    /** Before a resume: the lines at `last` seen so far come again. */
    resuming: () => {
      skip = atLast;
    },
    /** The line to write (without its timestamp), or undefined for one already written. */
    line: (line: string): string | undefined => {
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
    },
  };
}

/**
 * Drains the stream; when it breaks (the response incomplete), or ends while the container still runs,
 * asks again with sinceTime. A container that has exited still serves its log: a broken stream is
 * resumed whatever the container's state, up to MAX_IDLE_RESUMES in a row without a new line.
 */
async function resumeLoop(
  kubeConfig: KubeConfig,
  pod: { namespace: string; name: string; container: string },
  out: NodeJS.WritableStream,
  options: FollowOptions,
  follow: { stopped: boolean; current: IncomingMessage | undefined },
): Promise<void> {
  const seen = lineFilter();
  const where = `${pod.namespace}/${pod.name} (container ${pod.container})`;
  let idle = 0;
  while (follow.current && !follow.stopped) {
    const before = seen.last();
    const complete = await drain(follow.current, out, seen.line);
    idle = seen.last() === before ? idle + 1 : 0;
    if (follow.stopped || (complete && !options.stillRunning())) return;
    if (idle > MAX_IDLE_RESUMES) {
      options.warn(
        `the log stream of ${where} keeps breaking: stopped following it (kubectl logs shows the rest)`,
      );
      return;
    }
    await options.clock.sleep(LOG_RESUME_PAUSE_MS).catch(() => {});
    if (follow.stopped || (complete && !options.stillRunning())) return;
    const why = complete ? 'ended while the container runs' : 'broke';
    options.warn(`the log stream of ${where} ${why}: resuming from ${seen.last() || 'the start'}`);
    seen.resuming();
    const since: Record<string, string> = seen.last() ? { sinceTime: toSecond(seen.last()) } : {};
    follow.current = await openLog(kubeConfig, pod, { ...FOLLOW, ...since }).catch((error: Error) => {
      options.warn(`could not resume the log of ${where}: ${error.message}`);
      return undefined;
    });
  }
}

/**
 * Writes a response's lines through `line` into `out` (waiting on its drain) until the response ends;
 * resolves whether it ended whole (false: the connection broke).
 */
function drain(
  response: IncomingMessage,
  out: NodeJS.WritableStream,
  line: (text: string) => string | undefined,
): Promise<boolean> {
  const decoder = new StringDecoder('utf8');
  let partial = '';
  return new Promise((resolve) => {
    const finish = () => resolve(response.complete);
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
