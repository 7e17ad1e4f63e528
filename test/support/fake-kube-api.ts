/**
 * A small fake Kubernetes API server for tests: real HTTP on 127.0.0.1 (and a kubeconfig pointing at
 * it), an in-memory store with resourceVersions, list and watch streams, a fake Job controller that
 * walks a pod through a scenario the test sets, followed pod logs, events (core/v1 and events.k8s.io/v1),
 * and the exec endpoint upgraded to a WebSocket speaking v5/v4.channel.k8s.io whose process is real: the
 * requested command runs on this machine (psql against a throwaway cluster), so streamed bytes really
 * reach it. Every request is recorded for exact assertions. No traffic leaves 127.0.0.1.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import type {
  CoreV1Event,
  EventsV1Event,
  V1Container,
  V1ContainerStatus,
  V1CronJob,
  V1Job,
  V1JobCondition,
  V1ObjectMeta,
  V1Pod,
  V1Status,
} from '@kubernetes/client-node';

// `ws` (a dependency of @kubernetes/client-node) ships no types; we describe the little we use.
interface WsSocket {
  readonly protocol: string;
  readonly readyState: number;
  send(data: Buffer): void;
  close(code?: number): void;
  terminate(): void;
  pause(): void;
  resume(): void;
  on(event: 'message', listener: (data: Buffer) => void): void;
  on(event: 'close', listener: () => void): void;
}
interface WsServer {
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer, done: (ws: WsSocket) => void): void;
  close(): void;
}
interface WsModule {
  WebSocketServer: new (options: {
    noServer: true;
    handleProtocols: (protocols: Set<string>) => string | false;
  }) => WsServer;
}
const { WebSocketServer } = createRequire(import.meta.url)('ws') as WsModule;

export const FAKE_TOKEN = 'fake-token-for-tests';
/** The namespace of the kubeconfig's default context. */
export const FAKE_NAMESPACE = 'data';
/** How long each step of the fake controller takes: only ordering matters, never the time. */
const STEP_MS = 15;

type Stored = V1CronJob | V1Job | V1Pod | CoreV1Event | EventsV1Event;
/** Collections the fake serves; `events.k8s.io` events are kept apart from core ones. */
export type Resource = 'cronjobs' | 'jobs' | 'pods' | 'events' | 'events.k8s.io';

export interface RecordedRequest {
  method: string;
  /** Path and query, as sent. */
  path: string;
  /** The JSON body, parsed; undefined for none. */
  body: unknown;
}

/** How the fake Job controller runs a Job's pod. */
export interface JobScenario {
  /** succeed: Running, logs, exit 0, Complete. fail: exit `exitCode`, Failed. pending: never scheduled. */
  outcome: 'succeed' | 'fail' | 'pending';
  /** Lines the container writes to its log, one per step. */
  logLines?: string[];
  /** Exit code of a failing container (default 1). */
  exitCode?: number;
  /** The Job's Failed condition (default BackoffLimitExceeded). */
  failReason?: string;
  failMessage?: string;
}

/** An RBAC rule the fake's identity lacks: requests needing it get 403. */
export interface Forbidden {
  verb: string;
  /** As RBAC names it: `cronjobs`, `pods/log`, `pods/exec`, `events`. */
  resource: string;
}

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
}

export const UNSCHEDULABLE_MESSAGE =
  '0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.';

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
  add(resource: Resource, object: Stored): void;
  /** Adds routes in front of the built-in ones (see FakeRoute). */
  extend(routes: { http?: FakeRoute; upgrade?: FakeUpgradeRoute }): void;
  get(resource: Resource, namespace: string, name: string): Stored | undefined;
  list(resource: Resource, namespace: string): Stored[];
  close(): Promise<void>;
}

interface Watcher {
  resource: Resource;
  namespace: string;
  matches: (object: Stored) => boolean;
  response: ServerResponse;
}

interface LogFollower {
  response: ServerResponse;
}

