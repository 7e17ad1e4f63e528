import type { ContainerRuntimeClient } from 'testcontainers';

/**
 * How long the engine probe may take: a socket that never answers must not hang `--target auto` for
 * long, but a busy engine (podman committing a large image layer holds its storage lock for many
 * seconds on a loaded machine) is still an engine.
 */
const PROBE_TIMEOUT_MS = 30_000;

export type EngineProbe = { ok: true; client: ContainerRuntimeClient } | { ok: false; reason: string };

/**
 * Looks for a container engine the way testcontainers does (DOCKER_HOST, ~/.testcontainers.properties,
 * /var/run/docker.sock, the rootless sockets), bounded in time. testcontainers is loaded here, on
 * first use, not when this file is: a drill that never asks for an engine never pays for it.
 */
export async function probeContainerEngine(): Promise<EngineProbe> {
  const { getContainerRuntimeClient } = await import('testcontainers');
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<EngineProbe>((resolve) => {
    timer = setTimeout(
      () =>
        resolve({
          ok: false,
          reason: `no answer from the container engine within ${PROBE_TIMEOUT_MS / 1000} s`,
        }),
      PROBE_TIMEOUT_MS,
    );
  });
  const probe = getContainerRuntimeClient().then(
    (client): EngineProbe => ({ ok: true, client }),
    (error: Error): EngineProbe => ({ ok: false, reason: error.message }),
  );
  try {
    return await Promise.race([probe, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The engine's Docker API client (dockerode), as testcontainers configured it. */
export type DockerApi = ContainerRuntimeClient['container']['dockerode'];
