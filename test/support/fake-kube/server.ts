/**
 * A fake Kubernetes API server for tests: real HTTP on 127.0.0.1 (and a kubeconfig pointing at it), the
 * store and its watches (store.ts), a Job controller (jobs.ts), container logs (logs.ts), events
 * (core/v1 and events.k8s.io/v1) and the exec endpoint (exec.ts). Rough where a real one is rough:
 * injected 429s with Retry-After and 5xx answers, watches that end or are cut, 410 Gone, dropped log
 * and exec streams. Every request is recorded for exact assertions. No traffic leaves 127.0.0.1.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import type { EventsV1Event, V1Job, V1Pod } from '@kubernetes/client-node';
import { createExecEndpoint, type ExecFaults, type ExecRecord, rejectUpgrade } from './exec.ts';
import { createJobController, type JobScenario, type PropagationPolicy } from './jobs.ts';
import { createPodLogs, type LogFaults } from './logs.ts';
import { createStore, type WatchSettings } from './store.ts';
import {
  FAKE_USER,
  type FakeRoute,
  type FakeUpgradeRoute,
  json,
  lookup,
  RESOURCE_INFO,
  type Resource,
  rbacResource,
  type Stored,
  sendJson,
  sendStatus,
  wire,
} from './wire.ts';

export const FAKE_TOKEN = 'fake-token-for-tests';
/** The namespace of the kubeconfig's default context. */
export const FAKE_NAMESPACE = 'data';

export interface RecordedRequest {
  method: string;
  /** Path and query, as sent. */
  path: string;
  /** The JSON body, parsed; undefined for none. */
  body: unknown;
}

/** An RBAC rule the fake's identity lacks: requests needing it get 403. */
export interface Forbidden {
  verb: string;
  /** As RBAC names it: `cronjobs`, `pods/log`, `pods/exec`, `events`, `jobs`. */
  resource: string;
}

/** The next `times` requests matching `method` and `path` get `status` (429: with Retry-After). */
export interface HttpFault {
  method?: string;
  /** Tested against the path without the query. */
  path: RegExp;
  status: 429 | 500 | 502 | 503 | 504;
  /** Seconds, sent as Retry-After (the API server sends 1 with its 429s). */
  retryAfter?: number;
  times: number;
}

export interface FakeKubeApi {
  url: string;
  /** A kubeconfig file: context `fake` (namespace data, the current one) and `fake-other` (namespace other). */
  kubeconfigPath: string;
  requests: RecordedRequest[];
  execs: ExecRecord[];
  scenario: JobScenario;
  forbidden: Forbidden[];
  /** The environment of every exec'd process (e.g. PATH and POSTGRES_PASSWORD). */
  execEnv: NodeJS.ProcessEnv;
  /** Subprotocols the exec endpoint accepts, preferred first. */
  execProtocols: string[];
  /** Watch timeouts and bookmarks (store.ts). */
  watches: WatchSettings;
  logFaults: LogFaults;
  execFaults: ExecFaults;
  /** Answers to inject, consumed in order (see HttpFault). */
  httpFaults: HttpFault[];
  add(resource: Resource, object: Stored): void;
  /** Adds routes in front of the built-in ones (see FakeRoute). */
  extend(routes: { http?: FakeRoute; upgrade?: FakeUpgradeRoute }): void;
  get(resource: Resource, namespace: string, name: string): Stored | undefined;
  list(resource: Resource, namespace: string): Stored[];
  /** Forgets the watch history up to now: older resourceVersions get 410 Gone. */
  compact(): void;
  /** Cuts every open watch, as a load balancer's idle timeout does. */
  cutWatches(): void;
  /** Deletes a Job as someone else would (kubectl delete, a history limit), with that propagationPolicy. */
  deleteJob(namespace: string, name: string, policy: PropagationPolicy): void;
  /** Forgets every recorded request and exec (between tests), and clears the faults. */
  reset(): void;
  close(): Promise<void>;
}

/** MicroTime as Kubernetes parses it (RFC 3339 with exactly six fractional digits). */
const MICRO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|[+-]\d\d:\d\d)$/;

const readBody = async (request: IncomingMessage): Promise<unknown> => {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  if (chunks.length === 0) return undefined;
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
};

