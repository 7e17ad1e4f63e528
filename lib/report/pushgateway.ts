import { setTimeout as delay } from 'node:timers/promises';
import type { Registry } from 'prom-client';
import { DrillError } from '../errors.ts';
import { DRILL_METRIC_LABEL_NAMES } from './metrics.ts';
import { PUSH_JOB_NAME } from './push-jobs.ts';
import { parsePushgatewayUrl } from './pushgateway-url.ts';

export {
  InvalidPushgatewayUrlError,
  PUSHGATEWAY_URL_SETTING,
  parsePushgatewayUrl,
  redactUrl,
} from './pushgateway-url.ts';

// Plain fetch instead of prom-client's Pushgateway class: that class has no total per-attempt
// timeout (only a socket idle timeout), no retries, cannot take an injected fetch, and encodes
// grouping values with encodeURIComponent only, so a value containing "/" or an empty value
// (which need the Pushgateway's @base64 form) would produce a wrong grouping key.

export { PUSH_JOB_NAME, TABLE_PUSH_JOB_NAME } from './push-jobs.ts';

// 3 attempts, 0.5 s then 1 s apart, 5 s each: at most 3 × 5 s + 1.5 s = 16.5 s spent reporting.
export const DEFAULT_PUSH_TIMEOUT_MS = 5000;
export const DEFAULT_RETRY_DELAYS_MS: readonly number[] = [500, 1000];

const RESERVED_GROUPING_LABELS = new Set(['job', 'instance', ...DRILL_METRIC_LABEL_NAMES]);
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export class PushFailedError extends DrillError {
  static override readonly code = 'DRILL_PUSH_FAILED';
  readonly url: string;
  readonly attempts: number;
  readonly status: number | undefined;

  constructor(url: string, attempts: number, reason: string, status: number | undefined, cause: unknown) {
    const tries = attempts === 1 ? '1 attempt' : `${attempts} attempts`;
    super(`pushing drill metrics to ${url} failed after ${tries}: ${reason}`, { cause });
    this.url = url;
    this.attempts = attempts;
    this.status = status;
  }
}

export class InvalidGroupingLabelError extends DrillError {
  static override readonly code = 'DRILL_PUSH_GROUPING_INVALID';
  readonly label: string;

  constructor(label: string, problem: string) {
    super(`Pushgateway grouping label "${label}" ${problem}`);
    this.label = label;
  }
}

export type PushResult =
  | { ok: true; attempts: number }
  | { ok: false; attempts: number; error: PushFailedError };

export interface PushLogger {
  warn(message: string): void;
}

export interface PushDrillMetricsOptions {
  registry: Registry;
  /** Base URL of the Pushgateway, may carry basic-auth credentials and a path prefix. */
  url: string;
  /** Labels that, with job="pg_restore_drill", name this drill's group, e.g. { pg_cluster, target }. */
  grouping?: Readonly<Record<string, string>>;
  /** The group's job label; default PUSH_JOB_NAME (the daily check pushes as pg_restore_drill_check). */
  job?: string;
  timeoutMs?: number;
  /** Waits between attempts; its length + 1 is the number of attempts. */
  retryDelaysMs?: readonly number[];
  fetch?: typeof fetch;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  logger?: PushLogger;
  /**
   * The run's stop (SIGTERM, SIGINT): once it fires there is no further attempt and no wait between
   * attempts; the attempt under way is let finish (bounded by `timeoutMs`), so a stop that lands while
   * the metrics travel still has them pushed.
   */
  signal?: AbortSignal;
}

function base64Url(value: string): string {
  const encoded = Buffer.from(value, 'utf8').toString('base64').replaceAll('+', '-').replaceAll('/', '_');
  // The Pushgateway reads "=" as the empty value: an empty path segment would be dropped.
  return encoded === '' ? '=' : encoded;
}

/** The grouping part of the push path, "/pg_cluster/prod/target/sidecar", validated and encoded. */
export function groupingKeyPath(grouping: Readonly<Record<string, string>>): string {
  let path = '';
  for (const [name, value] of Object.entries(grouping)) {
    if (!LABEL_NAME.test(name) || name.startsWith('__')) {
      throw new InvalidGroupingLabelError(name, 'is not a valid Prometheus label name');
    }
    if (RESERVED_GROUPING_LABELS.has(name)) {
      throw new InvalidGroupingLabelError(
        name,
        'is reserved (job, instance and the drill metrics\u2019 own labels)',
      );
    }
    // "/" would split the path, and "." / ".." would be collapsed by URL normalisation.
    const needsBase64 = value === '' || value === '.' || value === '..' || value.includes('/');
    path += needsBase64 ? `/${name}@base64/${base64Url(value)}` : `/${name}/${encodeURIComponent(value)}`;
  }
  return path;
}

