/**
 * ConfigMaps for the fake Kubernetes API (test/support/fake-kube-api.ts), added through
 * `fake.extend({ http })`: get, create, merge patch and replace of `/api/v1/namespaces/NS/configmaps/NAME`
 * with resourceVersions as the API server keeps them. A PATCH or PUT whose body carries a resourceVersion
 * other than the stored one is refused 409 Conflict (optimistic concurrency), a create of an existing
 * name 409 AlreadyExists; `fake.forbidden` rules on `configmaps` give 403. A test can slip a write of
 * another drill in just before the next write (`interleave`), or make the API never answer (`hang`).
 */
import type { ServerResponse } from 'node:http';
import type { V1ConfigMap } from '@kubernetes/client-node';
import type { FakeKubeApi } from './fake-kube-api.ts';

export interface FakeConfigMaps {
  get(namespace: string, name: string): V1ConfigMap | undefined;
  put(configMap: V1ConfigMap): V1ConfigMap;
  /** Run once, just before the next PATCH or PUT is judged: another writer's change (makes it stale). */
  interleave: ((maps: FakeConfigMaps) => void) | undefined;
  /** Requests to configmaps are taken and never answered (each is ended when the fake closes). */
  hang: boolean;
  /** The verbs served, in order, as RBAC names them (get, create, patch, update) with their status. */
  served: { verb: string; name: string; status: number }[];
}

const PATH = /^\/api\/v1\/namespaces\/([^/]+)\/configmaps(?:\/([^/]+))?$/;
const VERBS: Record<string, string> = { GET: 'get', POST: 'create', PATCH: 'patch', PUT: 'update' };

export function serveConfigMaps(fake: FakeKubeApi): FakeConfigMaps {
  const store = new Map<string, V1ConfigMap>();
  const hanging = new Set<ServerResponse>();
  let version = 5000;
  const key = (namespace: string, name: string) => `${namespace}/${name}`;
  const maps: FakeConfigMaps = {
    get: (namespace, name) => clone(store.get(key(namespace, name))),
    put: (configMap) => {
      const metadata = { ...configMap.metadata, resourceVersion: String(++version) };
      metadata.namespace ??= 'data';
      const stored = { apiVersion: 'v1', kind: 'ConfigMap', ...configMap, metadata };
      store.set(key(metadata.namespace, metadata.name ?? ''), clone(stored) as V1ConfigMap);
      return clone(stored) as V1ConfigMap;
    },
    interleave: undefined,
    hang: false,
    served: [],
  };
  fake.extend({
    http: (request, response, url, body) => {
      const match = PATH.exec(url.pathname);
      const verb = VERBS[request.method ?? ''];
      if (!match || !verb) return false;
      if (maps.hang) {
        hanging.add(response);
        return true;
      }
      const [, namespace = '', name = ''] = match;
      const answer = (status: number, payload: unknown) => {
        maps.served.push({ verb, name: name || ((body as V1ConfigMap)?.metadata?.name ?? ''), status });
        response.writeHead(status, { 'content-type': 'application/json' });
        response.end(JSON.stringify(payload));
      };
      if (fake.forbidden.some((rule) => rule.verb === verb && rule.resource === 'configmaps')) {
        answer(403, status(403, 'Forbidden', forbiddenMessage(verb, namespace, name)));
        return true;
      }
      serve(maps, store, key, { verb, namespace, name, body, answer });
      return true;
    },
  });
  const close = fake.close;
  fake.close = async () => {
    for (const response of hanging) response.destroy();
    await close();
  };
  return maps;
}

interface Call {
  verb: string;
  namespace: string;
  name: string;
  body: unknown;
  answer: (status: number, payload: unknown) => void;
}

function serve(
  maps: FakeConfigMaps,
  store: Map<string, V1ConfigMap>,
  key: (namespace: string, name: string) => string,
  { verb, namespace, name, body, answer }: Call,
): void {
  const sent = (body ?? {}) as V1ConfigMap;
  if (verb === 'create') {
    const newName = sent.metadata?.name ?? '';
    if (store.has(key(namespace, newName))) {
      answer(409, status(409, 'AlreadyExists', `configmaps "${newName}" already exists`));
      return;
    }
    answer(201, maps.put({ ...sent, metadata: { ...sent.metadata, namespace } }));
    return;
  }
  const notFound = () => answer(404, status(404, 'NotFound', `configmaps "${name}" not found`));
  if (verb === 'get') {
    const found = maps.get(namespace, name);
    if (found) answer(200, found);
    else notFound();
    return;
  }
  const interleave = maps.interleave;
  maps.interleave = undefined;
  interleave?.(maps);
  const current = store.get(key(namespace, name));
  if (!current) {
    notFound();
    return;
  }
  const asked = sent.metadata?.resourceVersion;
  if (asked !== undefined && asked !== current.metadata?.resourceVersion) {
    answer(
      409,
      status(
        409,
        'Conflict',
        `Operation cannot be fulfilled on configmaps "${name}": the object has been modified; please apply your changes to the latest version and try again`,
      ),
    );
    return;
  }
  const next: V1ConfigMap =
    verb === 'patch'
      ? { ...current, data: mergeData(current.data, sent.data), metadata: { ...current.metadata } }
      : { ...sent, metadata: { ...sent.metadata, namespace, name } };
  answer(200, maps.put(next));
}

/** A JSON merge patch of `data`: keys set to null are removed. */
function mergeData(
  current: Record<string, string> | undefined,
  patch: Record<string, string | null> | undefined,
): Record<string, string> {
  const data: Record<string, string> = { ...current };
  for (const [k, v] of Object.entries(patch ?? {})) {
    if (v === null) delete data[k];
    else data[k] = v;
  }
  return data;
}

function status(code: number, reason: string, message: string) {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

function forbiddenMessage(verb: string, namespace: string, name: string): string {
  const user = 'system:serviceaccount:data:pg-restore-drill';
  return `configmaps${name ? ` "${name}"` : ''} is forbidden: User "${user}" cannot ${verb} resource "configmaps" in API group "" in the namespace "${namespace}"`;
}

function clone<T>(value: T): T {
  return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}