/** Why an Event would be refused, as the API server's validation says it, or undefined. */
function eventProblem(event: EventsV1Event, name: string): [number, string, string] | undefined {
  const eventTime: unknown = event.eventTime;
  if (typeof eventTime !== 'string' || !MICRO_TIME.test(eventTime)) {
    return [
      400,
      'BadRequest',
      `Event in version "v1" cannot be handled as a Event: parsing time ${json(eventTime)} as "2006-01-02T15:04:05.000000Z07:00": cannot parse`,
    ];
  }
  const missing = [
    'reportingController',
    'reportingInstance',
    'action',
    'reason',
    'type',
    'regarding',
  ].filter((field) => !lookup(event, field));
  if (missing.length > 0 || Buffer.byteLength(event.note ?? '') > 1024)
    return [422, 'Invalid', `Event.events.k8s.io "${name}" is invalid: ${missing.join(', ') || 'note'}`];
  return undefined;
}

/** A Job as the API server stores it: a uid, the selector and pod labels it adds, an empty status. */
function admitJob(job: V1Job, name: string): void {
  const uid = randomUUID();
  job.metadata = { ...job.metadata, uid, generation: 1 };
  const selector = { 'batch.kubernetes.io/controller-uid': uid };
  job.spec = {
    ...job.spec,
    selector: { matchLabels: selector },
    template: {
      ...job.spec?.template,
      metadata: {
        ...job.spec?.template.metadata,
        labels: {
          ...job.spec?.template.metadata?.labels,
          ...selector,
          'batch.kubernetes.io/job-name': name,
          'controller-uid': uid,
          'job-name': name,
        },
      },
    },
  } as V1Job['spec'];
  job.status = {};
}

function kubeconfig(url: string): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '  - name: fake',
    '    cluster:',
    `      server: ${url}`,
    // client-node refuses plain http unless TLS verification is off.
    '      insecure-skip-tls-verify: true',
    'users:',
    '  - name: ci',
    '    user:',
    `      token: ${FAKE_TOKEN}`,
    'contexts:',
    '  - name: fake',
    '    context: { cluster: fake, user: ci, namespace: data }',
    '  - name: fake-other',
    '    context: { cluster: fake, user: ci, namespace: other }',
    'current-context: fake',
    '',
  ].join('\n');
}