interface Target {
  url: string;
  shown: string;
  headers: Record<string, string>;
}

function pushTarget(baseUrl: string, grouping: Readonly<Record<string, string>>, job: string): Target {
  const base = parsePushgatewayUrl(baseUrl);
  const headers: Record<string, string> = {};
  if (base.username !== '' || base.password !== '') {
    // fetch refuses URLs with credentials, so they travel as a basic-auth header instead.
    const user = decodeURIComponent(base.username);
    const pass = decodeURIComponent(base.password);
    headers.authorization = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
  }
  const prefix = base.pathname.replace(/\/+$/, '');
  const path = `${prefix}/metrics/job/${encodeURIComponent(job)}${groupingKeyPath(grouping)}`;
  const url = `${base.origin}${path}`;
  const shown = headers.authorization === undefined ? url : `${base.protocol}//***@${base.host}${path}`;
  return { url, shown, headers };
}

interface AttemptFailure {
  reason: string;
  retryable: boolean;
  status: number | undefined;
  cause: unknown;
}

function describeFetchError(error: unknown, timeoutMs: number): string {
  if (error instanceof Error && error.name === 'TimeoutError') return `no response within ${timeoutMs} ms`;
  // undici reports "fetch failed" and keeps the socket error (ECONNREFUSED, ENOTFOUND…) as the cause.
  if (error instanceof Error && error.cause instanceof Error) return error.cause.message;
  return error instanceof Error ? error.message : String(error);
}

async function attempt(
  doFetch: typeof fetch,
  target: Target,
  body: string,
  contentType: string,
  timeoutMs: number,
): Promise<AttemptFailure | undefined> {
  try {
    // POST (add semantics) replaces only the metric names we send, so a failed run, which sends
    // no last_success, keeps the previous success timestamp; PUT would erase it.
    const response = await doFetch(target.url, {
      method: 'POST',
      headers: { ...target.headers, 'content-type': contentType },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = (await response.text()).trim();
    if (response.ok) return undefined;
    const status = response.status;
    const head = response.statusText === '' ? `HTTP ${status}` : `HTTP ${status} ${response.statusText}`;
    return {
      reason: text === '' ? head : `${head}: ${text.slice(0, 300)}`,
      // Other 4xx mean a bad URL, credentials or payload: repeating the same request cannot help.
      retryable: status >= 500 || status === 408 || status === 429,
      status,
      cause: undefined,
    };
  } catch (error) {
    return { reason: describeFetchError(error, timeoutMs), retryable: true, status: undefined, cause: error };
  }
}

/**
 * Pushes `registry` to the Pushgateway under job="pg_restore_drill" plus `grouping`.
 * Network and HTTP failures come back as `{ ok: false }`, never as a throw, so a broken reporter
 * cannot turn a good drill into a failed one; only a misconfiguration (bad URL or label) throws.
 */
export async function pushDrillMetrics(options: PushDrillMetricsOptions): Promise<PushResult> {
  const target = pushTarget(options.url, options.grouping ?? {}, options.job ?? PUSH_JOB_NAME);
  const timeoutMs = options.timeoutMs ?? DEFAULT_PUSH_TIMEOUT_MS;
  const delays = options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
  const doFetch = options.fetch ?? fetch;
  const sleep =
    options.sleep ?? ((ms: number, signal?: AbortSignal) => delay(ms, undefined, { signal }).catch(() => {}));
  const body = await options.registry.metrics();
  const maxAttempts = delays.length + 1;
  const stop = options.signal;
  const stopped = (reason: string) =>
    `${reason} (not retried: the drill was stopped by ${String(stop?.reason)})`;

  for (let attempts = 1; ; attempts++) {
    const failure = await attempt(doFetch, target, body, options.registry.contentType, timeoutMs);
    if (failure === undefined) return { ok: true, attempts };
    const wait = delays[attempts - 1];
    if (!failure.retryable || wait === undefined || stop?.aborted) {
      const reason =
        stop?.aborted && failure.retryable && wait !== undefined
          ? stopped(failure.reason)
          : failure.retryable
            ? failure.reason
            : `${failure.reason} (not retried)`;
      const error = new PushFailedError(target.shown, attempts, reason, failure.status, failure.cause);
      return { ok: false, attempts, error };
    }
    options.logger?.warn(
      `push attempt ${attempts}/${maxAttempts} to ${target.shown} failed: ${failure.reason}; retrying in ${wait} ms`,
    );
    await sleep(wait, stop);
    if (stop?.aborted) {
      const error = new PushFailedError(
        target.shown,
        attempts,
        stopped(failure.reason),
        failure.status,
        failure.cause,
      );
      return { ok: false, attempts, error };
    }
  }
}
