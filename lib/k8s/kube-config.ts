import { accessSync, readFileSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import { delimiter, join } from 'node:path';
import { type Cluster, type Context, KubeConfig, type User } from '@kubernetes/client-node';
import { KubeConfigError } from './errors.ts';

/** The namespace when neither the flag, the context nor the pod's service account names one. */
export const DEFAULT_NAMESPACE = 'data';
/** Where Kubernetes mounts a pod's service account token, CA and namespace. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface KubeConfigOptions {
  /** The environment to read KUBECONFIG, HOME and KUBERNETES_SERVICE_* from (never process.env here). */
  env: NodeJS.ProcessEnv;
  /** `--kubeconfig`: this file and nothing else; it must exist. */
  kubeconfig?: string;
  /** `--context`: a context of the kubeconfig instead of its current-context. */
  context?: string;
  /** `--namespace`: wins over the context's namespace. */
  namespace?: string;
  /** Where the service account is mounted (tests point it at a temp dir). */
  serviceAccountDir?: string;
}

export interface LoadedKubeConfig {
  kubeConfig: KubeConfig;
  namespace: string;
  /** The context in use. */
  context: string;
  /** The API server's URL. */
  server: string;
  /** Where the configuration came from: the files read, or `in-cluster service account`. */
  source: string;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

function exists(path: string): boolean {
  try {
    accessSync(path);
    return true;
  } catch {
    return false;
  }
}

function readTrimmed(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Loads the Kubernetes client configuration in kubectl's order: `--kubeconfig`; else every file of
 * KUBECONFIG (missing ones skipped, the first file to name a cluster, user, context or current-context
 * wins, as kubectl merges); else ~/.kube/config; else the pod's service account (in-cluster). Then the
 * context (`--context` or current-context) and the namespace: flag, context, the service account's
 * namespace file, `data`.
 *
 * client-node's `loadFromDefault()` does much the same but reads `process.env` itself, lets later
 * KUBECONFIG files override earlier ones and falls back to localhost:8080; this takes the environment as
 * a parameter and fails clearly instead.
 */
export function loadKubeConfig(options: KubeConfigOptions): LoadedKubeConfig {
  const saDir = options.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
  const { kubeConfig, source } = findKubeConfig(options, saDir);
  const context = selectContext(kubeConfig, options.context, source);
  const cluster = kubeConfig.getCluster(context.cluster);
  if (!cluster) {
    throw new KubeConfigError(
      `Context ${context.name} in ${source} names cluster ${context.cluster}, which is not defined.`,
    );
  }
  const namespace =
    options.namespace ?? context.namespace ?? readTrimmed(join(saDir, 'namespace')) ?? DEFAULT_NAMESPACE;
  if (!DNS_LABEL.test(namespace)) {
    throw new KubeConfigError(`Namespace ${JSON.stringify(namespace)} is not a valid namespace name.`);
  }
  return { kubeConfig, namespace, context: context.name, server: cluster.server, source };
}

/** The configuration in kubectl's order, and where it came from (for messages). */
function findKubeConfig(
  options: KubeConfigOptions,
  saDir: string,
): { kubeConfig: KubeConfig; source: string } {
  const { env } = options;
  const listed = (env.KUBECONFIG ?? '').split(delimiter).filter((file) => file !== '');
  const home = env.HOME || env.USERPROFILE;
  const homeConfig = home ? join(home, '.kube', 'config') : undefined;
  if (options.kubeconfig !== undefined) {
    if (!exists(options.kubeconfig)) {
      throw new KubeConfigError(`--kubeconfig ${options.kubeconfig}: no such file.`);
    }
    return { kubeConfig: mergeFiles([options.kubeconfig]), source: options.kubeconfig };
  }
  if (listed.length > 0) {
    const found = listed.filter(exists);
    if (found.length === 0) {
      throw new KubeConfigError(`KUBECONFIG names no file that exists: ${listed.join(delimiter)}.`);
    }
    return { kubeConfig: mergeFiles(found), source: found.join(delimiter) };
  }
  if (homeConfig && exists(homeConfig)) return { kubeConfig: mergeFiles([homeConfig]), source: homeConfig };
  if (env.KUBERNETES_SERVICE_HOST && env.KUBERNETES_SERVICE_PORT && exists(join(saDir, 'token'))) {
    const kubeConfig = inClusterConfig(env.KUBERNETES_SERVICE_HOST, env.KUBERNETES_SERVICE_PORT, saDir);
    return { kubeConfig, source: 'in-cluster service account' };
  }
  throw new KubeConfigError(
    `No Kubernetes configuration found: no --kubeconfig, KUBECONFIG is unset, ${homeConfig ?? '~/.kube/config'} does not exist, and this is not a pod (KUBERNETES_SERVICE_HOST unset or no token in ${saDir}).`,
  );
}

/** `--context` when given (it must exist), else the current context, which must be defined. */
function selectContext(kubeConfig: KubeConfig, wanted: string | undefined, source: string) {
  const names = kubeConfig.getContexts().map((c) => c.name);
  if (wanted !== undefined) {
    if (!names.includes(wanted)) {
      throw new KubeConfigError(
        `--context ${wanted}: no such context in ${source} (contexts: ${names.join(', ') || 'none'}).`,
      );
    }
    kubeConfig.setCurrentContext(wanted);
  }
  const contextName = kubeConfig.getCurrentContext();
  const context = contextName ? kubeConfig.getContextObject(contextName) : null;
  if (!context) {
    throw new KubeConfigError(
      `${source} has no current context${contextName ? ` (it names ${contextName}, which it does not define)` : ''}; pass --context (contexts: ${names.join(', ') || 'none'}).`,
    );
  }
  return context;
}

/** Merges kubeconfig files as kubectl does: the first file to define a name (or current-context) wins. */
function mergeFiles(files: string[]): KubeConfig {
  const clusters: Cluster[] = [];
  const users: User[] = [];
  const contexts: Context[] = [];
  let currentContext: string | undefined;
  for (const file of files) {
    const one = new KubeConfig();
    try {
      one.loadFromFile(file);
    } catch (error) {
      throw new KubeConfigError(`Cannot read kubeconfig ${file}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    for (const c of one.getClusters()) if (!clusters.some((x) => x.name === c.name)) clusters.push(c);
    for (const u of one.getUsers()) if (!users.some((x) => x.name === u.name)) users.push(u);
    for (const c of one.getContexts()) if (!contexts.some((x) => x.name === c.name)) contexts.push(c);
    currentContext ||= one.getCurrentContext() || undefined;
  }
  const merged = new KubeConfig();
  merged.loadFromOptions({ clusters, users, contexts, currentContext });
  return merged;
}

/**
 * The configuration of a pod's service account: the API server from KUBERNETES_SERVICE_HOST/PORT, its CA,
 * and the token file (re-read by client-node every minute, so projected tokens that rotate keep working).
 */
function inClusterConfig(host: string, port: string, saDir: string): KubeConfig {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [
      {
        name: 'in-cluster',
        server: `https://${isIPv6(host) ? `[${host}]` : host}:${port}`,
        caFile: join(saDir, 'ca.crt'),
        skipTLSVerify: false,
      },
    ],
    users: [
      {
        name: 'service-account',
        authProvider: { name: 'tokenFile', config: { tokenFile: join(saDir, 'token') } },
      },
    ],
    contexts: [
      {
        name: 'in-cluster',
        cluster: 'in-cluster',
        user: 'service-account',
        namespace: readTrimmed(join(saDir, 'namespace')),
      },
    ],
    currentContext: 'in-cluster',
  });
  return kubeConfig;
}
