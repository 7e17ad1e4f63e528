import {
  ApiException,
  type ConfigurationOptions,
  Observable,
  type ObservableMiddleware,
  type RequestContext,
  type ResponseContext,
} from '@kubernetes/client-node';
import { raceAbort } from '../abort.ts';
import { describeAction, httpStatusOf, kubeError } from './api-errors.ts';
import type { Clock } from './clock.ts';
import { type KubeAction, KubeApiError, KubeTimeoutError } from './errors.ts';

/**
 * The longest one client-node call may wait for the API server. Without it a call blocked by an egress
 * policy (the connection's SYN dropped) waits for the kernel, about two minutes, and near the Job's
 * deadline that costs the report.
 */
export const KUBE_CALL_TIMEOUT_MS = 5000;
/** Retries of a call the server refused for now (429, 5xx), after the first attempt. */
export const KUBE_CALL_RETRIES = 4;
/** The longest pause before a retry, whatever Retry-After asks for. */
export const MAX_RETRY_PAUSE_MS = 10_000;
/** The first pause when the server names none; doubled on each retry. */
const FIRST_RETRY_PAUSE_MS = 250;

/** Statuses that mean "not now": the request may be sent again. */
const TRANSIENT = new Set([429, 500, 502, 503, 504]);

export interface CallOptions {
  /** The run's own stop: once aborted no call starts, and one in flight ends. */
  signal?: AbortSignal;
  timeoutMs?: number;
}

/** client-node per-call options that hand the request `signal` (the object APIs take an Observable middleware). */
function withSignal(signal: AbortSignal): ConfigurationOptions {
  const middleware: ObservableMiddleware = {
    pre: (context: RequestContext) => {
      context.setSignal(signal);
      return new Observable(Promise.resolve(context));
    },
    post: (context: ResponseContext) => new Observable(Promise.resolve(context)),
  };
  return { middleware: [middleware], middlewareMergeStrategy: 'append' };
}

/**
 * One client-node call, bounded: it gets `timeoutMs` (default KUBE_CALL_TIMEOUT_MS) and ends when
 * `signal` aborts. A call that runs out of time rejects with a KubeTimeoutError naming `action`; one
 * stopped by `signal`, or never started because it was already aborted, with a KubeApiError saying so.
 */
export async function boundedCall<T>(
  action: KubeAction,
  call: (options: ConfigurationOptions) => Promise<T>,
  options: CallOptions = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? KUBE_CALL_TIMEOUT_MS;
  const what = `${action.verb} ${describeAction(action)}`;
  if (options.signal?.aborted) {
    throw new KubeApiError(
      action,
      undefined,
      `Skipped: the run was stopped (${String(options.signal.reason)}) before trying to ${what}.`,
    );
  }
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  // The middleware aborts the request itself; the race also ends a call stuck before it sends one.
  try {
    return await raceAbort(call(withSignal(signal)), signal);
  } catch (error) {
    if (timeout.aborted) {
      throw new KubeTimeoutError(
        action,
        undefined,
        `The API server did not answer within ${timeoutMs / 1000} s when trying to ${what}: is it reachable from here (a NetworkPolicy's egress to the API server)?`,
        { cause: error },
      );
    }
    if (options.signal?.aborted) {
      throw new KubeApiError(
        action,
        undefined,
        `Stopped (${String(options.signal.reason)}) while trying to ${what}.`,
        {
          cause: error,
        },
      );
    }
    throw kubeError(error, action);
  }
}

/** Retry-After of a refused call, in ms (seconds, or an HTTP date), when the server sent one. */
export function retryAfterMs(error: unknown, now: Date): number | undefined {
  const cause = error instanceof KubeApiError ? error.cause : error;
  if (!(cause instanceof ApiException)) return undefined;
  const headers = (cause.headers ?? {}) as Record<string, string | undefined>;
  const value = headers['retry-after'] ?? headers['Retry-After'];
  if (value === undefined || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now.getTime());
}

/** The pause before retry `attempt` (1, 2, …): the server's Retry-After if it gave one, else doubling; capped. */
export function retryPause(error: unknown, attempt: number, now: Date): number {
  const asked = retryAfterMs(error, now);
  return Math.min(asked ?? FIRST_RETRY_PAUSE_MS * 2 ** (attempt - 1), MAX_RETRY_PAUSE_MS);
}

export interface RetryOptions extends CallOptions {
  clock: Clock;
  /** Which statuses to retry: a create is retried only on 429 (a 5xx may have created it). */
  retryOn?: (status: number) => boolean;
  /** Told of each retry, e.g. to log it. */
  onRetry?: (error: KubeApiError, pauseMs: number) => void;
}

/**
 * boundedCall, sent again while the server answers 429 or 5xx: after its Retry-After (bounded by
 * MAX_RETRY_PAUSE_MS) or a doubling pause, at most KUBE_CALL_RETRIES times; then its last error.
 */
export async function retriedCall<T>(
  action: KubeAction,
  call: (options: ConfigurationOptions) => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  const retryOn = options.retryOn ?? ((status: number) => TRANSIENT.has(status));
  for (let attempt = 1; ; attempt++) {
    try {
      return await boundedCall(action, call, options);
    } catch (error) {
      const status = httpStatusOf(error);
      if (
        attempt > KUBE_CALL_RETRIES ||
        status === undefined ||
        !retryOn(status) ||
        !(error instanceof KubeApiError)
      )
        throw error;
      const pause = retryPause(error, attempt, options.clock.now());
      options.onRetry?.(error, pause);
      await options.clock.sleep(pause, options.signal).catch(() => {
        throw error;
      });
    }
  }
}

/** `<the error>; asking again in 2 s.`: a retry, for the log. */
export function retryNote(error: Error, pauseMs: number): string {
  return `${error.message.replace(/\.$/, '')}; asking again in ${pauseMs / 1000} s.`;
}

/** Whether a status may be retried for a read. */
export function isTransient(status: number | undefined): boolean {
  return status !== undefined && TRANSIENT.has(status);
}
