/**
 * The cluster side of the drill against a fake API server that speaks real HTTP, watch streams and the
 * exec WebSocket: the CI gate (a Job from the CronJob, its log, its verdict), the Kubernetes Event on the
 * Job, and psql run inside a "pod" whose process is real, restoring a real pg_dumpall into a real cluster.
 */
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import type { V1CronJob, V1Pod } from '@kubernetes/client-node';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { seedCanary } from '../lib/drill/seed.ts';
import { podExecutor } from '../lib/exec/pod.ts';
import { collector } from '../lib/exec/tool-output.ts';
import type { Clock } from '../lib/k8s/clock.ts';
import { recordDrillEvent } from '../lib/k8s/events.ts';
import { loadKubeConfig } from '../lib/k8s/kube-config.ts';
import type { DrillReport } from '../lib/report/report.ts';
import { bootstrapRoleFilter } from '../lib/restore/bootstrap-role-filter.ts';
import { restorePlainDump } from '../lib/restore/psql-restore.ts';
import type { StartedTarget } from '../lib/targets/target.ts';
import { dumpAll, psql, startTestCluster } from './support/cluster.ts';
import {
  GATE_NOW as NOW,
  GATE_STAMP as STAMP,
  startGate,
  testClock,
} from './support/fake-kube/gate-harness.ts';
import { type FakeKubeApi, startFakeKubeApi, UNSCHEDULABLE_MESSAGE } from './support/fake-kube-api.ts';

/** The gate's timeout in these tests: the test clock holds it until the test lets it pass. */
const TIMEOUT_MS = 600_000;

const TEMPLATE_LABELS = {
  'app.kubernetes.io/name': 'pg-restore-drill',
  'app.kubernetes.io/component': 'drill',
};
const JOB_SPEC = {
  backoffLimit: 0,
  activeDeadlineSeconds: 3600,
  ttlSecondsAfterFinished: 604800,
  template: {
    metadata: { labels: TEMPLATE_LABELS },
    spec: {
      restartPolicy: 'Never',
      serviceAccountName: 'pg-restore-drill',
      containers: [
        {
          name: 'drill',
          image: 'ghcr.io/example/pg-restore-drill:0.1.0',
          args: ['--backups', '/backups', '--target', 'url', '--scratch'],
        },
      ],
    },
  },
};
const CRONJOB = {
  apiVersion: 'batch/v1',
  kind: 'CronJob',
  metadata: { name: 'pg-restore-drill', namespace: 'data', uid: '3f1c2a52-0000-4000-8000-00000000c0de' },
  spec: {
    schedule: '0 4 1 */3 *',
    concurrencyPolicy: 'Forbid',
    jobTemplate: { metadata: { labels: TEMPLATE_LABELS }, spec: JOB_SPEC },
  },
} as V1CronJob;

let fake: FakeKubeApi;

beforeAll(async () => {
  fake = await startFakeKubeApi();
  fake.add('cronjobs', CRONJOB);
});

afterAll(async () => {
  await fake?.close();
});

afterEach(() => {
  fake.forbidden = [];
  fake.execProtocols = ['v5.channel.k8s.io', 'v4.channel.k8s.io'];
  fake.execFaults.dropAfterStdinBytes = undefined;
  fake.execFaults.dropBeforeStatus = false;
});

function kubeConfig() {
  return loadKubeConfig({ env: { KUBECONFIG: fake.kubeconfigPath } });
}

function gate(extra: { nameSuffix: string; clock?: Clock; signal?: AbortSignal; cronJob?: string }) {
  return startGate(fake, { timeoutMs: TIMEOUT_MS, ...extra, clock: extra.clock ?? testClock(TIMEOUT_MS) });
}

const inspect = (job: string) => `kubectl -n data logs job/${job}   ·   kubectl -n data describe job/${job}`;

