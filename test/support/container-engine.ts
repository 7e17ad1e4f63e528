import { probeContainerEngine } from '../../lib/exec/container-engine.ts';
import { RUN_LABEL } from '../../lib/targets/container.ts';

export { engineSkip } from './engine-skip.ts';

/** The image the container tests run: CI builds it from Debian packages (scripts/container-engine.sh). */
export const TEST_IMAGE = process.env.DRILL_TEST_IMAGE ?? 'localhost/postgres:15';

/** The Debian-packaged image of one major that scripts/container-engine.sh builds. */
export function majorImage(major: 15 | 17 | 18): string {
  return `localhost/postgres:${major}`;
}

/**
 * Whether the container tests can run here, and if not, why (printed, so a skip is never silent).
 */
export async function containerTestsAvailable(
  images: readonly string[] = [TEST_IMAGE],
): Promise<{ ok: true } | { ok: false; reason: string }> {
  const engine = await probeContainerEngine();
  if (!engine.ok) {
    return {
      ok: false,
      reason: `no container engine (${engine.reason}); run scripts/container-engine.sh and export its --print-env`,
    };
  }
  for (const image of images) {
    const found = await engine.client.container.dockerode.listImages({ filters: { reference: [image] } });
    if (found.length === 0)
      return { ok: false, reason: `the engine has no ${image}; build it with scripts/container-engine.sh` };
  }
  return { ok: true };
}

/**
 * Containers (running or not) that the drill labelled; none may outlive a run. With a run id (the
 * report's), only that run's: test files that start drills side by side must not see each other's.
 */
export async function drillContainers(runId?: string): Promise<string[]> {
  const engine = await probeContainerEngine();
  if (!engine.ok) throw new Error(engine.reason);
  const list = await engine.client.container.dockerode.listContainers({
    all: true,
    filters: { label: [runId ? `${RUN_LABEL}=${runId}` : RUN_LABEL] },
  });
  return list.map((c) => `${c.Id.slice(0, 12)} ${c.Image} ${c.State}`);
}
