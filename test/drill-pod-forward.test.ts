/**
 * `--target pod` from a laptop in one command: without --database-url the drill opens its own
 * port-forward to the database pod through the API (client-node's PortForward, v4.channel.k8s.io),
 * and its checks' pg connections go through it. The fake API serves the portforward endpoint
 * (test/support/fake-kube-portforward.ts), each stream a real TCP connection to a real PostgreSQL
 * whose port the drill is never told: only the forward can reach it.
 */
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { seedCanary } from '../lib/drill/seed.ts';
import { hostBinDir, type StartedTarget } from '../lib/targets/target.ts';
import { dumpAll, psql, startTestCluster, writeBackup } from './support/cluster.ts';
import { type FakeKubeApi, startFakeKubeApi } from './support/fake-kube-api.ts';
import { type FakePortForward, servePortForward } from './support/fake-kube-portforward.ts';
import { readReport, runCli, startCli } from './support/run-cli.ts';

const POD = 'data/postgres-postgresql-0';

let fake: FakeKubeApi;
let forward: FakePortForward;
let live: StartedTarget;
let scratch: string;
let backups: string;

beforeAll(async () => {
  fake = await startFakeKubeApi();
  fake.add('pods', {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'postgres-postgresql-0', namespace: 'data' },
    spec: { containers: [{ name: 'postgresql', image: 'bitnami/postgresql:18' }] },
    status: { phase: 'Running' },
  } as never);
  live = await startTestCluster();
  await seedCanary(live.handle, 'backup_test');
  forward = servePortForward(fake, live.handle.connection.port);
  scratch = await mkdtemp(join(tmpdir(), 'drill-pod-forward-test-'));
  await chmod(scratch, 0o777);
  backups = join(scratch, 'backups');
  await mkdir(backups);
  await writeBackup(backups, '2026-11-21-030000', await dumpAll(live.handle));
  // The pod's tools reach its server at 127.0.0.1:5432 (the drill sets PGPORT=5432 in the exec). The
  // fake runs them on this machine, where that server listens on another port: the pod's network is
  // stood in for by wrappers that point the real tools at it.
  const podBin = join(scratch, 'pod-bin');
  await mkdir(podBin);
  for (const tool of ['psql', 'pg_dump', 'pg_dumpall', 'pg_restore']) {
    const real = join(hostBinDir(live.handle), tool);
    await writeFile(
      join(podBin, tool),
      `#!/bin/sh\nPGPORT=${live.handle.connection.port} exec ${real} "$@"\n`,
      {
        mode: 0o755,
      },
    );
  }
  fake.execEnv = {
    PATH: `${podBin}:${process.env.PATH}`,
    POSTGRES_PASSWORD: live.handle.connection.password,
  };
});
afterAll(async () => {
  await fake?.close();
  await live?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});
beforeEach(() => {
  forward.forwards.length = 0;
  forward.cutWhen = undefined;
  forward.holdWhen = undefined;
  forward.silent = false;
  fake.forbidden = [];
});

/** The drill as an operator runs it from a laptop: no --database-url, no PGHOST, the password in PGPASSWORD. */
function forwardArgs(reports: string): string[] {
  return [
    '--target',
    'pod',
    '--pod',
    POD,
    '--mode',
    'canary-copy',
    '--backups',
    backups,
    '--kubeconfig',
    fake.kubeconfigPath,
    '--report-dir',
    reports,
  ];
}

async function drillThroughForward(reports: string) {
  return runCli(forwardArgs(reports), { PGPASSWORD: live.handle.connection.password });
}