describe('CI gate: a Job from the CronJob, followed to its verdict', () => {
  it('creates the Job as kubectl create job --from does, streams its log and passes', async () => {
    const lines = ['  ✓ backup: newest backup found', '  ✓ restore: completed', 'pg-restore-drill: PASSED'];
    fake.scenario = { outcome: 'succeed', logLines: lines };
    const { run, out, log } = gate({ nameSuffix: 'pass1' });
    const result = await run;
    const job = `pg-restore-drill-ci-${STAMP}-pass1`;
    expect(result).toEqual({
      verdict: 'passed',
      exitCode: 0,
      namespace: 'data',
      job,
      pod: expect.stringMatching(new RegExp(`^${job}-[0-9a-f]{5}$`)),
      podExitCode: 0,
      condition: {
        type: 'Complete',
        reason: 'CompletionsReached',
        message: 'Reached expected number of succeeded pods',
      },
      message: `Job data/${job} completed: the drill passed (pod ${result.pod}).`,
    });
    expect(out.text()).toBe(`${lines.join('\n')}\n`);
    const posted = fake.requests.filter((r) => r.method === 'POST');
    expect(posted).toEqual([
      {
        method: 'POST',
        path: '/apis/batch/v1/namespaces/data/jobs',
        body: {
          apiVersion: 'batch/v1',
          kind: 'Job',
          metadata: {
            name: job,
            namespace: 'data',
            annotations: { 'cronjob.kubernetes.io/instantiate': 'manual' },
            labels: { ...TEMPLATE_LABELS, 'app.kubernetes.io/managed-by': 'pg-restore-drill-ci' },
            ownerReferences: [
              {
                apiVersion: 'batch/v1',
                kind: 'CronJob',
                name: 'pg-restore-drill',
                uid: '3f1c2a52-0000-4000-8000-00000000c0de',
                controller: true,
              },
            ],
          },
          spec: JOB_SPEC,
        },
      },
    ]);
    expect(job.length).toBeLessThanOrEqual(63);
    expect(log.lines[0]).toBe(`created Job data/${job} from CronJob data/pg-restore-drill`);
    expect(log.lines).toContain(`following the log of pod data/${result.pod} (container drill)`);
    expect(fake.requests.filter((r) => r.method === 'DELETE')).toEqual([]);
  });

  it('fails with the Job condition and the pod exit code when the drill fails', async () => {
    fake.scenario = {
      outcome: 'fail',
      exitCode: 1,
      logLines: ['  ✗ verify: users are exactly alice, bob and charlie', 'pg-restore-drill: FAILED'],
    };
    const { run, out } = gate({ nameSuffix: 'fail1' });
    const result = await run;
    const job = `pg-restore-drill-ci-${STAMP}-fail1`;
    expect(result).toEqual({
      verdict: 'failed',
      exitCode: 1,
      namespace: 'data',
      job,
      pod: expect.stringMatching(new RegExp(`^${job}-[0-9a-f]{5}$`)),
      podExitCode: 1,
      condition: {
        type: 'Failed',
        reason: 'BackoffLimitExceeded',
        message: 'Job has reached the specified backoff limit',
      },
      message: `Job data/${job} failed (BackoffLimitExceeded: Job has reached the specified backoff limit); pod ${result.pod}: container drill exited with code 1 (Error) — a drill check failed. Inspect: ${inspect(job)}`,
    });
    expect(out.text()).toBe(
      '  ✗ verify: users are exactly alice, bob and charlie\npg-restore-drill: FAILED\n',
    );
  });

  it('names DeadlineExceeded and the terminated container when the Job ran out of time', async () => {
    fake.scenario = {
      outcome: 'fail',
      exitCode: 143,
      failReason: 'DeadlineExceeded',
      failMessage: 'Job was active longer than specified deadline',
      logLines: ['  … restore: running'],
    };
    const result = await gate({ nameSuffix: 'dead1' }).run;
    const job = `pg-restore-drill-ci-${STAMP}-dead1`;
    expect(result.message).toBe(
      `Job data/${job} failed (DeadlineExceeded: Job was active longer than specified deadline); pod ${result.pod}: container drill exited with code 143 (Error) — terminated (SIGTERM: the Job deadline, or the node going away). Inspect: ${inspect(job)}`,
    );
    expect(result.condition).toEqual({
      type: 'Failed',
      reason: 'DeadlineExceeded',
      message: 'Job was active longer than specified deadline',
    });
  });

  it('times out on a pod that never starts, naming its phase, the Unschedulable condition and the event', async () => {
    fake.scenario = { outcome: 'pending' };
    const clock = testClock(TIMEOUT_MS);
    const { run, log } = gate({ nameSuffix: 'pend1', clock });
    const job = `pg-restore-drill-ci-${STAMP}-pend1`;
    const pending = `Pending: PodScheduled=False Unschedulable: ${UNSCHEDULABLE_MESSAGE}`;
    await vi.waitFor(() => expect(log.lines.some((l) => l.endsWith(pending))).toBe(true), {
      timeout: 10_000,
    });
    clock.expire();
    const result = await run;
    const pod = result.pod ?? '';
    expect(pod).toMatch(new RegExp(`^${job}-[0-9a-f]{5}$`));
    expect(result).toEqual({
      verdict: 'timeout',
      exitCode: 1,
      namespace: 'data',
      job,
      pod,
      message: `Job data/${job} did not finish within 600 s: pod data/${pod} is ${pending}. Last event: Warning FailedScheduling: ${UNSCHEDULABLE_MESSAGE}. The Job was left as it is: ${inspect(job)}; stop it with kubectl -n data delete job/${job}`,
    });
    expect(fake.requests.filter((r) => r.method === 'DELETE')).toEqual([]);
  });

  it('on Ctrl-C stops following, deletes the Job it created (propagationPolicy Background) and says so', async () => {
    fake.scenario = { outcome: 'pending' };
    const controller = new AbortController();
    const { run, log } = gate({ nameSuffix: 'intr1', signal: controller.signal });
    const job = `pg-restore-drill-ci-${STAMP}-intr1`;
    await vi.waitFor(() => expect(log.lines.some((l) => l.includes('Unschedulable'))).toBe(true), {
      timeout: 10_000,
    });
    const pod = fake.list('pods', 'data').find((p) => p.metadata?.labels?.['job-name'] === job);
    expect(pod?.metadata?.name).toMatch(new RegExp(`^${job}-[0-9a-f]{5}$`));
    controller.abort('SIGINT');
    const message = `Interrupted: stopped following Job data/${job}; deleted Job data/${job} (propagationPolicy Background: its pod is deleted with it). Its log so far: ${inspect(job)}`;
    expect(await run).toEqual({ verdict: 'interrupted', exitCode: 130, namespace: 'data', job, message });
    expect(log.lines.at(-1)).toBe(`warning: ${message}`);
    expect(fake.requests.filter((r) => r.method === 'DELETE')).toEqual([
      {
        method: 'DELETE',
        path: `/apis/batch/v1/namespaces/data/jobs/${job}?propagationPolicy=Background`,
        body: { propagationPolicy: 'Background' },
      },
    ]);
    expect(fake.get('jobs', 'data', job)).toBeUndefined();
    // Background: the garbage collector then deletes the pod too.
    await vi.waitFor(() => expect(fake.get('pods', 'data', pod?.metadata?.name ?? '')).toBeUndefined());
  });

  it('without pods/log it still gives the verdict, and says why there is no log', async () => {
    fake.scenario = { outcome: 'succeed', logLines: ['pg-restore-drill: PASSED'] };
    fake.forbidden = [{ verb: 'get', resource: 'pods/log' }];
    const { run, out, log } = gate({ nameSuffix: 'nolog' });
    const result = await run;
    expect(result.verdict).toBe('passed');
    expect(out.text()).toBe('');
    expect(log.lines.filter((l) => l.startsWith('warning:'))).toEqual([
      `warning: cannot read the log of pod data/${result.pod}: Forbidden: the API server refused to get pods/log "${result.pod}" in namespace data. The Role bound to this identity needs: apiGroups: [""], resources: ["pods/log"], verbs: ["get"].`,
    ]);
  });

  it('a missing CronJob is a clear configuration error (exit 2)', async () => {
    const error = await gate({ nameSuffix: 'none1', cronJob: 'no-such-drill' }).run.catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: 'DRILL_K8S_CRONJOB_NOT_FOUND',
      exitCode: 2,
      status: 404,
      message:
        'CronJob data/no-such-drill does not exist (kubectl -n data get cronjobs): apply k8s/ to this cluster, or check --context and --namespace.',
    });
  });

  it('a 403 names the RBAC verb and resource that are missing (exit 2)', async () => {
    fake.forbidden = [{ verb: 'create', resource: 'jobs' }];
    const error = await gate({ nameSuffix: 'rbac1' }).run.catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: 'DRILL_K8S_FORBIDDEN',
      exitCode: 2,
      status: 403,
      action: { verb: 'create', resource: 'jobs', group: 'batch', namespace: 'data' },
      message:
        'Forbidden: the API server refused to create jobs.batch in namespace data (jobs.batch is forbidden: User "system:serviceaccount:ci:pg-restore-drill-ci" cannot create resource "jobs" in API group "batch" in the namespace "data"). The Role bound to this identity needs: apiGroups: ["batch"], resources: ["jobs"], verbs: ["create"].',
    });
  });

  it('a 403 on watching pods stops the gate with the rule to add', async () => {
    fake.scenario = { outcome: 'pending' };
    fake.forbidden = [{ verb: 'list', resource: 'pods' }];
    const error = await gate({ nameSuffix: 'rbac2' }).run.catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: 'DRILL_K8S_FORBIDDEN',
      action: { verb: 'list', resource: 'pods', group: '', namespace: 'data' },
    });
    expect((error as Error).message).toMatch(
      /needs: apiGroups: \[""\], resources: \["pods"\], verbs: \["list"\]\.$/,
    );
  });
});

