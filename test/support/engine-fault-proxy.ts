import { createServer, request } from 'node:http';
import { join } from 'node:path';

/** The engine's API socket as DOCKER_HOST names it (unix://PATH), or undefined for any other kind. */
export function engineSocket(dockerHost = process.env.DOCKER_HOST): string | undefined {
  return dockerHost?.startsWith('unix://') ? dockerHost.slice('unix://'.length) : undefined;
}

/**
 * A unix socket in `dir` in front of the real engine's API socket: every request is passed through,
 * except that starting a container (`POST /…/containers/ID/start`) is answered 500, as an engine whose
 * runtime fails does. The container is made, really, and never runs. With `silentAfterStart`, every
 * request after the failed start is accepted and never answered.
 */
export async function engineFailingStarts(
  upstream: string,
  dir: string,
  options: { silentAfterStart?: boolean } = {},
): Promise<{ dockerHost: string; starts: () => number; close: () => Promise<void> }> {
  let starts = 0;
  const server = createServer((req, res) => {
    if (starts > 0 && options.silentAfterStart) return;
    if (req.method === 'POST' && /\/containers\/[^/]+\/start(\?|$)/.test(req.url ?? '')) {
      starts++;
      req.resume();
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: 'injected: the runtime could not start the container' }));
      return;
    }
    const forward = request(
      { socketPath: upstream, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', (error) => res.destroy(error));
    req.pipe(forward);
  });
  const path = join(dir, 'engine.sock');
  await new Promise<void>((done) => server.listen(path, done));
  return {
    dockerHost: `unix://${path}`,
    starts: () => starts,
    close: () =>
      new Promise((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}
