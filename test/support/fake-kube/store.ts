/**
 * The fake's object store and its watches, as the API server's watch cache behaves: every change gets
 * the next resourceVersion and goes into a history; a watch from a resourceVersion replays the history
 * after it, then follows; a version older than the history (after `compact()`) gets an `ERROR` event
 * with a 410 Gone Status, and a list with a stale `continue` a 410. Watches send BOOKMARK events when
 * asked (allowWatchBookmarks), end after `timeoutSeconds` (or the fake's own watch timeout), and can
 * be cut without a goodbye, as a load balancer's idle timeout does.
 */
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import {
  json,
  lookup,
  meta,
  RESOURCE_INFO,
  type Resource,
  type Stored,
  selectorMatcher,
  sendJson,
  sendStatus,
  startStream,
  statusBody,
  wire,
} from './wire.ts';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

interface Change {
  resourceVersion: number;
  type: WatchEventType;
  resource: Resource;
  object: Stored;
}

interface Watcher {
  resource: Resource;
  namespace: string;
  matches: (object: Stored) => boolean;
  response: ServerResponse;
  bookmarks: boolean;
  timer: NodeJS.Timeout | undefined;
  ticker: NodeJS.Timeout | undefined;
}

/** How the store's watches behave; tests change these on the fake. */
export interface WatchSettings {
  /** The server ends every watch after this long (real servers: minRequestTimeout, 30-60 min). */
  watchTimeoutMs: number | undefined;
  /** A BOOKMARK every this often on watches that allow them (real servers: about a minute). */
  bookmarkIntervalMs: number | undefined;
}

export interface Store {
  readonly settings: WatchSettings;
  /** The newest resourceVersion. */
  version(): number;
  put(resource: Resource, object: Stored, type?: 'ADDED' | 'MODIFIED'): Stored;
  /** Deletes an object: a DELETED event carrying its last state under a new resourceVersion. */
  remove(resource: Resource, namespace: string, name: string): Stored | undefined;
  get(resource: Resource, namespace: string, name: string): Stored | undefined;
  list(resource: Resource, namespace: string): Stored[];
  /** Forgets the history up to now: a watch or continue from an older version gets 410 Gone. */
  compact(): void;
  /** Ends every open watch abruptly (the connection reset, no last chunk), as an idle-timeout cut does. */
  cutWatches(): void;
  /** Serves a list (with limit/continue) or a watch of a collection. */
  listOrWatch(response: ServerResponse, url: URL, resource: Resource, namespace: string): void;
  close(): void;
}

const key = (resource: Resource, namespace: string, name: string) => `${resource}/${namespace}/${name}`;

