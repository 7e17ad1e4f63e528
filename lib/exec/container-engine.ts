import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
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
 * first use, not when this file is: a drill that never asks for an engine never pays for it. `env` is
 * the CLI's process environment, the one testcontainers itself reads.
 */
export async function probeContainerEngine(env: NodeJS.ProcessEnv): Promise<EngineProbe> {
  const unconfigured = noEngineConfigured(env);
  if (unconfigured) return { ok: false, reason: unconfigured };
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

/**
 * Where testcontainers 11 looks for an engine, in its order of strategies (container-runtime/clients/
 * client.js: TestcontainersHostStrategy and ConfigurationStrategy read ~/.testcontainers.properties
 * and DOCKER_HOST; UnixSocketStrategy /var/run/docker.sock; RootlessUnixSocketStrategy the four
 * rootless sockets; NpipeSocketStrategy Windows' pipe). `lib/exec/container-engine.test.ts` holds
 * testcontainers to that list. The uid is the effective one, as os.userInfo() gives testcontainers, but
 * read without the passwd lookup, which throws for a uid with no entry (`docker run --user 1234`).
 */
export function engineCandidates(
  env: NodeJS.ProcessEnv,
  home = homedir(),
  uid = process.geteuid?.() ?? 0,
): string[] {
  return [
    join(home, '.testcontainers.properties'),
    '/var/run/docker.sock',
    ...(env.XDG_RUNTIME_DIR !== undefined ? [join(env.XDG_RUNTIME_DIR, 'docker.sock')] : []),
    join(home, '.docker', 'run', 'docker.sock'),
    join(home, '.docker', 'desktop', 'docker.sock'),
    join('/run', 'user', String(uid), 'docker.sock'),
  ];
}

/**
 * Why no engine can answer, when nothing testcontainers would try is there: then loading testcontainers
 * (about 0.35 s of a self-contained drill's start on the bench machine) is skipped. Undefined: one may be.
 */
export function noEngineConfigured(
  env: NodeJS.ProcessEnv,
  given?: string[],
  platform = process.platform,
): string | undefined {
  if (platform === 'win32' || env.DOCKER_HOST !== undefined) return undefined;
  const candidates = given ?? engineCandidates(env);
  if (candidates.some((path) => existsSync(path))) return undefined;
  return `nothing to ask: DOCKER_HOST is not set and none of ${candidates.join(', ')} exists`;
}

/** The engine's Docker API client (dockerode), as testcontainers configured it. */
export type DockerApi = ContainerRuntimeClient['container']['dockerode'];
