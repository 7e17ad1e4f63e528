import {
  type ConfigurationOptions,
  CoreV1Api,
  type KubeConfig,
  PatchStrategy,
  setHeaderMiddleware,
  type V1ConfigMap,
} from '@kubernetes/client-node';
import { DrillError } from '../errors.ts';
import type { HistoryEntry } from '../report/history.ts';
import { httpStatusOf } from './api-errors.ts';
import { boundedCall } from './calls.ts';
import { KubeForbiddenError, KubeTimeoutError } from './errors.ts';

/** The ConfigMap the cluster's drills keep their history in (k8s/base/history-configmap.yaml ships it empty). */
export const HISTORY_CONFIGMAP = 'pg-restore-drill-history';
/** Its key: one JSON entry a line, in the order drills appended them, as the local history.jsonl. */
export const HISTORY_KEY = 'history.jsonl';
/**
 * The newest entries kept. An entry is about 300 bytes, so 500 are ~150 KiB: far from the 1 MiB a
 * ConfigMap may hold, and years of quarterly (or months of daily) drills.
 */
export const HISTORY_MAX_ENTRIES = 500;
/** Writers racing on the ConfigMap: a 409 (its resourceVersion moved on) re-reads and tries again. */
const MAX_ATTEMPTS = 5;

/** The history ConfigMap could not be read or written. */
export class HistoryConfigMapError extends DrillError {
  static override readonly code = 'DRILL_HISTORY_CONFIGMAP';
  override readonly exitCode = 2;
}

export interface HistoryConfigMapOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  /** The ConfigMap (--history-configmap, default HISTORY_CONFIGMAP: a fleet's sets each have their own). */
  name: string;
  /** Each call's deadline (default KUBE_CALL_TIMEOUT_MS); once one has run out the calls after it are skipped. */
  timeoutMs?: number;
  /** Default HISTORY_MAX_ENTRIES. */
  maxEntries?: number;
}

/** The calls made, in RBAC verbs: what a test and the Role can be checked against. */
export interface HistoryWrite {
  entries: number;
  calls: ('get' | 'create' | 'patch')[];
}

/**
 * Appends `entry` to the ConfigMap: get it, then a merge patch carrying the resourceVersion read (the
 * API server refuses it with 409 when another drill wrote in between: read again and retry), keeping
 * the newest `maxEntries`; when it is absent, create it (409 AlreadyExists: another drill just did,
 * retry). Verbs: get, patch, and create only when it does not exist.
 */
export async function appendHistoryConfigMap(
  options: HistoryConfigMapOptions,
  entry: HistoryEntry,
): Promise<HistoryWrite> {
  const api = options.kubeConfig.makeApiClient(CoreV1Api);
  const { namespace } = options;
  const calls: HistoryWrite['calls'] = [];
  const call = deadlineCalls(options);
  const line = JSON.stringify(entry);
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    calls.push('get');
    const current = await call(
      'get',
      (o) => api.readNamespacedConfigMap({ name: options.name, namespace }, o),
      [404],
    );
    if (!current) {
      calls.push('create');
      const body: V1ConfigMap = {
        metadata: { name: options.name, labels: LABELS },
        data: { [HISTORY_KEY]: `${line}\n` },
      };
      const create = (o: ConfigurationOptions) => api.createNamespacedConfigMap({ namespace, body }, o);
      if (
        await call('create', create, [409]).catch((error: unknown) => absent(error, namespace, options.name))
      )
        return { entries: 1, calls };
      continue;
    }
    const lines = keepNewest(
      current.data?.[HISTORY_KEY] ?? '',
      line,
      options.maxEntries ?? HISTORY_MAX_ENTRIES,
    );
    const body = {
      metadata: { resourceVersion: current.metadata?.resourceVersion },
      data: { [HISTORY_KEY]: `${lines.join('\n')}\n` },
    };
    calls.push('patch');
    const patch = (o: ConfigurationOptions) =>
      api.patchNamespacedConfigMap({ name: options.name, namespace, body }, o);
    if (await call('patch', patch, [409], PatchStrategy.MergePatch)) return { entries: lines.length, calls };
  }
  throw new HistoryConfigMapError(
    `Could not add to configmap ${options.name} in ${namespace}: other writers changed it ${MAX_ATTEMPTS} times in a row.`,
  );
}

/** The ConfigMap's history text, or undefined when there is no ConfigMap (no drill has recorded yet). */
export async function readHistoryConfigMap(options: HistoryConfigMapOptions): Promise<string | undefined> {
  const api = options.kubeConfig.makeApiClient(CoreV1Api);
  const call = deadlineCalls(options);
  const found = await call(
    'get',
    (o) => api.readNamespacedConfigMap({ name: options.name, namespace: options.namespace }, o),
    [404],
  );
  return found ? (found.data?.[HISTORY_KEY] ?? '') : undefined;
}

/** A create the Role may not make: the ConfigMap is missing, and the manifest that ships it says how. */
function absent(error: unknown, namespace: string, name: string): never {
  if (!(error instanceof KubeForbiddenError)) throw error;
  throw new HistoryConfigMapError(
    `configmap ${name} does not exist in ${namespace}, and the drill's Role may not create it (it needs only get and patch once it exists): apply it with kubectl apply -k k8s/ (k8s/base/history-configmap.yaml). ${error.message}`,
    { cause: error },
  );
}

const LABELS = { 'app.kubernetes.io/name': 'pg-restore-drill', 'app.kubernetes.io/component': 'history' };

/** The existing lines and the new one, the oldest dropped beyond `max`. */
function keepNewest(text: string, line: string, max: number): string[] {
  const lines = [...text.split('\n').filter((l) => l.trim() !== ''), line];
  return lines.slice(Math.max(0, lines.length - max));
}

type Verb = 'get' | 'create' | 'patch';

/**
 * Runs API calls each bounded (boundedCall: KUBE_CALL_TIMEOUT_MS unless told). A call answered with a
 * status in `expected` resolves to undefined (404 absent, 409 raced); any other error is the operator's
 * error naming the verb. After a call has timed out, later calls are skipped: the API is not answering.
 */
function deadlineCalls(options: HistoryConfigMapOptions) {
  const { name } = options;
  let timedOut = false;
  return async <T>(
    verb: Verb,
    run: (o: ConfigurationOptions) => Promise<T>,
    expected: number[],
    contentType?: string,
  ): Promise<T | undefined> => {
    const action = { verb, resource: 'configmaps', group: '', namespace: options.namespace, name };
    if (timedOut)
      throw new HistoryConfigMapError(
        `Skipped: ${verb} configmap ${name} after an earlier call got no answer.`,
      );
    try {
      return await boundedCall(action, (o) => run(withContentType(o, contentType)), {
        timeoutMs: options.timeoutMs,
      });
    } catch (error) {
      if (expected.includes(httpStatusOf(error) ?? 0)) return undefined;
      if (error instanceof KubeTimeoutError) {
        timedOut = true;
        throw new HistoryConfigMapError(error.message, { cause: error });
      }
      throw error;
    }
  };
}

/** boundedCall's options with the request's header: a patch's Content-Type, else Accept JSON. */
function withContentType(options: ConfigurationOptions, contentType?: string): ConfigurationOptions {
  const header = contentType
    ? setHeaderMiddleware('Content-Type', contentType)
    : setHeaderMiddleware('Accept', 'application/json');
  return { ...options, middleware: [...(options.middleware ?? []), header] };
}
