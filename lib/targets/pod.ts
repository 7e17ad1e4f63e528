import { ConfigError, UnsafeTargetError } from '../errors.ts';
import { type PodRef, parsePodRef } from '../exec/pod.ts';
import { loadKubeConfig } from '../k8s/kube-config.ts';
import { type OpenPortForward, openPortForward, PortForwardError } from '../k8s/port-forward.ts';
import type { Logger } from '../log.ts';
import { type Connection, connectionFromUrl } from '../pg/connection.ts';
import { takeDrillLock } from '../pg/drill-lock.ts';
import type { StartedTarget, Target, TargetDeps, TargetOptions } from './target.ts';
import { attachUrlTarget } from './url.ts';

/**
 * `--target pod`: the operator's live database pod. The tools run inside it (exec API, the backup
 * streamed in); the checks connect with --database-url when given, else through the drill's own
 * port-forward to the pod (as `kubectl port-forward` would), closed when the drill ends. It is
 * production: never scratch, canary modes only.
 */
export const podTarget: Target = {
  kind: 'pod',
  async start(options, deps) {
    if (!options.pod)
      throw new ConfigError(
        'pod',
        '--target pod needs --pod NAMESPACE/POD (e.g. data/postgres-postgresql-0).',
      );
    if (options.mode === 'cluster' && !options.table) {
      throw new UnsafeTargetError(
        `Refusing --mode cluster on --target pod: ${options.pod} is a live server, and a whole pg_dumpall would rewrite its roles and every database. Use --mode canary or --mode canary-copy.`,
      );
    }
    const { kubeconfig, context } = options;
    const { kubeConfig, namespace } = loadKubeConfig({
      env: deps.env,
      kubeconfig,
      context,
      namespace: options.namespace,
    });
    const pod = { ...parsePodRef(options.pod, namespace, options.podContainer), kubeconfig, context };
    const forward =
      options.databaseUrl === undefined
        ? await openPortForward({
            kubeConfig,
            namespace: pod.namespace,
            pod: pod.name,
            port: options.podPort,
            log: deps.log,
          })
        : undefined;
    try {
      return await attachPod(options, deps, pod, forward);
    } catch (error) {
      await forward?.close();
      throw forwardFailure(forward, error);
    }
  },
};

/** Attaches to the pod's server (directly or through the forward) and takes the drill lock on it. */
async function attachPod(
  options: TargetOptions,
  deps: TargetDeps,
  pod: PodRef & { kubeconfig?: string; context?: string },
  forward: OpenPortForward | undefined,
): Promise<StartedTarget> {
  const connection = forward
    ? forwardedConnection(forward, deps.env)
    : connectionFromUrl(options.databaseUrl, deps.env);
  // Inside the pod the tools reach the server on its own loopback, at its own port, not the forward's.
  const port = forward ? options.podPort : connection.port;
  const attached = await attachUrlTarget(connection, { kind: 'pod', ...pod, port }, false);
  const release = await takeDrillLock(connection, deps.runId);
  const via = forward
    ? `, checks through the drill's port-forward 127.0.0.1:${forward.localPort} → port ${options.podPort}`
    : '';
  return {
    handle: {
      ...attached.handle,
      kind: 'pod',
      description: `pod ${pod.namespace}/${pod.name} (${attached.handle.description}${via})`,
    },
    stop: async () => {
      await release();
      if (forward) await closeForward(forward, deps.log);
    },
    keep: attached.keep,
  };
}

/**
 * The checks' connection through the forward: 127.0.0.1 at its ephemeral port; the role, password and
 * database from PGUSER, PGPASSWORD (or a pgpass file) and PGDATABASE, libpq's defaults otherwise.
 */
function forwardedConnection(forward: OpenPortForward, env: NodeJS.ProcessEnv): Connection {
  return {
    host: forward.host,
    port: forward.localPort,
    user: env.PGUSER || 'postgres',
    password: env.PGPASSWORD,
    database: env.PGDATABASE || 'postgres',
  };
}

/** Closes the forward; one that broke while in use is a cleanup failure naming the pod and port. */
async function closeForward(forward: OpenPortForward, log: Logger): Promise<void> {
  const breaks = forward.breaks();
  await forward.close();
  log.info(`closed the port-forward to ${forward.where} (${forward.connections()} connection(s) carried)`);
  if (breaks.length > 0) {
    throw new PortForwardError(
      forward.pod,
      forward.port,
      `${breaks.length} break(s) of the port-forward during the drill: ${breaks.join('; ')}`,
    );
  }
}

/** A start that failed because the forward did: that is the error to report, naming the pod and port. */
function forwardFailure(forward: OpenPortForward | undefined, error: unknown): unknown {
  const first = forward?.breaks()[0];
  if (!forward || first === undefined) return error;
  return new PortForwardError(
    forward.pod,
    forward.port,
    `Cannot reach the server of ${forward.where}: ${first}`,
    {
      cause: error,
    },
  );
}