export async function startFakeKubeApi(): Promise<FakeKubeApi> {
  const dir = await mkdtemp(join(tmpdir(), 'fake-kube-api-'));
  const store = createStore(FAKE_NAMESPACE);
  const logs = createPodLogs();
  const jobs = createJobController(store, logs);
  const httpRoutes: FakeRoute[] = [];
  const upgradeRoutes: FakeUpgradeRoute[] = [];
  const execFaults: ExecFaults = { dropAfterStdinBytes: undefined, dropBeforeStatus: false };

  const fake: FakeKubeApi = {
    url: '',
    kubeconfigPath: join(dir, 'kubeconfig'),
    requests: [],
    execs: [],
    scenario: { outcome: 'succeed', logLines: [] },
    forbidden: [],
    execEnv: { PATH: process.env.PATH },
    execProtocols: ['v5.channel.k8s.io', 'v4.channel.k8s.io'],
    watches: store.settings,
    logFaults: logs.faults,
    execFaults,
    httpFaults: [],
    add: (resource, object) => {
      store.put(resource, object);
    },
    extend: ({ http, upgrade }) => {
      if (http) httpRoutes.push(http);
      if (upgrade) upgradeRoutes.push(upgrade);
    },
    get: store.get,
    list: store.list,
    compact: store.compact,
    cutWatches: store.cutWatches,
    deleteJob: (namespace, name, policy) => {
      jobs.remove(namespace, name, policy);
    },
    reset: () => {
      fake.requests.length = 0;
      fake.execs.length = 0;
      fake.forbidden = [];
      fake.httpFaults = [];
      fake.execProtocols = ['v5.channel.k8s.io', 'v4.channel.k8s.io'];
      store.settings.watchTimeoutMs = undefined;
      store.settings.bookmarkIntervalMs = undefined;
      logs.faults.cutFollowsAfterLines = undefined;
      logs.faults.cuts = 0;
      execFaults.dropAfterStdinBytes = undefined;
      execFaults.dropBeforeStatus = false;
    },
    close: async () => {
      jobs.close();
      store.close();
      logs.close();
      exec.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };

  const forbiddenFor = (verb: string, resource: string) =>
    fake.forbidden.some((rule) => rule.verb === verb && rule.resource === resource);

  const refuse = (
    response: ServerResponse,
    verb: string,
    resource: Resource | 'pods/log',
    namespace: string,
    name?: string,
  ) => {
    const [base = '', sub] = resource.split('/');
    const group = base in RESOURCE_INFO ? RESOURCE_INFO[base as Resource].group : '';
    const rbac = sub ? resource : rbacResource(resource as Resource);
    const qualified = group ? `${rbacResource(base as Resource)}.${group}` : rbac;
    const message = `${qualified}${name ? ` "${name}"` : ''} is forbidden: User "${FAKE_USER}" cannot ${verb} resource "${rbacResource(base as Resource)}"${sub ? `/${sub}` : ''} in API group "${group}" in the namespace "${namespace}"`;
    sendStatus(response, 403, 'Forbidden', message);
  };

  /** A fault injected for this request, answered; true when one was. */
  const injectFault = (request: IncomingMessage, response: ServerResponse, path: string): boolean => {
    const fault = fake.httpFaults.find(
      (f) => f.times > 0 && f.path.test(path) && (f.method === undefined || f.method === request.method),
    );
    if (!fault) return false;
    fault.times--;
    if (fault.status === 429) {
      sendStatus(response, 429, 'TooManyRequests', 'Too many requests, please try again later.', {
        'retry-after': String(fault.retryAfter ?? 1),
      });
    } else {
      const reasons: Record<number, [string, string]> = {
        500: ['InternalError', 'Internal error occurred: etcdserver: request timed out'],
        502: ['InternalError', 'Bad Gateway'],
        503: ['ServiceUnavailable', 'the server is currently unable to handle the request'],
        504: ['Timeout', 'Timeout: request did not complete within the allowed duration'],
      };
      const [reason, message] = reasons[fault.status] ?? ['InternalError', 'error'];
      sendStatus(
        response,
        fault.status,
        reason,
        message,
        fault.retryAfter === undefined ? {} : { 'retry-after': String(fault.retryAfter) },
      );
    }
    return true;
  };

  const one = (response: ServerResponse, resource: Resource, namespace: string, name: string) => {
    if (forbiddenFor('get', rbacResource(resource)))
      return refuse(response, 'get', resource, namespace, name);
    const object = store.get(resource, namespace, name);
    const group = RESOURCE_INFO[resource].group;
    if (object) sendJson(response, 200, object);
    else sendStatus(response, 404, 'NotFound', `${resource}${group ? `.${group}` : ''} "${name}" not found`);
  };

  const listOrWatch = (response: ServerResponse, url: URL, resource: Resource, namespace: string) => {
    const verb = url.searchParams.get('watch') === 'true' ? 'watch' : 'list';
    if (forbiddenFor(verb, rbacResource(resource))) return refuse(response, verb, resource, namespace);
    store.listOrWatch(response, url, resource, namespace);
  };

  const create = (
    response: ServerResponse,
    resource: Resource,
    namespace: string,
    sent: Stored | undefined,
  ) => {
    // A copy: the recorded request keeps the body exactly as it was sent.
    const body = sent === undefined ? undefined : wire(sent);
    if (forbiddenFor('create', rbacResource(resource)))
      return refuse(response, 'create', resource, namespace);
    const name = body?.metadata?.name;
    if (!body || !name)
      return sendStatus(response, 422, 'Invalid', `${resource} is invalid: metadata.name: Required value`);
    if (store.get(resource, namespace, name))
      return sendStatus(response, 409, 'AlreadyExists', `${resource} "${name}" already exists`);
    const problem = resource === 'events.k8s.io' ? eventProblem(body as EventsV1Event, name) : undefined;
    if (problem) return sendStatus(response, ...problem);
    if (resource === 'jobs') admitJob(body as V1Job, name);
    const stored = store.put(
      resource,
      { ...body, metadata: { ...body.metadata, namespace } } as Stored,
      'ADDED',
    );
    sendJson(response, 201, stored);
    if (resource === 'jobs') jobs.run(stored as V1Job, fake.scenario);
  };

  /** DELETE of a Job: its propagationPolicy (body or query; a Job's default is Orphan), as the server does. */
  const deleteJob = (response: ServerResponse, url: URL, body: unknown, namespace: string, name: string) => {
    if (forbiddenFor('delete', 'jobs')) return refuse(response, 'delete', 'jobs', namespace, name);
    const sent = (body as { propagationPolicy?: string } | undefined)?.propagationPolicy;
    const policy = (sent ?? url.searchParams.get('propagationPolicy') ?? 'Orphan') as PropagationPolicy;
    if (!['Background', 'Foreground', 'Orphan'].includes(policy))
      return sendStatus(response, 400, 'BadRequest', `invalid propagationPolicy ${policy}`);
    const job = jobs.remove(namespace, name, policy);
    if (!job) return sendStatus(response, 404, 'NotFound', `jobs.batch "${name}" not found`);
    sendJson(response, 200, {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Success',
      details: { name, group: 'batch', kind: 'jobs', uid: job.metadata?.uid },
    });
  };

  const podLog = (response: ServerResponse, url: URL, namespace: string, podName: string) => {
    if (forbiddenFor('get', 'pods/log')) return refuse(response, 'get', 'pods/log', namespace, podName);
    const pod = store.get('pods', namespace, podName) as V1Pod | undefined;
    if (!pod) return sendStatus(response, 404, 'NotFound', `pods "${podName}" not found`);
    logs.serve(response, url, pod);
  };

  type Serve = (response: ServerResponse, url: URL, body: unknown, namespace: string, name: string) => void;
  const ns = '/namespaces/([^/]+)';
  const routes: [string, RegExp, Serve][] = [
    [
      'GET',
      new RegExp(`^/apis/batch/v1${ns}/cronjobs/([^/]+)$`),
      (r, _u, _b, n, name) => one(r, 'cronjobs', n, name),
    ],
    ['POST', new RegExp(`^/apis/batch/v1${ns}/jobs$`), (r, _u, b, n) => create(r, 'jobs', n, b as Stored)],
    ['GET', new RegExp(`^/apis/batch/v1${ns}/jobs$`), (r, u, _b, n) => listOrWatch(r, u, 'jobs', n)],
    [
      'GET',
      new RegExp(`^/apis/batch/v1${ns}/jobs/([^/]+)$`),
      (r, _u, _b, n, name) => one(r, 'jobs', n, name),
    ],
    ['DELETE', new RegExp(`^/apis/batch/v1${ns}/jobs/([^/]+)$`), deleteJob],
    ['GET', new RegExp(`^/api/v1${ns}/pods$`), (r, u, _b, n) => listOrWatch(r, u, 'pods', n)],
    ['GET', new RegExp(`^/api/v1${ns}/pods/([^/]+)$`), (r, _u, _b, n, name) => one(r, 'pods', n, name)],
    ['GET', new RegExp(`^/api/v1${ns}/pods/([^/]+)/log$`), (r, u, _b, n, name) => podLog(r, u, n, name)],
    ['POST', new RegExp(`^/api/v1${ns}/events$`), (r, _u, b, n) => create(r, 'events', n, b as Stored)],
    ['GET', new RegExp(`^/api/v1${ns}/events$`), (r, u, _b, n) => listOrWatch(r, u, 'events', n)],
    [
      'POST',
      new RegExp(`^/apis/events.k8s.io/v1${ns}/events$`),
      (r, _u, b, n) => create(r, 'events.k8s.io', n, b as Stored),
    ],
  ];

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const withBody = ['POST', 'PUT', 'PATCH', 'DELETE'].includes(request.method ?? '');
    const body = withBody ? await readBody(request) : undefined;
    fake.requests.push({ method: request.method ?? 'GET', path: request.url ?? '', body });
    if (request.headers.authorization !== `Bearer ${FAKE_TOKEN}`)
      return sendStatus(response, 401, 'Unauthorized', 'Unauthorized');
    if (httpRoutes.some((route) => route(request, response, url, body))) return;
    if (injectFault(request, response, url.pathname)) return;
    for (const [method, pattern, serve] of routes) {
      const match = pattern.exec(url.pathname);
      if (match && request.method === method)
        return serve(response, url, body, match[1] ?? '', match[2] ?? '');
    }
    sendStatus(response, 404, 'NotFound', 'the server could not find the requested resource');
  };

  const exec = createExecEndpoint({
    env: () => fake.execEnv,
    protocols: () => fake.execProtocols,
    forbidden: () => forbiddenFor('create', 'pods/exec'),
    getPod: (namespace, name) => store.get('pods', namespace, name) as V1Pod | undefined,
    faults: execFaults,
    record: (record) => fake.execs.push(record),
  });

  const server = createServer((request, response) => {
    handle(request, response).catch((error: Error) => {
      if (!response.headersSent) sendStatus(response, 500, 'InternalError', error.message);
    });
  });
  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    fake.requests.push({ method: request.method ?? 'GET', path: request.url ?? '', body: undefined });
    if (request.headers.authorization !== `Bearer ${FAKE_TOKEN}`)
      return rejectUpgrade(socket, 401, 'Unauthorized', 'Unauthorized');
    if (upgradeRoutes.some((route) => route(request, socket, head, url))) return;
    if (exec.upgrade(request, socket, head, url)) return;
    rejectUpgrade(socket, 404, 'NotFound', 'the server could not find the requested resource');
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  fake.url = `http://127.0.0.1:${port}`;
  await writeFile(fake.kubeconfigPath, kubeconfig(fake.url));
  return fake;
}
