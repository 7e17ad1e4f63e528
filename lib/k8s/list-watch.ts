import { type KubeConfig, Watch } from '@kubernetes/client-node';
import { httpStatusOf } from './api-errors.ts';
import type { Clock } from './clock.ts';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

interface Versioned {
  metadata?: { resourceVersion?: string; name?: string; namespace?: string };
}

export interface ListWatchOptions<T> {
  kubeConfig: KubeConfig;
  /** The collection's path, e.g. `/apis/batch/v1/namespaces/data/jobs`. */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** The same collection, listed with the same selectors (a typed client-node call). */
  list(): Promise<{ items: T[]; metadata?: { resourceVersion?: string } }>;
  /** Every state of every object seen: listed ones as ADDED, then the watch's events. */
  onEvent(type: WatchEventType, object: T): void;
  signal: AbortSignal;
  clock: Clock;
}

/** Longest pause between two attempts when the watch keeps failing. */
const MAX_BACKOFF_MS = 10_000;

/**
 * Lists a collection, then watches it from the list's resourceVersion until `signal` aborts, as an
 * informer does: a watch the server ends (they all do, after minutes) or a connection that breaks (a
 * load balancer's idle cut) is resumed from the last version seen, BOOKMARKs included; a 410 Gone (that
 * version expired) or an error status (429, 5xx) starts over with a fresh list (itself asked again on
 * 429 / 5xx by the caller's `list`). Rejects with the list's error, or with a watch's when the server
 * refuses it (4xx: forbidden, not found).
 *
 * Watched objects arrive as plain JSON, listed ones as client-node models: callers read fields both share.
 */
export async function listAndWatch<T extends Versioned>(options: ListWatchOptions<T>): Promise<void> {
  const { signal } = options;
  let resourceVersion: string | undefined;
  let failures = 0;
  // The last state of every object seen, so a relist can tell what was deleted while we were not watching.
  const known = new Map<string, T>();
  const onEvent = (type: WatchEventType, object: T) => {
    if (type === 'DELETED') known.delete(keyOf(object));
    else known.set(keyOf(object), object);
    options.onEvent(type, object);
  };
  while (!signal.aborted) {
    if (resourceVersion === undefined) {
      const list = await options.list();
      if (signal.aborted) return;
      resourceVersion = list.metadata?.resourceVersion ?? '';
      relisted(list.items, known, onEvent);
    }
    const ended = await watchOnce({ ...options, onEvent }, resourceVersion);
    if (signal.aborted) return;
    resourceVersion = ended.resourceVersion;
    if (ended.gone) {
      resourceVersion = undefined;
      continue;
    }
    const status = ended.error === undefined ? undefined : httpStatusOf(ended.error);
    if (status !== undefined) {
      if (status >= 400 && status < 500 && status !== 410 && status !== 429) throw ended.error;
      resourceVersion = undefined;
    }
    // A watch that brought nothing (not even a bookmark) before it ended or failed is retried after a
    // growing pause, so a server that closes at once is not hammered; one that worked is resumed at once.
    if (status !== undefined || ended.events === 0) {
      failures++;
      await options.clock
        .sleep(Math.min(250 * 2 ** (failures - 1), MAX_BACKOFF_MS), signal)
        .catch(() => undefined);
    } else {
      failures = 0;
    }
  }
}

function keyOf(object: Versioned): string {
  return `${object.metadata?.namespace ?? ''}/${object.metadata?.name ?? ''}`;
}

/**
 * A (re)list's items as ADDED; an object seen before and missing from it was deleted while we were
 * not watching (its DELETED event fell in a gap, e.g. the one a 410 Gone stands for): it is reported
 * DELETED with the last state seen, as an informer does.
 */
function relisted<T extends Versioned>(
  items: T[],
  known: Map<string, T>,
  onEvent: (type: WatchEventType, object: T) => void,
): void {
  const listed = new Set(items.map(keyOf));
  for (const [key, object] of [...known]) if (!listed.has(key)) onEvent('DELETED', object);
  for (const item of items) onEvent('ADDED', item);
}

interface WatchEnd {
  resourceVersion: string;
  gone: boolean;
  error: unknown;
  /** Events and bookmarks received: the watch was alive. */
  events: number;
}

function watchOnce<T extends Versioned>(options: ListWatchOptions<T>, from: string): Promise<WatchEnd> {
  const { signal } = options;
  const end: WatchEnd = { resourceVersion: from, gone: false, error: undefined, events: 0 };
  return new Promise((resolve) => {
    let request: AbortController | undefined;
    const onAbort = () => request?.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    const finish = (error: unknown) => {
      signal.removeEventListener('abort', onAbort);
      if (end.error === undefined && error !== null && error !== undefined) end.error = error;
      resolve(end);
    };
    const query: Record<string, string | boolean | undefined> = {
      resourceVersion: from || undefined,
      allowWatchBookmarks: true,
      labelSelector: options.labelSelector,
      fieldSelector: options.fieldSelector,
    };
    new Watch(options.kubeConfig)
      .watch(
        options.path,
        query,
        (type: string, object: unknown) => {
          if (type === 'ERROR') {
            // A Status object: 410 means our resourceVersion is too old, anything else ends this watch.
            const code = (object as { code?: unknown } | null)?.code;
            if (code === 410) end.gone = true;
            else
              end.error = Object.assign(new Error(`watch of ${options.path} failed`), { statusCode: code });
            request?.abort();
            return;
          }
          const version = (object as Versioned | null)?.metadata?.resourceVersion;
          if (version) end.resourceVersion = version;
          if (type === 'BOOKMARK') end.events++;
          if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') {
            end.events++;
            options.onEvent(type, object as T);
          }
        },
        finish,
      )
      .then((controller) => {
        request = controller;
        if (signal.aborted) controller.abort();
      }, finish);
  });
}
