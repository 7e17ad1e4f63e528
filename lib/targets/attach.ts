import { TargetError } from '../errors.ts';
import { containerExecutor } from '../exec/container.ts';
import type { Executor } from '../exec/executor.ts';
import { hostExecutor } from '../exec/host.ts';
import { podExecutor } from '../exec/pod.ts';
import { loadKubeConfig } from '../k8s/kube-config.ts';
import { probeContainerEngine } from './container-engine.ts';
import type { TargetHandle } from './target.ts';

/** The executor that runs client tools for a target, from its handle: in its container, or on this host. */
export async function executorFor(handle: TargetHandle, baseEnv: NodeJS.ProcessEnv): Promise<Executor> {
  if (handle.containerId) {
    const engine = await probeContainerEngine();
    if (!engine.ok) throw new TargetError(`The container engine went away: ${engine.reason}`);
    return containerExecutor(
      engine.client.container.dockerode,
      handle.containerId,
      handle.connection.user,
      (handle.containerMounts ?? []).length > 0,
    );
  }
  if (handle.pod) {
    const { kubeConfig } = loadKubeConfig({
      env: baseEnv,
      kubeconfig: handle.pod.kubeconfig,
      context: handle.pod.context,
    });
    // Inside the pod the tools reach the server on its own loopback, at the port it serves.
    return podExecutor({
      kubeConfig,
      pod: handle.pod,
      user: handle.connection.user,
      port: handle.connection.port,
    });
  }
  if (handle.binDir) return hostExecutor(handle.binDir, handle.connection, baseEnv);
  throw new TargetError(`No way to run the PostgreSQL client tools for ${handle.description}.`);
}
