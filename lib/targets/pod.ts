import { ConfigError, UnsafeTargetError } from '../errors.ts';
import { parsePodRef } from '../exec/pod.ts';
import { loadKubeConfig } from '../k8s/kube-config.ts';
import { connectionFromUrl } from '../pg/connection.ts';
import { takeDrillLock } from '../pg/drill-lock.ts';
import type { Target } from './target.ts';
import { attachUrlTarget } from './url.ts';

/**
 * `--target pod`: the operator's live database pod. The tools run inside it (exec API, the backup
 * streamed in), the checks connect with --database-url / PG*. It is production: never scratch, canary
 * modes only.
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
    const { namespace } = loadKubeConfig({
      env: deps.env,
      kubeconfig,
      context,
      namespace: options.namespace,
    });
    const pod = { ...parsePodRef(options.pod, namespace, options.podContainer), kubeconfig, context };
    const connection = connectionFromUrl(options.databaseUrl, deps.env);
    const attached = await attachUrlTarget(connection, { kind: 'pod', ...pod }, false);
    const release = await takeDrillLock(connection, deps.runId);
    return {
      handle: {
        ...attached.handle,
        kind: 'pod',
        description: `pod ${pod.namespace}/${pod.name} (${attached.handle.description})`,
      },
      stop: release,
      keep: attached.keep,
    };
  },
};
