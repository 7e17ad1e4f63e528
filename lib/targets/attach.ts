import { TargetError } from '../errors.ts';
import type { Executor } from '../exec/executor.ts';
import { hostExecutor } from '../exec/host.ts';
import type { TargetHandle } from './target.ts';

/**
 * The executor that runs client tools for a target, from its handle: on this host, in its container,
 * or in its pod. The container and pod executors (testcontainers, client-node) load only when needed.
 */
export async function executorFor(handle: TargetHandle, baseEnv: NodeJS.ProcessEnv): Promise<Executor> {
  const { tools } = handle;
  switch (tools.kind) {
    case 'host':
      return hostExecutor(tools.binDir, handle.connection, baseEnv);
    case 'container': {
      const [{ probeContainerEngine }, { containerExecutor }] = await Promise.all([
        import('../exec/container-engine.ts'),
        import('../exec/container.ts'),
      ]);
      const engine = await probeContainerEngine(baseEnv);
      if (!engine.ok) throw new TargetError(`The container engine went away: ${engine.reason}`);
      const { dockerode } = engine.client.container;
      return containerExecutor(dockerode, tools.containerId, handle.connection.user, tools.mounts.length > 0);
    }
    case 'pod': {
      const [{ loadKubeConfig }, { podExecutor }] = await Promise.all([
        import('../k8s/kube-config.ts'),
        import('../exec/pod.ts'),
      ]);
      const { kubeConfig } = loadKubeConfig({
        env: baseEnv,
        kubeconfig: tools.kubeconfig,
        context: tools.context,
      });
      // Inside the pod the tools reach the server on its own loopback, at the port it serves.
      const pod = { namespace: tools.namespace, name: tools.name, container: tools.container };
      return podExecutor({
        kubeConfig,
        pod,
        user: handle.connection.user,
        port: tools.port ?? handle.connection.port,
      });
    }
    default:
      return unreachable(tools);
  }
}

/** A kind of tools this switch does not know: a compile error first, a clear message if it ever runs. */
function unreachable(tools: never): never {
  throw new TargetError(`No way to run the PostgreSQL client tools at ${JSON.stringify(tools)}.`);
}