function report(overrides: Partial<DrillReport>): DrillReport {
  return {
    schemaVersion: 1,
    runId: 'run-1',
    verdict: 'passed',
    exitCode: 0,
    startedAt: '2026-11-24T03:09:00.000Z',
    finishedAt: '2026-11-24T03:10:00.000Z',
    mode: 'backups',
    target: { kind: 'url', description: 'sidecar', serverVersion: '15.18', scratch: true },
    backup: {
      file: 'postgres-backup-2026-11-24-030000.sql.gz',
      path: '/backups/postgres-backup-2026-11-24-030000.sql.gz',
      sizeBytes: 7502,
      takenAt: '2026-11-24T03:00:00.000Z',
      ageSeconds: 540,
    },
    dump: null,
    restore: { seconds: 12.345, rtoBudgetSeconds: 300, sqlBytes: 7502, skippedStatements: [] },
    phases: { total: 60 },
    counts: { passed: 13, failed: 0, skipped: 0 },
    checks: [],
    errors: [],
    push: null,
    ...overrides,
  } as DrillReport;
}

describe('Kubernetes Event on the drill Job', () => {
  const env = {
    DRILL_JOB_NAME: 'pg-restore-drill-29384000',
    DRILL_JOB_UID: '9d3e6f1a-1111-4222-8333-444455556666',
    POD_NAME: 'pg-restore-drill-29384000-x7k2p',
    POD_NAMESPACE: 'data',
  };
  const eventName = `pg-restore-drill-29384000.${(BigInt(NOW.getTime()) * 1_000_000n).toString(16)}`;
  const regarding = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    name: 'pg-restore-drill-29384000',
    namespace: 'data',
    uid: '9d3e6f1a-1111-4222-8333-444455556666',
  };
  const posted = () =>
    fake.requests.filter((r) => r.path === '/apis/events.k8s.io/v1/namespaces/data/events');

  it('records DrillSucceeded (Normal) with restore time, backup file and its age', async () => {
    const before = posted().length;
    const { kubeConfig: kc, namespace } = kubeConfig();
    const outcome = await recordDrillEvent({
      kubeConfig: kc,
      namespace,
      env,
      report: report({}),
      now: () => NOW,
    });
    expect(outcome).toEqual({
      recorded: true,
      name: eventName,
      job: { namespace: 'data', name: regarding.name, uid: regarding.uid },
    });
    expect(posted().slice(before)).toEqual([
      {
        method: 'POST',
        path: '/apis/events.k8s.io/v1/namespaces/data/events',
        body: {
          apiVersion: 'events.k8s.io/v1',
          kind: 'Event',
          metadata: { name: eventName, namespace: 'data' },
          eventTime: '2026-11-24T03:10:00.000000Z',
          reportingController: 'pg-restore-drill',
          reportingInstance: 'pg-restore-drill-29384000-x7k2p',
          action: 'Drill',
          reason: 'DrillSucceeded',
          type: 'Normal',
          note: 'Restore drill passed. Backup postgres-backup-2026-11-24-030000.sql.gz (taken 2026-11-24T03:00:00.000Z, 9 min old), restored in 12.35 s (RTO budget 300 s); checks: 13 passed, 0 failed, 0 skipped.',
          regarding,
        },
      },
    ]);
  });

  it('records DrillFailed (Warning) naming the first failed check', async () => {
    const before = posted().length;
    const { kubeConfig: kc, namespace } = kubeConfig();
    const failed = report({
      verdict: 'failed',
      exitCode: 1,
      counts: { passed: 11, failed: 1, skipped: 1 },
      checks: [
        {
          id: 'verify-users',
          name: 'verify: users are exactly alice, bob and charlie',
          phase: 'verify',
          status: 'failed',
          durationMs: 3,
          message: 'users are alice, bob (charlie is missing)\nexpected …',
          facts: {},
        },
      ],
    });
    const outcome = await recordDrillEvent({
      kubeConfig: kc,
      namespace,
      env,
      report: failed,
      // A second after the first test's event: event names carry the time.
      now: () => new Date(NOW.getTime() + 1000),
    });
    expect(outcome.recorded).toBe(true);
    expect(
      posted()
        .slice(before)
        .map((r) => r.body),
    ).toEqual([
      expect.objectContaining({
        reason: 'DrillFailed',
        type: 'Warning',
        note: 'Restore drill failed: verify: users are exactly alice, bob and charlie: users are alice, bob (charlie is missing). Backup postgres-backup-2026-11-24-030000.sql.gz (taken 2026-11-24T03:00:00.000Z, 9 min old), restored in 12.35 s (RTO budget 300 s); checks: 11 passed, 1 failed, 1 skipped.',
        regarding,
      }),
    ]);
  });

  it('finds the Job from the pod’s ownerReference when only POD_NAME is set', async () => {
    fake.add('pods', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: 'pg-restore-drill-29384001-abcde',
        namespace: 'data',
        ownerReferences: [
          {
            apiVersion: 'batch/v1',
            kind: 'Job',
            name: 'pg-restore-drill-29384001',
            uid: 'job-uid-2',
            controller: true,
          },
        ],
      },
      spec: { containers: [{ name: 'drill' }] },
    } as V1Pod);
    const { kubeConfig: kc, namespace } = kubeConfig();
    const outcome = await recordDrillEvent({
      kubeConfig: kc,
      namespace,
      env: { POD_NAME: 'pg-restore-drill-29384001-abcde' },
      report: report({}),
      now: () => NOW,
    });
    expect(outcome).toMatchObject({
      recorded: true,
      job: { namespace: 'data', name: 'pg-restore-drill-29384001', uid: 'job-uid-2' },
    });
  });

  it('returns, never throws, a failure to record', async () => {
    fake.forbidden = [{ verb: 'create', resource: 'events' }];
    const { kubeConfig: kc, namespace } = kubeConfig();
    const outcome = await recordDrillEvent({
      kubeConfig: kc,
      namespace,
      env,
      report: report({}),
      now: () => NOW,
    });
    expect(outcome).toEqual({
      recorded: false,
      job: { namespace: 'data', name: regarding.name, uid: regarding.uid },
      error:
        'Forbidden: the API server refused to create events.events.k8s.io in namespace data (events.events.k8s.io is forbidden: User "system:serviceaccount:ci:pg-restore-drill-ci" cannot create resource "events" in API group "events.k8s.io" in the namespace "data"). The Role bound to this identity needs: apiGroups: ["events.k8s.io"], resources: ["events"], verbs: ["create"].',
    });
    expect(
      await recordDrillEvent({ kubeConfig: kc, namespace, env: {}, report: report({}), now: () => NOW }),
    ).toEqual({
      recorded: false,
      error:
        'Not running in a pod of a Job: set DRILL_JOB_NAME (and DRILL_JOB_UID) or POD_NAME through the downward API.',
    });
  });
});

