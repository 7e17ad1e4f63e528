import { readlink } from 'node:fs/promises';
import { probeContainerEngine } from '../../lib/exec/container-engine.ts';
import { RUN_LABEL, runContainers } from '../../lib/targets/container.ts';

import { isRestorePsql } from './drill-processes.ts';
import { listProcesses } from './live-server.ts';

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
  const engine = await probeContainerEngine(process.env);
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
  return (await runContainers(runId)).map((c) => `${c.id} ${c.image} ${c.state}`);
}

/**
 * Waits until a drill container that was not there before runs the restore's psql, as the host's /proc
 * shows it (rootful podman: the container's processes are this machine's, in the container's PID
 * namespace); returns that psql's host pid. `before` is drillContainers() from before the drill started,
 * so drills of other test files are never mistaken for this one.
 */
export async function restorePsqlInNewDrillContainer(
  before: string[],
  exited: () => boolean,
): Promise<number> {
  const engine = await probeContainerEngine(process.env);
  if (!engine.ok) throw new Error(engine.reason);
  const known = new Set(before.map((c) => c.split(' ')[0]));
  for (;;) {
    const listed = await engine.client.container.dockerode.listContainers({
      filters: { label: [RUN_LABEL] },
    });
    for (const c of listed.filter((c) => !known.has(c.Id.slice(0, 12)))) {
      const { State } = await engine.client.container.dockerode.getContainer(c.Id).inspect();
      const pidNamespace = await readlink(`/proc/${State.Pid}/ns/pid`).catch(() => undefined);
      for (const p of pidNamespace ? (await listProcesses()).filter(isRestorePsql) : []) {
        if ((await readlink(`/proc/${p.pid}/ns/pid`).catch(() => undefined)) === pidNamespace) return p.pid;
      }
    }
    if (exited()) throw new Error('the drill exited before its container ran the restore psql');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
