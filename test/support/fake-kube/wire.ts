/**
 * What every part of the fake Kubernetes API shares: the stored kinds, Status bodies as the API server
 * writes them, selectors, and the route types tests extend the fake with.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type {
  CoreV1Event,
  EventsV1Event,
  V1CronJob,
  V1Job,
  V1ObjectMeta,
  V1Pod,
  V1Status,
} from '@kubernetes/client-node';

export type Stored = V1CronJob | V1Job | V1Pod | CoreV1Event | EventsV1Event;
/** Collections the fake serves; `events.k8s.io` events are kept apart from core ones. */
export type Resource = 'cronjobs' | 'jobs' | 'pods' | 'events' | 'events.k8s.io';

export const RESOURCE_INFO: Record<Resource, { group: string; kind: string; apiVersion: string }> = {
  cronjobs: { group: 'batch', kind: 'CronJob', apiVersion: 'batch/v1' },
  jobs: { group: 'batch', kind: 'Job', apiVersion: 'batch/v1' },
  pods: { group: '', kind: 'Pod', apiVersion: 'v1' },
  events: { group: '', kind: 'Event', apiVersion: 'v1' },
  'events.k8s.io': { group: 'events.k8s.io', kind: 'Event', apiVersion: 'events.k8s.io/v1' },
};

/** The RBAC resource name of a collection (events.k8s.io events are `events` too). */
export function rbacResource(resource: Resource): string {
  return resource === 'events.k8s.io' ? 'events' : resource;
}

/**
 * A route a test (or a helper of its own) adds in front of the fake's own: it answers a request and
 * returns true, or returns false to let the next route have it. Routes run after the token check, in
 * the order they were added, before the built-in ones, so one can also stand in for a built-in route
 * (an Events endpoint that never answers, a 429). `body` is the parsed JSON of a POST, PUT or PATCH.
 */
export type FakeRoute = (
  request: IncomingMessage,
  response: ServerResponse,
  url: URL,
  body: unknown,
) => boolean;
/** The same for upgraded connections (exec, portforward): take the socket and return true, or false. */
export type FakeUpgradeRoute = (request: IncomingMessage, socket: Duplex, head: Buffer, url: URL) => boolean;

export function meta(object: Stored): V1ObjectMeta {
  object.metadata ??= {};
  return object.metadata;
}

/** The value at a dotted path of an object (`metadata.name`, `involvedObject.kind`). */
export function lookup(object: unknown, path: string): unknown {
  let current: unknown = object;
  for (const key of path.split('.')) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

/** Equality-based selectors, as the API server reads them: `a=b,c==d,e!=f`. */
export function selectorMatcher(text: string | null, read: (object: Stored, key: string) => unknown) {
  const terms = (text ?? '')
    .split(',')
    .filter((term) => term !== '')
    .map((term) => {
      const match = /^([^=!]+)(==|=|!=)(.*)$/.exec(term);
      if (!match) throw new Error(`unparseable selector term ${term}`);
      return { key: match[1] ?? '', negate: match[2] === '!=', value: match[3] ?? '' };
    });
  return (object: Stored) =>
    terms.every((term) => (String(read(object, term.key) ?? '') === term.value) !== term.negate);
}

export function json(value: unknown): string {
  return JSON.stringify(value);
}

/** A deep copy as the wire would carry it (Dates become strings). */
export function wire<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

export function statusBody(code: number, reason: string, message: string, details?: unknown): V1Status {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    code,
    ...(details === undefined ? {} : { details }),
  } as V1Status;
}

export function sendStatus(
  response: ServerResponse,
  code: number,
  reason: string,
  message: string,
  headers: Record<string, string> = {},
): void {
  response.writeHead(code, { 'content-type': 'application/json', ...headers });
  response.end(json(statusBody(code, reason, message)));
}

export function sendJson(response: ServerResponse, code: number, body: unknown): void {
  response.writeHead(code, { 'content-type': 'application/json' });
  response.end(json(body));
}

/** Starts a streamed answer (watch, followed log) and sends its headers now, as the API server does. */
export function startStream(response: ServerResponse, contentType: string): void {
  response.writeHead(200, { 'content-type': contentType, 'transfer-encoding': 'chunked' });
  // Node holds the headers until the first write: a quiet watch would look like a server that never answers.
  response.flushHeaders();
}

/** The identity the fake's token stands for, as RBAC refusals name it. */
export const FAKE_USER = 'system:serviceaccount:ci:pg-restore-drill-ci';
