import { RUN_LABEL } from '../../lib/targets/container.ts';
import { probeContainerEngine } from '../../lib/targets/container-engine.ts';

/** The image the container tests run: CI builds it from Debian packages (scripts/container-engine.sh). */
export const TEST_IMAGE = process.env.DRILL_TEST_IMAGE ?? 'localhost/postgres:15';

/**
 * Whether the container tests can run here, and if not, why (printed, so a skip is never silent).
 */
export async function containerTestsAvailable(): Promise<{ ok: true } | { ok: false; reason: string }> {
  const engine = await probeContainerEngine();
  if (!engine.ok) {
    return {
      ok: false,
      reason: `no container engine (${engine.reason}); run scripts/container-engine.sh and export its --print-env`,
    };
  }
  const images = await engine.client.container.dockerode.listImages({ filters: { reference: [TEST_IMAGE] } });
  if (images.length === 0)
    return {
      ok: false,
      reason: `the engine has no ${TEST_IMAGE}; build it with scripts/container-engine.sh`,
    };
  return { ok: true };
}

/** Containers (running or not) that the drill labelled; none may outlive a run. */
export async function drillContainers(): Promise<string[]> {
  const engine = await probeContainerEngine();
  if (!engine.ok) throw new Error(engine.reason);
  const list = await engine.client.container.dockerode.listContainers({
    all: true,
    filters: { label: [RUN_LABEL] },
  });
  return list.map((c) => `${c.Id.slice(0, 12)} ${c.Image} ${c.State}`);
}