describe('pod executor: the tools run inside the pod through the exec API', () => {
  let source: StartedTarget;
  let target: StartedTarget;
  let dump: string;
  const pod = { namespace: 'data', name: 'postgres-postgresql-0', container: 'postgresql' };

  beforeAll(async () => {
    source = await startTestCluster();
    target = await startTestCluster();
    await seedCanary(source.handle, 'backup_test');
    dump = await dumpAll(source.handle);
    fake.add('pods', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: pod.name, namespace: pod.namespace },
      spec: { containers: [{ name: 'postgresql', image: 'docker.io/bitnami/postgresql:15.18.0' }] },
      status: { phase: 'Running' },
    } as V1Pod);
    // The "pod's" environment: the Bitnami image gets the password from the chart's Secret.
    fake.execEnv = { PATH: process.env.PATH, POSTGRES_PASSWORD: target.handle.connection.password };
  });

  afterAll(async () => {
    await source?.stop();
    await target?.stop();
  });

  const executor = () =>
    podExecutor({ kubeConfig: kubeConfig().kubeConfig, pod, port: target.handle.connection.port });

  it('streams a gunzipped pg_dumpall into psql in the pod: every byte arrives, the data is restored', async () => {
    const execsBefore = fake.execs.length;
    const outcome = await restorePlainDump({
      executor: executor(),
      source: Readable.from([gzipSync(dump)]),
      compression: 'gzip',
      kind: 'pg_dumpall',
      database: 'postgres',
      bootstrapRole: 'postgres',
      timeoutMs: 60_000,
      clock: () => performance.now(),
    });
    // What psql was sent: the dump with the bootstrap role's two statements commented out.
    const filtered = collector();
    await new Promise<void>((resolve, reject) => {
      Readable.from([Buffer.from(dump)])
        .pipe(bootstrapRoleFilter('postgres', []))
        .pipe(filtered.sink)
        .on('finish', resolve)
        .on('error', reject);
    });
    expect(outcome.sqlBytes).toBe(Buffer.byteLength(dump));
    const execs = fake.execs.slice(execsBefore);
    expect(execs).toEqual([
      expect.objectContaining({
        namespace: 'data',
        pod: 'postgres-postgresql-0',
        container: 'postgresql',
        protocol: 'v5.channel.k8s.io',
        stdinBytes: Buffer.byteLength(filtered.text()),
        stdinClosedBy: 'close-frame',
        exit: { code: 0, signal: null },
      }),
    ]);
    expect(await psql(target.handle, 'backup_test', 'SELECT name FROM users ORDER BY id')).toBe(
      'alice\nbob\ncharlie\n',
    );
  });

  it('a failing SQL statement gives psql’s exit code 3 and its stderr', async () => {
    const result = await executor().run('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', '-'], {
      stdin: Readable.from([Buffer.from('SELECT 1;\nSELECT * FROM no_such_table;\nSELECT 2;\n')]),
    });
    expect(result).toEqual({
      exitCode: 3,
      signal: null,
      stderr:
        'psql:<stdin>:2: ERROR:  relation "no_such_table" does not exist\nLINE 1: SELECT * FROM no_such_table;\n                      ^\n',
    });
  });

  it('stdout reaches the sink; the password never travels in a request', async () => {
    const out = collector();
    const result = await executor().run('psql', ['-X', '-At', '-c', 'SELECT current_user'], {
      stdout: out.sink,
    });
    expect(result).toEqual({ exitCode: 0, signal: null, stderr: '' });
    expect(out.text()).toBe('postgres\n');
    const password = target.handle.connection.password ?? '';
    expect(password.length).toBeGreaterThan(8);
    for (const request of fake.requests) {
      expect(decodeURIComponent(`${request.path} ${JSON.stringify(request.body)}`)).not.toContain(password);
    }
    expect(fake.execs.at(-1)?.command).toEqual([
      'sh',
      '-c',
      [
        'echo "pid:$$" >&2',
        `pw=\${POSTGRES_PASSWORD:-}`,
        `if [ -z "$pw" ] && [ -n "\${POSTGRES_PASSWORD_FILE:-}" ]; then pw=$(cat "\${POSTGRES_PASSWORD_FILE}") || exit 125; fi`,
        'if [ -n "$pw" ]; then PGPASSWORD=$pw; export PGPASSWORD; fi',
        'unset pw',
        `PGHOST='127.0.0.1' PGPORT='${target.handle.connection.port}' PGUSER='postgres' PGDATABASE='postgres' PGAPPNAME='pg-restore-drill' PGCONNECT_TIMEOUT='15' PGOPTIONS='-c statement_timeout=0 -c lock_timeout=0 -c idle_in_transaction_session_timeout=0'`,
        'export PGHOST PGPORT PGUSER PGDATABASE PGAPPNAME PGCONNECT_TIMEOUT PGOPTIONS',
        'exec "$@"',
      ].join('\n'),
      'pg-restore-drill',
      'psql',
      '-X',
      '-At',
      '-c',
      'SELECT current_user',
    ]);
  });

  it('toolVersion runs the tool in the pod', async () => {
    const version = await executor().toolVersion('psql');
    expect(version?.major).toBe(target.handle.serverVersion.major);
  });

  it('an abort kills the tool inside the pod through a second exec', async () => {
    const controller = new AbortController();
    const before = fake.execs.length;
    const running = executor().run('psql', ['-X', '-c', 'SELECT pg_sleep(60)'], {
      signal: controller.signal,
    });
    // The shell's first line, its pid, has been sent: the tool is running.
    await vi.waitFor(() => expect(fake.execs[before]?.stderrBytes).toBeGreaterThan(0), { timeout: 10_000 });
    const record = fake.execs[before];
    controller.abort('SIGINT');
    expect(await running).toEqual({ exitCode: null, signal: 'SIGTERM', stderr: '' });
    expect(fake.execs.at(-1)?.command).toEqual(['sh', '-c', 'kill -TERM "$1"', 'kill', String(record?.pid)]);
    expect(record?.exit).toEqual({ code: null, signal: 'SIGTERM' });
  });

  it('refuses to stream stdin over v4.channel.k8s.io, which cannot close it; runs without stdin', async () => {
    fake.execProtocols = ['v4.channel.k8s.io'];
    const error = await executor()
      .run('psql', ['-f', '-'], { stdin: Readable.from([Buffer.from('SELECT 1;\n')]) })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: 'DRILL_K8S_EXEC_STDIN',
      exitCode: 2,
      message:
        'The API server offers v4.channel.k8s.io exec protocol, which cannot close stdin: psql would never see the end of the backup. Streaming into pod data/postgres-postgresql-0 (container postgresql) needs v5.channel.k8s.io (Kubernetes 1.30 or newer).',
    });
    expect(await executor().run('psql', ['-X', '-c', 'SELECT 1'])).toEqual({
      exitCode: 0,
      signal: null,
      stderr: '',
    });
    expect(fake.execs.at(-1)?.protocol).toBe('v4.channel.k8s.io');
  });

  it('an exec connection dropped mid-restore is a clear error naming the pod, never a pass', async () => {
    fake.execFaults.dropAfterStdinBytes = 2000;
    const execsBefore = fake.execs.length;
    const error = await restorePlainDump({
      executor: executor(),
      source: Readable.from([gzipSync(dump)]),
      compression: 'gzip',
      kind: 'pg_dumpall',
      database: 'postgres',
      bootstrapRole: 'postgres',
      timeoutMs: 60_000,
      clock: () => performance.now(),
    }).catch((e: unknown) => e);
    expect(fake.execs.slice(execsBefore).map((e) => e.dropped)).toEqual(['stdin']);
    expect(error).toMatchObject({
      code: 'DRILL_K8S_EXEC',
      exitCode: 2,
      message:
        'The exec connection to pod data/postgres-postgresql-0 (container postgresql) closed before psql reported its exit status.',
    });
  });

  it('a tool that ran to its end but whose status frame never came is an error, not exit 0', async () => {
    fake.execFaults.dropBeforeStatus = true;
    const out = collector();
    const error = await executor()
      .run('psql', ['-X', '-At', '-c', 'SELECT 42'], { stdout: out.sink })
      .catch((e: unknown) => e);
    const record = fake.execs.at(-1);
    expect([record?.exit, record?.dropped]).toEqual([{ code: 0, signal: null }, 'status']);
    expect(out.text()).toBe('42\n');
    expect(error).toMatchObject({
      code: 'DRILL_K8S_EXEC',
      message:
        'The exec connection to pod data/postgres-postgresql-0 (container postgresql) closed before psql reported its exit status.',
    });
  });

  it('exec into a pod that is not Running names its phase (no node yet: 400; container not running: 500)', async () => {
    const place = (name: string) =>
      podExecutor({ kubeConfig: kubeConfig().kubeConfig, pod: { ...pod, name } }).run('psql', ['--version']);
    fake.add('pods', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'postgres-postgresql-1', namespace: 'data' },
      spec: { containers: [{ name: 'postgresql', image: 'docker.io/bitnami/postgresql:15.18.0' }] },
      status: {
        phase: 'Pending',
        conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: 'no nodes' }],
      },
    } as V1Pod);
    fake.add('pods', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'postgres-postgresql-2', namespace: 'data' },
      spec: {
        nodeName: 'node-1',
        containers: [{ name: 'postgresql', image: 'docker.io/bitnami/postgresql:15.18.0' }],
      },
      status: {
        phase: 'Failed',
        containerStatuses: [
          {
            name: 'postgresql',
            image: 'docker.io/bitnami/postgresql:15.18.0',
            imageID: '',
            ready: false,
            restartCount: 0,
            state: { terminated: { exitCode: 137, reason: 'OOMKilled' } },
          },
        ],
      },
    } as V1Pod);
    expect(await place('postgres-postgresql-1').catch((e: unknown) => e)).toMatchObject({
      code: 'DRILL_K8S_EXEC',
      message:
        'The API server refused to exec in pod data/postgres-postgresql-1 (container postgresql) (HTTP 400): the pod is Pending: PodScheduled=False Unschedulable: no nodes: its container postgresql must be running (kubectl -n data get pod postgres-postgresql-1).',
    });
    expect(await place('postgres-postgresql-2').catch((e: unknown) => e)).toMatchObject({
      code: 'DRILL_K8S_EXEC',
      message:
        'The API server refused to exec in pod data/postgres-postgresql-2 (container postgresql) (HTTP 500): the pod is Failed; container postgresql exited with code 137: its container postgresql must be running (kubectl -n data get pod postgres-postgresql-2).',
    });
  });

  it('a pod that does not exist is named', async () => {
    const missing = podExecutor({
      kubeConfig: kubeConfig().kubeConfig,
      pod: { ...pod, name: 'postgres-postgresql-9' },
    });
    const error = await missing.run('psql', ['--version']).catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: 'DRILL_K8S_EXEC',
      exitCode: 2,
      pod: 'pod data/postgres-postgresql-9 (container postgresql)',
      message: 'Pod data/postgres-postgresql-9 does not exist (kubectl -n data get pods).',
    });
  });

  it('a 403 on pods/exec names the rule to add', async () => {
    fake.forbidden = [{ verb: 'create', resource: 'pods/exec' }];
    const error = await executor()
      .run('psql', ['--version'])
      .catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: 'DRILL_K8S_FORBIDDEN',
      message:
        'Forbidden: the API server refused to create pods/exec "postgres-postgresql-0" in namespace data. The Role bound to this identity needs: apiGroups: [""], resources: ["pods/exec"], verbs: ["create"].',
    });
  });
});
