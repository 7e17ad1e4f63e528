import { ToolsNotFoundError } from '../errors.ts';
import { probeContainerEngine } from '../exec/container-engine.ts';
import { targetEntry } from './registry.ts';
import type { StartedTarget, TargetDeps, TargetOptions } from './target.ts';

export type { TargetDeps, TargetOptions } from './target.ts';

/**
 * Starts or attaches to the server the drill restores into: the chosen target from the registry, or
 * for `auto`, a container engine that answers → container (the production major, tools inside); else
 * PostgreSQL binaries here → local; else exit 2 naming both ways out.
 */
export async function startTarget(options: TargetOptions, deps: TargetDeps): Promise<StartedTarget> {
  if (options.target !== 'auto') {
    // The local target says when it first waits on a process of its own; the others wait at once.
    if (options.target !== 'local') deps.starting?.();
    return (await targetEntry(options.target).load()).start(options, deps);
  }
  const engine = await probeContainerEngine(deps.env);
  if (engine.ok) {
    deps.log.info(
      `container engine found (${engine.client.info.containerRuntime.host}): restoring into ${options.image}`,
    );
    deps.starting?.();
    return (await targetEntry('container').load()).start(options, deps);
  }
  deps.log.info(`no container engine answered (${engine.reason}): looking for local PostgreSQL binaries`);
  try {
    return await (await targetEntry('local').load()).start(options, deps);
  } catch (error) {
    if (!(error instanceof ToolsNotFoundError)) throw error;
    throw new ToolsNotFoundError(
      error.searched,
      `Nothing to restore into: no container engine answered (${engine.reason}), and ${error.searched}. Either start a container engine (Docker, or podman with DOCKER_HOST=unix:///run/podman/podman.sock) for --target container, or install the PostgreSQL server binaries (Debian: apt-get install postgresql; or --pg-bindir DIR) for --target local.`,
    );
  }
}