export function createStore(defaultNamespace: string): Store {
  const objects = new Map<string, { resource: Resource; object: Stored }>();
  const history: Change[] = [];
  const watchers = new Set<Watcher>();
  const settings: WatchSettings = { watchTimeoutMs: undefined, bookmarkIntervalMs: undefined };
  let resourceVersion = 100;
  let compactedAt = 0;

  const send = (watcher: Watcher, type: string, object: unknown) => {
    if (!watcher.response.writableEnded && !watcher.response.destroyed)
      watcher.response.write(`${json({ type, object })}\n`);
  };
  const bookmark = (watcher: Watcher) => {
    const info = RESOURCE_INFO[watcher.resource];
    send(watcher, 'BOOKMARK', {
      kind: info.kind,
      apiVersion: info.apiVersion,
      metadata: { resourceVersion: String(resourceVersion) },
    });
  };
  const record = (change: Change) => {
    history.push(change);
    const namespace = change.object.metadata?.namespace;
    for (const watcher of watchers) {
      if (
        watcher.resource === change.resource &&
        watcher.namespace === namespace &&
        watcher.matches(change.object)
      )
        send(watcher, change.type, change.object);
    }
  };
  const stopWatcher = (watcher: Watcher) => {
    clearTimeout(watcher.timer);
    clearInterval(watcher.ticker);
    watchers.delete(watcher);
  };

  const store: Store = {
    settings,
    version: () => resourceVersion,
    put(resource, object, type) {
      const m = meta(object);
      const namespace = m.namespace ?? defaultNamespace;
      const k = key(resource, namespace, m.name ?? '');
      m.namespace = namespace;
      m.uid ??= randomUUID();
      m.creationTimestamp ??= new Date();
      m.resourceVersion = String(++resourceVersion);
      const stored = wire(object);
      const eventType = type ?? (objects.has(k) ? 'MODIFIED' : 'ADDED');
      objects.set(k, { resource, object: stored });
      record({ resourceVersion, type: eventType, resource, object: stored });
      return stored;
    },
    remove(resource, namespace, name) {
      const entry = objects.get(key(resource, namespace, name));
      if (!entry) return undefined;
      objects.delete(key(resource, namespace, name));
      const last = wire(entry.object);
      meta(last).resourceVersion = String(++resourceVersion);
      record({ resourceVersion, type: 'DELETED', resource, object: last });
      return last;
    },
    get: (resource, namespace, name) => objects.get(key(resource, namespace, name))?.object,
    list: (resource, namespace) =>
      [...objects.values()]
        .filter((entry) => entry.resource === resource && entry.object.metadata?.namespace === namespace)
        .map((entry) => entry.object),
    compact: () => {
      compactedAt = resourceVersion;
      history.length = 0;
    },
    cutWatches: () => {
      for (const watcher of [...watchers]) {
        stopWatcher(watcher);
        watcher.response.socket?.destroy();
      }
    },
    listOrWatch(response, url, resource, namespace) {
      const labels = selectorMatcher(
        url.searchParams.get('labelSelector'),
        (o, k) => o.metadata?.labels?.[k],
      );
      const fields = selectorMatcher(url.searchParams.get('fieldSelector'), (o, k) => lookup(o, k));
      const matches = (o: Stored) => labels(o) && fields(o);
      if (url.searchParams.get('watch') === 'true') watch(response, url, resource, namespace, matches);
      else listPage(response, url, resource, namespace, matches);
    },
    close: () => {
      for (const watcher of [...watchers]) {
        stopWatcher(watcher);
        watcher.response.end();
      }
    },
  };

  /** A list, in pages when `limit` is set: the continue token holds the version the list was read at. */
  const listPage = (
    response: ServerResponse,
    url: URL,
    resource: Resource,
    namespace: string,
    matches: (o: Stored) => boolean,
  ) => {
    const info = RESOURCE_INFO[resource];
    const token = url.searchParams.get('continue');
    let at = resourceVersion;
    let offset = 0;
    if (token) {
      const parsed = JSON.parse(Buffer.from(token, 'base64').toString()) as { rv: number; offset: number };
      if (parsed.rv < compactedAt) {
        sendStatus(
          response,
          410,
          'Expired',
          'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.',
        );
        return;
      }
      at = parsed.rv;
      offset = parsed.offset;
    }
    const all = store.list(resource, namespace).filter(matches);
    const limit = Number(url.searchParams.get('limit') || 0);
    const items = limit > 0 ? all.slice(offset, offset + limit) : all.slice(offset);
    const more = limit > 0 && offset + limit < all.length;
    sendJson(response, 200, {
      kind: `${info.kind}List`,
      apiVersion: info.apiVersion,
      metadata: {
        resourceVersion: String(at),
        ...(more
          ? { continue: Buffer.from(json({ rv: at, offset: offset + limit })).toString('base64') }
          : {}),
      },
      items,
    });
  };

  const watch = (
    response: ServerResponse,
    url: URL,
    resource: Resource,
    namespace: string,
    matches: (o: Stored) => boolean,
  ) => {
    startStream(response, 'application/json');
    const from = url.searchParams.get('resourceVersion');
    const watcher: Watcher = {
      resource,
      namespace,
      matches,
      response,
      bookmarks: url.searchParams.get('allowWatchBookmarks') === 'true',
      timer: undefined,
      ticker: undefined,
    };
    if (from && Number(from) < compactedAt) {
      // As the watch cache answers a version it no longer holds: 200, then an ERROR event, then the end.
      const message = `too old resource version: ${from} (${compactedAt})`;
      response.end(`${json({ type: 'ERROR', object: statusBody(410, 'Expired', message) })}\n`);
      return;
    }
    if (!from || from === '0') {
      // No version: the current state as ADDED events, then changes.
      for (const object of store.list(resource, namespace).filter(matches)) send(watcher, 'ADDED', object);
    } else {
      for (const change of history) {
        if (
          change.resourceVersion > Number(from) &&
          change.resource === resource &&
          change.object.metadata?.namespace === namespace &&
          matches(change.object)
        )
          send(watcher, change.type, change.object);
      }
    }
    watchers.add(watcher);
    response.on('close', () => stopWatcher(watcher));
    const requested = Number(url.searchParams.get('timeoutSeconds') || 0) * 1000;
    const timeout = [requested || undefined, settings.watchTimeoutMs].filter((t) => t !== undefined);
    if (timeout.length > 0) {
      watcher.timer = setTimeout(
        () => {
          // The server ends a watch cleanly at its timeout, with a bookmark first when they are allowed.
          if (watcher.bookmarks) bookmark(watcher);
          stopWatcher(watcher);
          response.end();
        },
        Math.min(...(timeout as number[])),
      );
    }
    if (watcher.bookmarks && settings.bookmarkIntervalMs !== undefined)
      watcher.ticker = setInterval(() => bookmark(watcher), settings.bookmarkIntervalMs);
  };

  return store;
}
