/**
 * The CLI's Kubernetes paths end to end against the fake API server: `--cluster` (the CI gate),
 * `--target pod --mode canary` (psql inside the database pod, the backup streamed in through the exec
 * API, the checks over the network), and the Event a drill records on its own Job.
 */
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { seedCanary } from '../lib/drill/seed.ts';
import { hostBinDir, type StartedTarget } from '../lib/targets/target.ts';
import { dumpAll, psql, startTestCluster, writeBackup } from './support/cluster.ts';
import { neverAnswer } from './support/fake-kube/routes.ts';
import { type FakeKubeApi, startFakeKubeApi } from './support/fake-kube-api.ts';
import { latestReportFile, readReport, runCli, startCli } from './support/run-cli.ts';

const TEMPLATE = {
  metadata: { labels: { 'app.kubernetes.io/name': 'pg-restore-drill' } },
  spec: {
    backoffLimit: 0,
    template: {
      metadata: { labels: { 'app.kubernetes.io/name': 'pg-restore-drill' } },
      spec: { restartPolicy: 'Never', containers: [{ name: 'drill', image: 'pg-restore-drill:test' }] },
    },
  },
};

let fake: FakeKubeApi;
let live: StartedTarget;
let scratch: string;

beforeAll(async () => {
  fake = await startFakeKubeApi();
  fake.add('cronjobs', {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name: 'pg-restore-drill', namespace: 'data', uid: '3f1c2a52-0000-4000-8000-00000000c0de' },
    spec: { schedule: '0 3 1 */3 *', jobTemplate: TEMPLATE },
  } as never);
  fake.add('pods', {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'postgres-postgresql-0', namespace: 'data' },
    spec: { containers: [{ name: 'postgresql', image: 'bitnami/postgresql:18' }] },
    status: { phase: 'Running' },
  } as never);
  live = await startTestCluster();
  await seedCanary(live.handle, 'backup_test');
  await psql(live.handle, 'postgres', 'CREATE DATABASE bystander');
  scratch = await mkdtemp(join(tmpdir(), 'drill-k8s-test-'));
  await chmod(scratch, 0o777);
});
afterAll(async () => {
  await fake?.close();
  await live?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

describe('--cluster (CI gate)', () => {
  it('runs the Job made from the CronJob, streams its log and exits 0 when it completes', async () => {
    fake.scenario = { outcome: 'succeed', logLines: ['  ✓ restore: completed', 'pg-restore-drill: PASSED'] };
    const { code, stdout } = await runCli(['--cluster', '--kubeconfig', fake.kubeconfigPath]);
    expect(code, stdout).toBe(0);
    expect(stdout).toContain('pg-restore-drill: PASSED\n');
    expect(stdout).toMatch(/^pg-restore-drill \(cluster\): PASSED: /m);
    const created = fake.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/jobs'));
    expect(created.length).toBe(1);
  });

  it('SIGTERM (a cancelled pipeline) deletes the Job it created, says so and exits 143', async () => {
    fake.scenario = { outcome: 'pending' };
    const before = fake.requests.length;
    const cli = startCli(['--cluster', '--kubeconfig', fake.kubeconfigPath]);
    const created = () =>
      fake.requests.slice(before).find((r) => r.method === 'POST' && r.path.endsWith('/jobs'));
    // The Job exists and its pods are being watched: the gate is following it.
    await vi.waitFor(
      () => expect(fake.requests.slice(before).some((r) => /\/pods\?.*watch=true/.test(r.path))).toBe(true),
      { timeout: 20_000 },
    );
    const job = (created()?.body as { metadata?: { name?: string } } | undefined)?.metadata?.name ?? '';
    expect(job).toMatch(/^pg-restore-drill-ci-\d{14}-[a-z0-9]{5}$/);
    expect(fake.get('jobs', 'data', job)).toBeDefined();
    cli.child.kill('SIGTERM');
    const { code, stdout } = await cli.done;
    expect(code, stdout).toBe(143);
    expect(stdout).toContain(
      `pg-restore-drill (cluster): INTERRUPTED: Interrupted: stopped following Job data/${job}; deleted Job data/${job} (propagationPolicy Background: its pod is deleted with it).`,
    );
    expect(
      fake.requests
        .slice(before)
        .filter((r) => r.method === 'DELETE')
        .map((r) => [r.path, r.body]),
    ).toEqual([
      [
        `/apis/batch/v1/namespaces/data/jobs/${job}?propagationPolicy=Background`,
        { propagationPolicy: 'Background' },
      ],
    ]);
    expect(fake.get('jobs', 'data', job)).toBeUndefined();
  });

  it('exits 1 when the Job fails', async () => {
    fake.scenario = { outcome: 'fail', exitCode: 1, logLines: ['pg-restore-drill: FAILED'] };
    const { code, stdout } = await runCli(['--cluster', '--kubeconfig', fake.kubeconfigPath]);
    expect(code, stdout).toBe(1);
    expect(stdout).toMatch(/^pg-restore-drill \(cluster\): FAILED: /m);
  });
});

describe('--target pod --mode canary', () => {
  it('restores only the canary through psql in the pod; the checks pass and nothing else changes', async () => {
    const { connection } = live.handle;
    const backups = join(scratch, 'backups');
    await mkdir(backups);
    await writeBackup(backups, '2026-11-21-030000', await dumpAll(live.handle));
    const bystanderBefore = await psql(live.handle, 'postgres', 'SELECT datname FROM pg_database ORDER BY 1');
    fake.execEnv = {
      PATH: `${hostBinDir(live.handle)}:${process.env.PATH}`,
      POSTGRES_PASSWORD: connection.password,
    };
    const reports = join(scratch, 'pod-report');
    const { code, stdout } = await runCli(
      [
        '--target',
        'pod',
        '--pod',
        'data/postgres-postgresql-0',
        '--mode',
        'canary',
        '--backups',
        backups,
        '--kubeconfig',
        fake.kubeconfigPath,
        '--report-dir',
        reports,
      ],
      {
        DATABASE_URL: `postgres://postgres@127.0.0.1:${connection.port}/postgres`,
        PGPASSWORD: connection.password,
      },
    );
    expect(code, stdout).toBe(0);
    const report = await readReport(reports);
    expect(report.target?.kind).toBe('pod');
    // The canary's section, and only it, went into the pod's psql (in one transaction: -1).
    const fed = fake.execs.filter((e) => e.stdinBytes > 0);
    const restores = fed.filter((e) => e.command.join(' ').includes(' -1 '));
    expect(restores.map((e) => e.stdinBytes)).toEqual([report.restore?.sqlBytes]);
    // Every other script fed to the pod's psql only reads (the canary's rows, read back as COPY text).
    const reads = fed.filter((e) => !restores.includes(e));
    expect(reads.length).toBeGreaterThan(0);
    for (const read of reads) {
      expect(read.stdinHead).toMatch(/ TO STDOUT;/);
      expect(read.stdinHead).not.toMatch(/\b(INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|TRUNCATE|GRANT)\b/i);
    }
    expect(
      fake.execs.map((e) => e.command.join(' ')).filter((c) => c.includes(connection.password ?? '?')),
    ).toEqual([]);
    expect(await psql(live.handle, 'postgres', 'SELECT datname FROM pg_database ORDER BY 1')).toBe(
      bystanderBefore,
    );
  });

  it('refuses --mode cluster on a pod before running anything', async () => {
    const { code, stderr } = await runCli([
      '--target',
      'pod',
      '--pod',
      'data/postgres-postgresql-0',
      '--kubeconfig',
      fake.kubeconfigPath,
    ]);
    expect(code).toBe(2);
    expect(stderr).toMatch(
      /Refusing --mode cluster on --target pod: data\/postgres-postgresql-0 is a live server/,
    );
  });
});

describe('Events', () => {
  it('a drill running in a pod of its Job records DrillSucceeded on the Job', async () => {
    const reports = join(scratch, 'event-report');
    const { code, stdout } = await runCli(['--report-dir', reports], {
      KUBERNETES_SERVICE_HOST: '127.0.0.1',
      KUBECONFIG: fake.kubeconfigPath,
      DRILL_JOB_NAME: 'pg-restore-drill-29000000',
      DRILL_JOB_UID: '0a6f2f8e-0000-4000-8000-0000000000aa',
      POD_NAMESPACE: 'data',
      POD_NAME: 'pg-restore-drill-29000000-abcde',
    });
    expect(code, stdout).toBe(0);
    const report = await readReport(reports);
    expect(report.event?.recorded).toBe(true);
    const event = fake.list('events.k8s.io', 'data').at(-1) as {
      reason?: string;
      regarding?: { name?: string };
    };
    expect([event.reason, event.regarding?.name]).toEqual(['DrillSucceeded', 'pg-restore-drill-29000000']);
  });
});

describe('Events: the API server can never cost the report', () => {
  it('an Events endpoint that never answers: the report is written first, the drill exits 0 all the same', {
    timeout: 60_000,
  }, async () => {
    const silent = await startFakeKubeApi();
    const reports = join(scratch, 'silent-event-report');
    // The moment the Event is asked for, report.json must already be on disk.
    const route = neverAnswer(silent, 'POST', /^\/apis\/events\.k8s\.io\/v1\/namespaces\/data\/events$/, () =>
      existsSync(latestReportFile(reports)),
    );
    try {
      const { code, stdout, stderr } = await runCli(['--report-dir', reports], {
        KUBERNETES_SERVICE_HOST: '127.0.0.1',
        KUBECONFIG: silent.kubeconfigPath,
        DRILL_JOB_NAME: 'pg-restore-drill-29000001',
        DRILL_JOB_UID: '0a6f2f8e-0000-4000-8000-0000000000ab',
        POD_NAMESPACE: 'data',
        POD_NAME: 'pg-restore-drill-29000001-abcde',
      });
      expect(code, `${stdout}\n${stderr}`).toBe(0);
      expect(route.taken).toEqual([
        { method: 'POST', path: '/apis/events.k8s.io/v1/namespaces/data/events', note: true },
      ]);
      const report = await readReport(reports);
      expect(report.verdict).toBe('passed');
      expect(report.event).toEqual({
        recorded: false,
        error:
          "The API server did not answer within 5 s when trying to create events.events.k8s.io in namespace data: is it reachable from here (a NetworkPolicy's egress to the API server)?",
      });
      expect(stderr).toContain(
        'could not record the Kubernetes Event: The API server did not answer within 5 s',
      );
    } finally {
      await silent.close();
    }
  });
});