describe('--target pod without --database-url', () => {
  it("passes, every check's connection carried by the drill's own port-forward", async () => {
    const reports = join(scratch, 'pass');
    const { code, stdout, stderr } = await drillThroughForward(reports);
    expect(code, `${stdout}\n${stderr}`).toBe(0);
    const report = await readReport(reports);
    expect(report.verdict).toBe('passed');
    expect(report.target?.description).toMatch(
      /^pod data\/postgres-postgresql-0 \(existing server postgres@127\.0\.0\.1:\d+\/postgres .*checks through the drill's port-forward 127\.0\.0\.1:\d+ → port 5432\)$/,
    );
    const asked = fake.requests.filter((r) => r.path.includes('/portforward'));
    expect(new Set(asked.map((r) => r.path))).toEqual(
      new Set(['/api/v1/namespaces/data/pods/postgres-postgresql-0/portforward?ports=5432']),
    );
    expect(asked.length).toBe(forward.forwards.length);
    // Each stream reached the real server: the drill lock's session, and the checks' sessions on the
    // restored copy (drill_<run id>), came through the forward and nowhere else.
    const sessions = forward.forwards.map((f) => f.startup);
    expect(sessions).toContainEqual(
      expect.objectContaining({ application_name: `pg-restore-drill ${report.runId}`, database: 'postgres' }),
    );
    const copy = `drill_${report.runId.replaceAll('-', '_')}`;
    expect(sessions.filter((s) => s?.database === copy).length).toBeGreaterThan(0);
    for (const f of forward.forwards) {
      expect([f.protocol, f.port, f.connectedTo]).toEqual([
        'v4.channel.k8s.io',
        5432,
        live.handle.connection.port,
      ]);
      expect(f.bytesFromPod).toBeGreaterThan(0);
      // Closed afterwards: by the drill's side, or the server's end after the session ended.
      expect(f.endedBy === 'client' || f.endedBy === 'pod').toBe(true);
    }
    expect(stderr).toMatch(
      new RegExp(
        `closed the port-forward to pod data/postgres-postgresql-0 port 5432 \\(${forward.forwards.length} connection\\(s\\) carried\\)`,
      ),
    );
    expect(report.cleanupFailures).toEqual([]);
  });

  it('--pod-port: a pod whose PostgreSQL serves another port is forwarded to, and its tools connect to, that port', async () => {
    const reports = join(scratch, 'pod-port');
    const execsBefore = fake.execs.length;
    const { code, stdout, stderr } = await runCli([...forwardArgs(reports), '--pod-port', '6432'], {
      PGPASSWORD: live.handle.connection.password,
    });
    expect(code, `${stdout}\n${stderr}`).toBe(0);
    const report = await readReport(reports);
    expect(report.target?.description).toMatch(
      /checks through the drill's port-forward 127\.0\.0\.1:\d+ → port 6432\)$/,
    );
    const asked = fake.requests.filter(
      (r) => r.path.includes('/portforward') && r.path.endsWith('ports=6432'),
    );
    expect(asked.length).toBeGreaterThan(0);
    expect(forward.forwards.map((f) => f.port)).toEqual(forward.forwards.map(() => 6432));
    // The tools the drill runs in the pod are pointed at the same port (the fake's wrappers then reach
    // the test's server wherever it listens).
    const scripts = fake.execs.slice(execsBefore).map((e) => e.command[2] ?? '');
    expect(scripts.length).toBeGreaterThan(0);
    for (const script of scripts) expect(script).toContain("PGPORT='6432'");
  });

  it('a forward cut in the middle of a check fails that check, naming the pod and the port', async () => {
    const reports = join(scratch, 'cut');
    forward.cutWhen = (bytes) => bytes.includes('pg_sequences');
    const { code, stdout } = await drillThroughForward(reports);
    expect(code, stdout).toBe(1);
    const report = await readReport(reports);
    expect(forward.forwards.filter((f) => f.endedBy === 'cut').length).toBe(1);
    const failed = report.checks.filter((c) => c.status === 'failed');
    expect(failed.map((c) => c.name)).toEqual(['verify: sequences beyond their columns']);
    expect(failed[0]?.message).toMatch(
      /the port-forward to pod data\/postgres-postgresql-0 port 5432 broke: the stream was cut \(WebSocket close code 1006\)/,
    );
    expect(report.cleanupFailures).toEqual([
      expect.stringMatching(
        /^could not stop the target: 1 break\(s\) of the port-forward during the drill: the port-forward to pod data\/postgres-postgresql-0 port 5432 broke/,
      ),
    ]);
  });

  it('SIGTERM while a check waits on the forward: the drill closes the forward on its way out and exits 143', async () => {
    const reports = join(scratch, 'sigterm');
    forward.holdWhen = (bytes) => bytes.includes('pg_sequences');
    const drill = startCli(forwardArgs(reports), { PGPASSWORD: live.handle.connection.password });
    await forward.held;
    drill.child.kill('SIGTERM');
    const { code, stderr } = await drill.done;
    expect(code, stderr).toBe(143);
    expect(stderr).toMatch(
      /closed the port-forward to pod data\/postgres-postgresql-0 port 5432 \(\d+ connection\(s\) carried\)/,
    );
    const report = await readReport(reports);
    expect(report.verdict).toBe('interrupted');
    expect(forward.forwards.every((f) => f.endedBy !== undefined)).toBe(true);
  });

  it('an API server that never opens the forward: exit 2 after 5 s, naming the pod and port', async () => {
    forward.silent = true;
    const { code, stderr } = await drillThroughForward(join(scratch, 'silent'));
    expect(code).toBe(2);
    expect(stderr).toMatch(
      /Cannot reach the server of pod data\/postgres-postgresql-0 port 5432: the port-forward to pod data\/postgres-postgresql-0 port 5432 broke: .*the API server did not open the stream within 5 s/,
    );
  });

  it('without pods/portforward on the operator identity: exit 2 naming the rule, before anything is restored', async () => {
    fake.forbidden = [{ verb: 'create', resource: 'pods/portforward' }];
    const reports = join(scratch, 'forbidden');
    const execsBefore = fake.execs.length;
    const { code, stderr } = await drillThroughForward(reports);
    expect(code).toBe(2);
    expect(stderr).toMatch(
      /Cannot reach the server of pod data\/postgres-postgresql-0 port 5432: the port-forward to pod data\/postgres-postgresql-0 port 5432 broke: Forbidden: .*resources: \["pods\/portforward"\], verbs: \["create"\]/,
    );
    expect(forward.forwards).toEqual([]);
    expect(fake.execs.length).toBe(execsBefore);
    const leftovers = await psql(
      live.handle,
      'postgres',
      "SELECT count(*) FROM pg_database WHERE datname LIKE 'drill\\_%'",
    );
    expect(leftovers.trim()).toBe('0');
  });
});
