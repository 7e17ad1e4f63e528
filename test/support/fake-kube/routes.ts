/**
 * Routes tests add to the fake with `fake.extend(...)`: an endpoint that accepts a request and never
 * answers (a NetworkPolicy that drops the traffic looks the same from the client, minus the connect).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FakeKubeApi } from './server.ts';

export interface SilentRoute {
  /** The requests it took and left unanswered, with what `onRequest` returned for each. */
  taken: { method: string; path: string; note: unknown }[];
}

/**
 * Makes `method path` (the path without query, matched whole) accept every request and never answer;
 * `onRequest` runs as each arrives (e.g. to look at what the client had done by then).
 */
export function neverAnswer(
  fake: FakeKubeApi,
  method: string,
  path: RegExp,
  onRequest: (request: IncomingMessage) => unknown = () => undefined,
): SilentRoute {
  const route: SilentRoute = { taken: [] };
  const open = new Set<ServerResponse>();
  fake.extend({
    http: (request, response, url) => {
      if (request.method !== method || !path.test(url.pathname)) return false;
      route.taken.push({ method, path: url.pathname, note: onRequest(request) });
      open.add(response);
      response.on('close', () => open.delete(response));
      return true;
    },
  });
  return route;
}