interface PodLog {
  text: string;
  done: boolean;
  followers: LogFollower[];
}

function meta(object: Stored): V1ObjectMeta {
  object.metadata ??= {};
  return object.metadata;
}

/** The value at a dotted path of an object (`metadata.name`, `involvedObject.kind`). */
function lookup(object: unknown, path: string): unknown {
  let current: unknown = object;
  for (const key of path.split('.')) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

/** Equality-based selectors, as the API server reads them: `a=b,c==d,e!=f`. */
function selectorMatcher(text: string | null, read: (object: Stored, key: string) => unknown) {
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

function json(value: unknown): string {
  return JSON.stringify(value);
}

/** A deep copy as the wire would carry it (Dates become strings). */
function wire<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

function statusBody(code: number, reason: string, message: string, details?: unknown): V1Status {
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

function sendStatus(response: ServerResponse, code: number, reason: string, message: string): void {
  response.writeHead(code, { 'content-type': 'application/json' });
  response.end(json(statusBody(code, reason, message)));
}

function sendJson(response: ServerResponse, code: number, body: unknown): void {
  response.writeHead(code, { 'content-type': 'application/json' });
  response.end(json(body));
}

const RESOURCE_INFO: Record<Resource, { group: string; kind: string; apiVersion: string }> = {
  cronjobs: { group: 'batch', kind: 'CronJob', apiVersion: 'batch/v1' },
  jobs: { group: 'batch', kind: 'Job', apiVersion: 'batch/v1' },
  pods: { group: '', kind: 'Pod', apiVersion: 'v1' },
  events: { group: '', kind: 'Event', apiVersion: 'v1' },
  'events.k8s.io': { group: 'events.k8s.io', kind: 'Event', apiVersion: 'events.k8s.io/v1' },
};

/** The RBAC resource name of a collection (events.k8s.io events are `events` too). */
function rbacResource(resource: Resource): string {
  return resource === 'events.k8s.io' ? 'events' : resource;
}

/** MicroTime as Kubernetes parses it (RFC 3339 with exactly six fractional digits). */
const MICRO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|[+-]\d\d:\d\d)$/;

export async function startFakeKubeApi(): Promise<FakeKubeApi> {
  const dir = await mkdtemp(join(tmpdir(), 'fake-kube-api-'));
  const objects = new Map<string, { resource: Resource; object: Stored }>();
  const watchers = new Set<Watcher>();
  const logs = new Map<string, PodLog>();
  const timers = new Set<NodeJS.Timeout>();
  const children = new Set<ChildProcess>();
  const sockets = new Set<WsSocket>();
  let resourceVersion = 100;

  const key = (resource: Resource, namespace: string, name: string) => `${resource}/${namespace}/${name}`;
  const later = (ms: number, step: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      step();
    }, ms);
    timers.add(timer);
  };

  /** Stores an object (new or changed) under a new resourceVersion and tells the watchers. */
  const put = (resource: Resource, object: Stored, type?: 'ADDED' | 'MODIFIED'): Stored => {
    const m = meta(object);
    const namespace = m.namespace ?? FAKE_NAMESPACE;
    const name = m.name ?? '';
    const k = key(resource, namespace, name);
    const eventType = type ?? (objects.has(k) ? 'MODIFIED' : 'ADDED');
    m.namespace = namespace;
    m.uid ??= randomUUID();
    m.creationTimestamp ??= new Date();
    m.resourceVersion = String(++resourceVersion);
    const stored = wire(object);
    objects.set(k, { resource, object: stored });
    for (const watcher of watchers) {
      if (
        watcher.resource === resource &&
        watcher.namespace === namespace &&
        !watcher.response.writableEnded &&
        watcher.matches(stored)
      ) {
        watcher.response.write(`${json({ type: eventType, object: stored })}\n`);
      }
    }
    return stored;
  };

  const list = (resource: Resource, namespace: string): Stored[] =>
    [...objects.values()]
      .filter((entry) => entry.resource === resource && entry.object.metadata?.namespace === namespace)
      .map((entry) => entry.object);

  const get = (resource: Resource, namespace: string, name: string): Stored | undefined =>
    objects.get(key(resource, namespace, name))?.object;

  const fake: FakeKubeApi = {
    url: '',
    kubeconfigPath: join(dir, 'kubeconfig'),
    requests: [],
    execs: [],
    scenario: { outcome: 'succeed', logLines: [] },
    forbidden: [],
    execEnv: { PATH: process.env.PATH },
    execProtocols: ['v5.channel.k8s.io', 'v4.channel.k8s.io'],
    add: (resource, object) => {
      put(resource, object);
    },
    extend: () => {},
    get,
    list,
    close: async () => {
      for (const timer of timers) clearTimeout(timer);
      for (const watcher of watchers) watcher.response.end();
      for (const log of logs.values()) for (const follower of log.followers) follower.response.end();
      for (const socket of sockets) socket.terminate();
      for (const child of children) child.kill('SIGKILL');
      wss.close();
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
    resource: Resource | 'pods/log' | 'pods/exec',
    namespace: string,
    name?: string,
  ) => {
    const [base = '', sub] = resource.split('/');
    const group = base in RESOURCE_INFO ? RESOURCE_INFO[base as Resource].group : '';
    const rbac = sub ? resource : rbacResource(resource as Resource);
    const qualified = group ? `${rbacResource(base as Resource)}.${group}` : rbac;
    const user = 'system:serviceaccount:ci:pg-restore-drill-ci';
    const message = `${qualified}${name ? ` "${name}"` : ''} is forbidden: User "${user}" cannot ${verb} resource "${rbacResource(base as Resource)}"${sub ? `/${sub}` : ''} in API group "${group}" in the namespace "${namespace}"`;
    sendStatus(response, 403, 'Forbidden', message);
  };

  // ---- the fake Job controller -------------------------------------------------------------------

  const updatePod = (pod: V1Pod, change: (pod: V1Pod) => void): V1Pod => {
    const current = get('pods', pod.metadata?.namespace ?? '', pod.metadata?.name ?? '') as V1Pod;
    change(current);
    return put('pods', current) as V1Pod;
  };
  const updateJob = (job: V1Job, change: (job: V1Job) => void): void => {
    const current = get('jobs', job.metadata?.namespace ?? '', job.metadata?.name ?? '') as V1Job;
    change(current);
    put('jobs', current);
  };
  const condition = (type: string, reason: string, message: string): V1JobCondition =>
    ({
      type,
      status: 'True',
      reason,
      message,
      lastProbeTime: new Date(),
      lastTransitionTime: new Date(),
    }) as V1JobCondition;

  const runJob = (job: V1Job) => {
    const scenario = { ...fake.scenario };
    const namespace = job.metadata?.namespace ?? '';
    const jobName = job.metadata?.name ?? '';
    const uid = job.metadata?.uid ?? '';
    const template = job.spec?.template;
    const containers: V1Container[] = template?.spec?.containers ?? [];
    const podName = `${jobName}-${randomBytes(3).toString('hex').slice(0, 5)}`;
    const logKey = `${namespace}/${podName}`;
    const created = put('pods', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: podName,
        namespace,
        labels: {
          ...template?.metadata?.labels,
          'batch.kubernetes.io/controller-uid': uid,
          'batch.kubernetes.io/job-name': jobName,
          'controller-uid': uid,
          'job-name': jobName,
        },
        annotations: template?.metadata?.annotations,
        ownerReferences: [
          {
            apiVersion: 'batch/v1',
            kind: 'Job',
            name: jobName,
            uid,
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
      },
      spec: template?.spec,
      status: { phase: 'Pending', qosClass: 'BestEffort' },
    } as V1Pod) as V1Pod;
    updateJob(job, (j) => {
      j.status = { active: 1, ready: 0, startTime: new Date() };
    });

    if (scenario.outcome === 'pending') {
      later(STEP_MS, () => {
        const pod = updatePod(created, (p) => {
          p.status = {
            phase: 'Pending',
            qosClass: 'BestEffort',
            conditions: [
              {
                type: 'PodScheduled',
                status: 'False',
                reason: 'Unschedulable',
                message: UNSCHEDULABLE_MESSAGE,
                lastTransitionTime: new Date(),
              },
            ],
          };
        });
        put('events', {
          apiVersion: 'v1',
          kind: 'Event',
          metadata: { name: `${podName}.${Date.now().toString(16)}`, namespace },
          involvedObject: {
            apiVersion: 'v1',
            kind: 'Pod',
            name: podName,
            namespace,
            uid: pod.metadata?.uid,
          },
          reason: 'FailedScheduling',
          message: UNSCHEDULABLE_MESSAGE,
          type: 'Warning',
          source: { component: 'default-scheduler' },
          firstTimestamp: new Date(),
          lastTimestamp: new Date(),
          count: 1,
        } as CoreV1Event);
      });
      return;
    }

    const exitCode = scenario.outcome === 'succeed' ? 0 : (scenario.exitCode ?? 1);
    const lines = scenario.logLines ?? [];
    const log: PodLog = { text: '', done: false, followers: [] };
    later(STEP_MS, () => {
      logs.set(logKey, log);
      updatePod(created, (p) => {
        p.status = {
          phase: 'Running',
          qosClass: 'BestEffort',
          conditions: ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready'].map((type) => ({
            type,
            status: 'True',
            lastTransitionTime: new Date(),
          })),
          containerStatuses: containers.map(
            (c) =>
              ({
                name: c.name,
                image: c.image ?? '',
                imageID: '',
                ready: true,
                restartCount: 0,
                started: true,
                state: { running: { startedAt: new Date() } },
              }) as V1ContainerStatus,
          ),
        };
      });
      lines.forEach((line, i) => {
        later(STEP_MS * (i + 1), () => {
          log.text += `${line}\n`;
          for (const follower of log.followers) follower.response.write(`${line}\n`);
        });
      });
      later(STEP_MS * (lines.length + 2), () => {
        log.done = true;
        for (const follower of log.followers) follower.response.end();
        log.followers = [];
        updatePod(created, (p) => {
          p.status = {
            ...p.status,
            phase: exitCode === 0 ? 'Succeeded' : 'Failed',
            containerStatuses: containers.map(
              (c) =>
                ({
                  name: c.name,
                  image: c.image ?? '',
                  imageID: '',
                  ready: false,
                  restartCount: 0,
                  started: false,
                  state: {
                    terminated: {
                      exitCode,
                      reason: exitCode === 0 ? 'Completed' : 'Error',
                      startedAt: new Date(),
                      finishedAt: new Date(),
                    },
                  },
                }) as V1ContainerStatus,
            ),
          };
        });
        later(STEP_MS, () =>
          updateJob(job, (j) => {
            if (exitCode === 0) {
              const message = 'Reached expected number of succeeded pods';
              j.status = {
                active: 0,
                ready: 0,
                succeeded: 1,
                startTime: j.status?.startTime,
                completionTime: new Date(),
                conditions: [
                  condition('SuccessCriteriaMet', 'CompletionsReached', message),
                  condition('Complete', 'CompletionsReached', message),
                ],
              };
            } else {
              const reason = scenario.failReason ?? 'BackoffLimitExceeded';
              const message = scenario.failMessage ?? 'Job has reached the specified backoff limit';
              j.status = {
                active: 0,
                ready: 0,
                failed: 1,
                startTime: j.status?.startTime,
                conditions: [
                  condition('FailureTarget', reason, message),
                  condition('Failed', reason, message),
                ],
              };
            }
          }),
        );
      });
    });
  };

  // ---- HTTP --------------------------------------------------------------------------------------

  const readBody = async (request: IncomingMessage): Promise<unknown> => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    if (chunks.length === 0) return undefined;
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  };

  const listOrWatch = (response: ServerResponse, url: URL, resource: Resource, namespace: string) => {
    const watch = url.searchParams.get('watch') === 'true';
    if (forbiddenFor(watch ? 'watch' : 'list', rbacResource(resource))) {
      refuse(response, watch ? 'watch' : 'list', resource, namespace);
      return;
    }
    const labels = selectorMatcher(url.searchParams.get('labelSelector'), (o, k) => o.metadata?.labels?.[k]);
    const fields = selectorMatcher(url.searchParams.get('fieldSelector'), (o, k) => lookup(o, k));
    const matches = (o: Stored) => labels(o) && fields(o);
    const items = list(resource, namespace).filter(matches);
    if (!watch) {
      const info = RESOURCE_INFO[resource];
      sendJson(response, 200, {
        kind: `${info.kind}List`,
        apiVersion: info.apiVersion,
        metadata: { resourceVersion: String(resourceVersion) },
        items,
      });
      return;
    }
    response.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    const from = Number(url.searchParams.get('resourceVersion') || 0);
    // Objects changed after the version asked for; the fake keeps no history, so a watch from an old
    // version gets the current state of what changed since, as ADDED/MODIFIED.
    for (const object of items) {
      if (Number(object.metadata?.resourceVersion) > from) {
        response.write(`${json({ type: from === 0 ? 'ADDED' : 'MODIFIED', object })}\n`);
      }
    }
    const watcher: Watcher = { resource, namespace, matches, response };
    watchers.add(watcher);
    response.on('close', () => watchers.delete(watcher));
  };

  const create = (
    response: ServerResponse,
    resource: Resource,
    namespace: string,
    sent: Stored | undefined,
  ) => {
    // A copy: the recorded request keeps the body exactly as it was sent.
    const body = sent === undefined ? undefined : wire(sent);
    if (forbiddenFor('create', rbacResource(resource))) {
      refuse(response, 'create', resource, namespace);
      return;
    }
    const name = body?.metadata?.name;
    if (!body || !name) {
      sendStatus(response, 422, 'Invalid', `${resource} is invalid: metadata.name: Required value`);
      return;
    }
    if (get(resource, namespace, name)) {
      sendStatus(response, 409, 'AlreadyExists', `${resource} "${name}" already exists`);
      return;
    }
    if (resource === 'events.k8s.io') {
      const event = body as EventsV1Event;
      const eventTime: unknown = event.eventTime;
      if (typeof eventTime !== 'string' || !MICRO_TIME.test(eventTime)) {
        sendStatus(
          response,
          400,
          'BadRequest',
          `Event in version "v1" cannot be handled as a Event: parsing time ${json(eventTime)} as "2006-01-02T15:04:05.000000Z07:00": cannot parse`,
        );
        return;
      }
      const missing = [
        'reportingController',
        'reportingInstance',
        'action',
        'reason',
        'type',
        'regarding',
      ].filter((field) => !lookup(event, field));
      if (missing.length > 0 || Buffer.byteLength(event.note ?? '') > 1024) {
        sendStatus(
          response,
          422,
          'Invalid',
          `Event.events.k8s.io "${name}" is invalid: ${missing.join(', ') || 'note'}`,
        );
        return;
      }
    }
    if (resource === 'jobs') {
      const job = body as V1Job;
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
    const stored = put(resource, { ...body, metadata: { ...body.metadata, namespace } } as Stored, 'ADDED');
    sendJson(response, 201, stored);
    if (resource === 'jobs') runJob(stored as V1Job);
  };

  const podLog = (response: ServerResponse, url: URL, namespace: string, podName: string) => {
    if (forbiddenFor('get', 'pods/log')) {
      refuse(response, 'get', 'pods/log', namespace, podName);
      return;
    }
    const pod = get('pods', namespace, podName) as V1Pod | undefined;
    if (!pod) {
      sendStatus(response, 404, 'NotFound', `pods "${podName}" not found`);
      return;
    }
    const names = (pod.spec?.containers ?? []).map((c) => c.name);
    const container = url.searchParams.get('container') ?? (names.length === 1 ? names[0] : undefined);
    if (!container || !names.includes(container)) {
      sendStatus(
        response,
        400,
        'BadRequest',
        container
          ? `container ${container} is not valid for pod ${podName}`
          : `a container name must be specified for pod ${podName}, choose one of: [${names.join(' ')}]`,
      );
      return;
    }
    const log = logs.get(`${namespace}/${podName}`);
    if (!log) {
      sendStatus(
        response,
        400,
        'BadRequest',
        `container "${container}" in pod "${podName}" is waiting to start: ContainerCreating`,
      );
      return;
    }
    response.writeHead(200, { 'content-type': 'text/plain', 'transfer-encoding': 'chunked' });
    if (log.text) response.write(log.text);
    if (url.searchParams.get('follow') === 'true' && !log.done) {
      const follower = { response };
      log.followers.push(follower);
      response.on('close', () => {
        log.followers = log.followers.filter((f) => f !== follower);
      });
    } else {
      response.end();
    }
  };

  const httpRoutes: FakeRoute[] = [];
  const upgradeRoutes: FakeUpgradeRoute[] = [];
  fake.extend = ({ http, upgrade }) => {
    if (http) httpRoutes.push(http);
    if (upgrade) upgradeRoutes.push(upgrade);
  };

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const withBody = ['POST', 'PUT', 'PATCH'].includes(request.method ?? '');
    const body = withBody ? await readBody(request) : undefined;
    fake.requests.push({ method: request.method ?? 'GET', path: request.url ?? '', body });
    if (request.headers.authorization !== `Bearer ${FAKE_TOKEN}`) {
      sendStatus(response, 401, 'Unauthorized', 'Unauthorized');
      return;
    }
    if (httpRoutes.some((route) => route(request, response, url, body))) return;
    const path = url.pathname;
    const one = (resource: Resource, namespace: string, name: string) => {
      if (forbiddenFor('get', rbacResource(resource))) {
        refuse(response, 'get', resource, namespace, name);
        return;
      }
      const object = get(resource, namespace, name);
      const group = RESOURCE_INFO[resource].group;
      if (object) sendJson(response, 200, object);
      else
        sendStatus(response, 404, 'NotFound', `${resource}${group ? `.${group}` : ''} "${name}" not found`);
    };
    const created = body as Stored | undefined;
    const ns = '/namespaces/([^/]+)';
    const routes: [string, RegExp, (namespace: string, name: string) => void][] = [
      ['GET', new RegExp(`^/apis/batch/v1${ns}/cronjobs/([^/]+)$`), (n, name) => one('cronjobs', n, name)],
      ['POST', new RegExp(`^/apis/batch/v1${ns}/jobs$`), (n) => create(response, 'jobs', n, created)],
      ['GET', new RegExp(`^/apis/batch/v1${ns}/jobs$`), (n) => listOrWatch(response, url, 'jobs', n)],
      ['GET', new RegExp(`^/apis/batch/v1${ns}/jobs/([^/]+)$`), (n, name) => one('jobs', n, name)],
      ['GET', new RegExp(`^/api/v1${ns}/pods$`), (n) => listOrWatch(response, url, 'pods', n)],
      ['GET', new RegExp(`^/api/v1${ns}/pods/([^/]+)$`), (n, name) => one('pods', n, name)],
      ['GET', new RegExp(`^/api/v1${ns}/pods/([^/]+)/log$`), (n, name) => podLog(response, url, n, name)],
      ['POST', new RegExp(`^/api/v1${ns}/events$`), (n) => create(response, 'events', n, created)],
      ['GET', new RegExp(`^/api/v1${ns}/events$`), (n) => listOrWatch(response, url, 'events', n)],
      [
        'POST',
        new RegExp(`^/apis/events.k8s.io/v1${ns}/events$`),
        (n) => create(response, 'events.k8s.io', n, created),
      ],
    ];
    for (const [method, pattern, serve] of routes) {
      const match = pattern.exec(path);
      if (match && request.method === method) {
        serve(match[1] ?? '', match[2] ?? '');
        return;
      }
    }
    sendStatus(response, 404, 'NotFound', 'the server could not find the requested resource');
  };

  // ---- exec --------------------------------------------------------------------------------------

  const wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (offered) => fake.execProtocols.find((p) => offered.has(p)) ?? false,
  });

  const rejectUpgrade = (socket: Duplex, code: number, reason: string, message: string) => {
    const body = json(statusBody(code, reason, message));
    socket.end(
      `HTTP/1.1 ${code} ${STATUS_CODES[code]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  };

  const exec = (ws: WsSocket, record: ExecRecord, withStdin: boolean) => {
    sockets.add(ws);
    const send = (channel: number, data: Buffer) => {
      if (ws.readyState === 1) ws.send(Buffer.concat([Buffer.of(channel), data]));
    };
    const [program = '', ...args] = record.command;
    const child = spawn(program, args, {
      env: fake.execEnv,
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
      const exitCode = code ?? 128 + (signal ? constants.signals[signal] : 0);
      finish(
        exitCode === 0
          ? ({ metadata: {}, status: 'Success' } as V1Status)
          : ({
              metadata: {},
              status: 'Failure',
              message: `command terminated with non-zero exit code: error executing command [${record.command.join(' ')}], exit code ${exitCode}`,
              reason: 'NonZeroExitCode',
              details: { causes: [{ reason: 'ExitCode', message: String(exitCode) }] },
            } as V1Status),
      );
    });
  };

  const server = createServer((request, response) => {
    handle(request, response).catch((error: Error) => {
      if (!response.headersSent) sendStatus(response, 500, 'InternalError', error.message);
    });
  });
  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    fake.requests.push({ method: request.method ?? 'GET', path: request.url ?? '', body: undefined });
    const match = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/exec$/.exec(url.pathname);
    if (request.headers.authorization !== `Bearer ${FAKE_TOKEN}`) {
      rejectUpgrade(socket, 401, 'Unauthorized', 'Unauthorized');
      return;
    }
    if (upgradeRoutes.some((route) => route(request, socket, head, url))) return;
    if (!match) {
      rejectUpgrade(socket, 404, 'NotFound', 'the server could not find the requested resource');
      return;
    }
    const namespace = match[1] ?? '';
    const podName = match[2] ?? '';
    if (forbiddenFor('create', 'pods/exec')) {
      const user = 'system:serviceaccount:ci:pg-restore-drill-ci';
      rejectUpgrade(
        socket,
        403,
        'Forbidden',
        `pods "${podName}" is forbidden: User "${user}" cannot create resource "pods/exec" in API group "" in the namespace "${namespace}"`,
      );
      return;
    }
    const pod = get('pods', namespace, podName) as V1Pod | undefined;
    if (!pod) {
      rejectUpgrade(socket, 404, 'NotFound', `pods "${podName}" not found`);
      return;
    }
    const container = url.searchParams.get('container') ?? '';
    if (!(pod.spec?.containers ?? []).some((c) => c.name === container)) {
      rejectUpgrade(socket, 400, 'BadRequest', `container ${container} is not valid for pod ${podName}`);
      return;
    }
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
      fake.execs.push(record);
      exec(ws, record, withStdin);
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  fake.url = `http://127.0.0.1:${port}`;
  await writeFile(
    fake.kubeconfigPath,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '  - name: fake',
      '    cluster:',
      `      server: ${fake.url}`,
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
    ].join('\n'),
  );
  return fake;
}
