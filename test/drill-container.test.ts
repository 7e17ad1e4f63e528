/**
 * `--target container`: PostgreSQL from testcontainers, the client tools inside the container. Runs on
 * any engine testcontainers finds (CI: rootful podman set up by scripts/container-engine.sh).
 */
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedCanary } from '../lib/drill/seed.ts';
import { removeRunContainers } from '../lib/targets/container.ts';
import type { StartedTarget } from '../lib/targets/target.ts';
import { dumpAll, slowDump, startTestCluster, writeBackup } from './support/cluster.ts';
import {
  containerTestsAvailable,
  drillContainers,
  engineSkip,
  restorePsqlInNewDrillContainer,
  TEST_IMAGE,
} from './support/container-engine.ts';
import { statOf } from './support/drill-processes.ts';
import { type FaultRule, startFaultProxy } from './support/fault-proxy.ts';
import { readReport, runCli, startCli } from './support/run-cli.ts';

const available = await containerTestsAvailable();
const skip = engineSkip('the container-target tests', available.ok ? undefined : available.reason);

describe.skipIf(skip)('--target container', () => {
  let source: StartedTarget;
  let goodDump: string;
  let scratch: string;
  const engine = { engine: true };

  beforeAll(async () => {
    source = await startTestCluster();
    await seedCanary(source.handle, 'backup_test');
    goodDump = await dumpAll(source.handle);
    scratch = await mkdtemp(join(tmpdir(), 'drill-container-test-'));
    await chmod(scratch, 0o755);
  });
  afterAll(async () => {
    await source?.stop();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  async function dir(name: string): Promise<string> {
    const path = join(scratch, name);
    await mkdir(path, { recursive: true });
    return path;
  }

  it('runs the self-contained drill with the tools inside the container and removes it', async () => {
    const reports = await dir('self');
    const { code, stdout } = await runCli(
      ['--target', 'container', '--image', TEST_IMAGE, '--report-dir', reports],
      {},
      engine,
    );
    expect(code, stdout).toBe(0);
    const report = await readReport(reports);
    expect(report.target?.kind).toBe('container');
    expect(report.counts).toEqual({ passed: 13, failed: 0, skipped: 2 });
    expect(await drillContainers(report.runId)).toEqual([]);
  });

  /**
   * A self-contained drill through a proxy in front of the real engine that fails the container's start
   * (`POST …/containers/ID/start` answered 500, as an engine whose runtime fails does: the engine makes
   * the container, really, and it never runs); with `silentAfterStart`, every request after that start
   * is read and never answered. Returns the CLI's exit, its report's error, and the containers with its
   * run's label after it.
   */
  async function drillWithFailingStart(
    name: string,
    options: { silentAfterStart?: boolean } = {},
  ): Promise<{ code: number | null; stdout: string; runId: string; error: string; left: string[] }> {
    const upstream = process.env.DOCKER_HOST;
    if (!upstream?.startsWith('unix://'))
      throw new Error(`DOCKER_HOST=${upstream} is not a unix socket to stand in front of`);
    let starts = 0;
    const rule: FaultRule = ({ method, path }) => {
      if (starts > 0 && options.silentAfterStart) return { kind: 'hang' };
      if (method !== 'POST' || !/\/containers\/[^/]+\/start(\?|$)/.test(path)) return undefined;
      starts++;
      return {
        kind: 'answer',
        status: 500,
        contentType: 'application/json',
        body: JSON.stringify({ message: 'injected: the runtime could not start the container' }),
      };
    };
    const proxy = await startFaultProxy(upstream, { rule });
    const reports = await dir(name);
    try {
      const { code, stdout } = await runCli(
        ['--target', 'container', '--image', TEST_IMAGE, '--report-dir', reports],
        { DOCKER_HOST: proxy.dockerHost },
        engine,
      );
      expect(starts).toBe(1);
      const report = await readReport(reports);
      expect(report.verdict).toBe('error');
      const left = await drillContainers(report.runId);
      // Whatever the drill left, the test does not leave.
      await removeRunContainers(report.runId);
      return { code, stdout, runId: report.runId, error: report.errors.join(' '), left };
    } finally {
      await proxy.close();
    }
  }

  it('removes the container it made when the engine fails to start it, and says so', async () => {
    const { code, stdout, error, left } = await drillWithFailingStart('start-fails');
    expect(code, stdout).toBe(2);
    expect(error).toContain(`Could not start ${TEST_IMAGE} in the container engine: `);
    expect(error).toContain('injected: the runtime could not start the container');
    expect(error).toMatch(/the container [0-9a-f]{12} made for it is removed/);
    expect(left).toEqual([]);
  });

  it('when the engine then stops answering, gives up on the removal after 10 s and names the command', async () => {
    const { code, stdout, runId, error, left } = await drillWithFailingStart('start-fails-silent', {
      silentAfterStart: true,
    });
    expect(code, stdout).toBe(2);
    expect(error).toContain('removing it failed: no answer within 10 s');
    expect(error).toContain(`docker rm -f $(docker ps -aq --filter label=pg-restore-drill.run=${runId})`);
    // Left, as the error says: the real engine still has it (the test removes it).
    expect(left).toHaveLength(1);
  }, 60_000);

  it('--target auto picks the container engine when one answers', async () => {
    const reports = await dir('auto');
    const { code, stdout } = await runCli(
      ['--report-dir', reports],
      { DRILL_POSTGRES_IMAGE: TEST_IMAGE },
      engine,
    );
    expect(code, stdout).toBe(0);
    expect((await readReport(reports)).target?.kind).toBe('container');
  });

  it('restores the newest backup of --backups DIR streamed into psql in the container', async () => {
    const backups = await dir('backups');
    await writeBackup(backups, '2026-11-21-030000', goodDump);
    const reports = await dir('backups-report');
    const { code, stdout } = await runCli(
      ['--target', 'container', '--image', TEST_IMAGE, '--backups', backups, '--report-dir', reports],
      {},
      engine,
    );
    expect(code, stdout).toBe(0);
    const report = await readReport(reports);
    expect(report.restore?.sqlBytes).toBe(Buffer.byteLength(goodDump));
    expect(await drillContainers(report.runId)).toEqual([]);
  });

  it('reports a failing restore exactly as the local target does: the line and the error', async () => {
    const broken = goodDump.replace(
      '\nALTER TABLE ONLY public.transactions\n',
      '\nSELECT no_such_function();\nALTER TABLE ONLY public.transactions\n',
    );
    const line = broken.split('\n').indexOf('SELECT no_such_function();') + 1;
    const backups = await dir('broken');
    await writeBackup(backups, '2026-11-21-030000', broken);
    const reports = await dir('broken-report');
    const { code } = await runCli(
      ['--target', 'container', '--image', TEST_IMAGE, '--backups', backups, '--report-dir', reports],
      {},
      engine,
    );
    expect(code).toBe(1);
    const report = await readReport(reports);
    const restore = report.checks.find((c) => c.id === 'restore-completed');
    expect(restore?.message).toBe(
      `Restore failed: the dump hit an error and psql stopped there (ON_ERROR_STOP): line ${line}: ERROR 42883: function no_such_function() does not exist`,
    );
    expect(await drillContainers(report.runId)).toEqual([]);
  });

  it('on SIGTERM mid-restore stops, removes the container, reports and exits 143', async () => {
    const backups = await dir('slow');
    await writeBackup(backups, '2026-11-21-030000', slowDump(goodDump));
    const reports = await dir('big-report');
    const before = await drillContainers();
    const run = startCli(
      ['--target', 'container', '--image', TEST_IMAGE, '--backups', backups, '--report-dir', reports],
      {},
      engine,
    );
    // Signalled once the restore's psql runs in the drill's container, as /proc shows it.
    const psql = await restorePsqlInNewDrillContainer(before, () => run.child.exitCode !== null);
    run.child.kill('SIGTERM');
    const { code, stdout } = await run.done;
    expect(code, stdout).toBe(143);
    const report = await readReport(reports);
    expect([report.verdict, report.errors]).toEqual(['interrupted', ['interrupted by SIGTERM']]);
    expect(report.checks.find((c) => c.id === 'restore-completed')?.status).toBe('interrupted');
    // Nothing left: no container (so no server), and the psql that was restoring is gone.
    expect(await drillContainers(report.runId)).toEqual([]);
    expect(await statOf(psql)).toBeUndefined();
  });
});
