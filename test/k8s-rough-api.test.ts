/**
 * The CI gate (lib/k8s) against a fake API server as rough as a real one: watches that end, are cut,
 * or come back 410 Gone; bookmarks; 429s with Retry-After and 5xx answers; a Job deleted under it;
 * dropped log streams; native sidecars; and the failure reasons a real cluster gives (ImagePullBackOff,
 * OOMKilled, activeDeadlineSeconds), each named in the verdict.
 */
import { type V1CronJob, type V1JobSpec, Watch } from '@kubernetes/client-node';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { KUBE_CALL_RETRIES, MAX_RETRY_PAUSE_MS } from '../lib/k8s/calls.ts';
import { loadKubeConfig } from '../lib/k8s/kube-config.ts';
import { GATE_STAMP, startGate, testClock } from './support/fake-kube/gate-harness.ts';
import { type FakeKubeApi, type JobScenario, startFakeKubeApi } from './support/fake-kube-api.ts';

/** The gate's timeout in these tests (held by the test clock), where a test does not derive it. */
const TIMEOUT_MS = 600_000;
const LABELS = { 'app.kubernetes.io/name': 'pg-restore-drill' };

function cronJob(name: string, spec: Partial<V1JobSpec> = {}, sidecar = false): V1CronJob {
  return {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name, namespace: 'data', uid: `uid-${name}` },
    spec: {
      schedule: '0 4 1 */3 *',
      jobTemplate: {
        metadata: { labels: LABELS },
        spec: {
          backoffLimit: 0,
          ...spec,
          template: {
            metadata: { labels: LABELS, annotations: { 'kubectl.kubernetes.io/default-container': 'drill' } },
            spec: {
              restartPolicy: 'Never',
              ...(sidecar
                ? {
                    initContainers: [{ name: 'scratch-pg', image: 'postgres:18.1', restartPolicy: 'Always' }],
                  }
                : {}),
              containers: [{ name: 'drill', image: 'ghcr.io/example/pg-restore-drill:0.1.0' }],
            },
          },
        },
      },
    },
  } as V1CronJob;
}

let fake: FakeKubeApi;

beforeAll(async () => {
  fake = await startFakeKubeApi();
  fake.add('cronjobs', cronJob('pg-restore-drill'));
  fake.add('cronjobs', cronJob('drill-sidecar', {}, true));
  fake.add('cronjobs', cronJob('drill-deadline', { activeDeadlineSeconds: 1 }));
});
afterAll(async () => {
  await fake?.close();
});
afterEach(() => {
  fake.reset();
});

/** A scenario whose main container does not end before `release()`. */
function held(scenario: Omit<JobScenario, 'hold'>): { scenario: JobScenario; release(): void } {
  let release: () => void = () => {};
  const hold = new Promise<void>((resolve) => {
    release = resolve;
  });
  return { scenario: { ...scenario, hold }, release };
}

function gate(
  suffix: string,
  options: { cronJob?: string; timeoutMs?: number | undefined; heldMs?: number } = {},
) {
  const clock = testClock(options.heldMs ?? TIMEOUT_MS);
  const timeoutMs = 'timeoutMs' in options ? options.timeoutMs : TIMEOUT_MS;
  return {
    clock,
    job: `${options.cronJob ?? 'pg-restore-drill'}-ci-${GATE_STAMP}-${suffix}`,
    ...startGate(fake, { nameSuffix: suffix, clock, cronJob: options.cronJob, timeoutMs }),
  };
}

/** The requests to a collection: its lists and its watches, with the watches' resourceVersions. */
function collection(path: string) {
  const mine = fake.requests.filter((r) => r.method === 'GET' && r.path.split('?')[0] === path);
  const query = (r: { path: string }) => new URL(r.path, 'http://x').searchParams;
  return {
    lists: mine.filter((r) => query(r).get('watch') !== 'true'),
    watchVersions: mine
      .filter((r) => query(r).get('watch') === 'true')
      .map((r) => query(r).get('resourceVersion')),
  };
}
const JOBS = '/apis/batch/v1/namespaces/data/jobs';
const PODS = '/api/v1/namespaces/data/pods';

describe('watches as a real API server ends them', () => {
  it('sends the headers of a quiet watch at once (a watch with no events yet is open, not hanging)', async () => {
    const { kubeConfig } = loadKubeConfig({ env: { KUBECONFIG: fake.kubeconfigPath } });
    const events: string[] = [];
    const controller = await new Watch(kubeConfig).watch(
      '/api/v1/namespaces/quiet/pods',
      {},
      (type) => events.push(type),
      () => {},
    );
    controller.abort();
    expect(events).toEqual([]);
  });

  it('relists after 410 Gone (the watch resumed from a compacted version) and still reaches the verdict', async () => {
    const { scenario, release } = held({
      outcome: 'succeed',
      logLines: ['a', 'b', 'pg-restore-drill: PASSED'],
    });
    fake.scenario = scenario;
    const { run, log, out, job } = gate('gone1');
    await vi.waitFor(() =>
      expect(log.lines).toContain(`following the log of pod ${podOf(job)} (container drill)`),
    );
    // Something else changes, the history is compacted, and the connections drop: the resumed watches
    // ask for versions the server no longer holds.
    fake.add('events', { metadata: { name: 'elsewhere', namespace: 'data' } } as never);
    fake.compact();
    fake.cutWatches();
    await vi.waitFor(() => expect(collection(JOBS).lists).toHaveLength(2));
    await vi.waitFor(() => expect(collection(PODS).lists).toHaveLength(2));
    release();
    const result = await run;
    expect(result.verdict).toBe('passed');
    expect(out.text()).toBe('a\nb\npg-restore-drill: PASSED\n');
  });

  it('resumes a watch the server ended from the last version, a BOOKMARK’s included, without relisting', async () => {
    fake.watches.watchTimeoutMs = 150;
    const { scenario, release } = held({ outcome: 'succeed', logLines: ['pg-restore-drill: PASSED'] });
    fake.scenario = scenario;
    const { run, log, job } = gate('book1');
    await vi.waitFor(() =>
      expect(log.lines).toContain(`following the log of pod ${podOf(job)} (container drill)`),
    );
    // A change elsewhere, after every change to the Job: only a bookmark can carry the Job watch to it.
    fake.add('events', { metadata: { name: 'elsewhere-2', namespace: 'data' } } as never);
    const elsewhere = Number(fake.get('events', 'data', 'elsewhere-2')?.metadata?.resourceVersion);
    await vi.waitFor(
      () =>
        expect(
          collection(JOBS)
            .watchVersions.map(Number)
            .some((v) => v >= elsewhere),
        ).toBe(true),
      { timeout: 5000 },
    );
    expect(Number(fake.get('jobs', 'data', job)?.metadata?.resourceVersion)).toBeLessThan(elsewhere);
    release();
    expect((await run).verdict).toBe('passed');
    const { lists, watchVersions } = collection(JOBS);
    expect(lists).toHaveLength(1);
    expect(watchVersions.length).toBeGreaterThanOrEqual(2);
    expect(watchVersions.every((v) => v !== null && v !== '')).toBe(true);
    const numbers = watchVersions.map(Number);
    expect(numbers).toEqual([...numbers].sort((a, b) => a - b));
  });

  it('reports a Job deleted while the watch was down (a 410 gap) as deleted: the gate fails, it does not wait', async () => {
    fake.scenario = { outcome: 'pending' };
    const { run, log, job } = gate('gap01');
    await vi.waitFor(() => expect(log.lines.some((l) => l.includes('Unschedulable'))).toBe(true));
    fake.deleteJob('data', job, 'Orphan');
    fake.compact();
    fake.cutWatches();
    const result = await run;
    expect(result).toMatchObject({ verdict: 'failed', exitCode: 1, job });
    expect(result.message).toMatch(
      new RegExp(
        `^Job data/${job} was deleted before it finished; pod ${job}-[0-9a-f]{5} was last Pending: PodScheduled=False Unschedulable: `,
      ),
    );
  });

  it('a Job deleted mid-gate (its DELETED event) fails the gate, naming the pod’s last state', async () => {
    fake.scenario = { outcome: 'imagePullBackOff' };
    const { run, log, job } = gate('del01');
    await vi.waitFor(() => expect(log.lines.some((l) => l.includes('ImagePullBackOff'))).toBe(true));
    fake.deleteJob('data', job, 'Foreground');
    const result = await run;
    expect(result.message).toBe(
      `Job data/${job} was deleted before it finished; pod ${result.pod} was last Pending: container drill waiting: ImagePullBackOff: Back-off pulling image "ghcr.io/example/pg-restore-drill:0.1.0". No verdict: the gate fails.`,
    );
    expect(result.verdict).toBe('failed');
  });
});

/** `data/<pod>` of the Job's pod in the fake. */
function podOf(job: string): string {
  const pod = fake.list('pods', 'data').find((p) => p.metadata?.labels?.['job-name'] === job);
  return `data/${pod?.metadata?.name}`;
}

describe('429 and 5xx: asked again, Retry-After honoured and bounded', () => {
  it('retries the CronJob read, the Job create (429) and the lists, pausing as the server asks', async () => {
    fake.httpFaults = [
      { method: 'GET', path: /\/cronjobs\/pg-restore-drill$/, status: 429, retryAfter: 2, times: 1 },
      { method: 'GET', path: /\/cronjobs\/pg-restore-drill$/, status: 503, times: 1 },
      { method: 'POST', path: /\/jobs$/, status: 429, retryAfter: 3600, times: 1 },
      { method: 'GET', path: /^\/api\/v1\/namespaces\/data\/pods$/, status: 500, times: 2 },
    ];
    fake.scenario = { outcome: 'succeed', logLines: ['pg-restore-drill: PASSED'] };
    const { run, log, clock } = gate('retr1');
    expect((await run).verdict).toBe('passed');
    const gets = fake.requests.filter((r) => r.path.endsWith('/cronjobs/pg-restore-drill'));
    const posts = fake.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/jobs'));
    expect([gets.length, posts.length]).toEqual([3, 2]);
    // Retry-After 2 s; then, without one, the second attempt's doubling pause; Retry-After 3600 s capped
    // at 10 s; the pod list's two 500s: 250 ms then 500 ms.
    expect(clock.sleeps.slice(0, 3)).toEqual([2000, 500, MAX_RETRY_PAUSE_MS]);
    expect(clock.sleeps).toEqual(expect.arrayContaining([250, 500]));
    expect(log.lines.filter((l) => l.includes('; asking again in'))).toEqual([
      'warning: The API server answered HTTP 429 when trying to get cronjobs.batch "pg-restore-drill" in namespace data: Too many requests, please try again later; asking again in 2 s.',
      'warning: The API server answered HTTP 503 when trying to get cronjobs.batch "pg-restore-drill" in namespace data: the server is currently unable to handle the request; asking again in 0.5 s.',
      'warning: The API server answered HTTP 429 when trying to create jobs.batch in namespace data: Too many requests, please try again later; asking again in 10 s.',
    ]);
  });

  it(`gives up after ${KUBE_CALL_RETRIES} retries with the server's last answer (exit 2)`, async () => {
    fake.httpFaults = [{ method: 'GET', path: /\/cronjobs\/pg-restore-drill$/, status: 503, times: 100 }];
    const { run, clock } = gate('retr2');
    const error = await run.catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'DRILL_K8S_API', exitCode: 2, status: 503 });
    expect(fake.requests.filter((r) => r.path.endsWith('/cronjobs/pg-restore-drill'))).toHaveLength(
      KUBE_CALL_RETRIES + 1,
    );
    expect(clock.sleeps).toEqual([250, 500, 1000, 2000]);
    expect(fake.requests.filter((r) => r.method === 'POST')).toEqual([]);
  });

  it('a create refused with 503 is not sent again (the Job may exist): the error names it', async () => {
    fake.httpFaults = [{ method: 'POST', path: /\/jobs$/, status: 503, times: 1 }];
    const error = await gate('retr3').run.catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'DRILL_K8S_API', status: 503 });
    expect(fake.requests.filter((r) => r.method === 'POST')).toHaveLength(1);
  });
});

describe('logs: resumed after a drop, the sidecar’s kept apart', () => {
  it('resumes a dropped log stream with sinceTime: every line once, none lost', async () => {
    const lines = ['one', 'two', 'three', 'four', 'five', 'six', 'pg-restore-drill: PASSED'];
    // Two streams cut after two lines each (the second cut falls on the lines it replays).
    fake.logFaults.cutFollowsAfterLines = 2;
    fake.logFaults.cuts = 2;
    fake.scenario = { outcome: 'succeed', logLines: lines };
    const { run, out, log } = gate('logs1');
    expect((await run).verdict).toBe('passed');
    expect(out.text()).toBe(`${lines.join('\n')}\n`);
    const requests = fake.requests.filter((r) => r.path.split('?')[0]?.endsWith('/log'));
    const queries = requests.map((r) => new URL(r.path, 'http://x').searchParams);
    expect(queries.length).toBeGreaterThan(1);
    expect(queries.every((q) => q.get('follow') === 'true' && q.get('timestamps') === 'true')).toBe(true);
    expect(queries[0]?.get('sinceTime')).toBeNull();
    // A resume asks from the second of the last line written (from the start if none was yet).
    const since = queries.slice(1).map((q) => q.get('sinceTime'));
    expect(since.every((t) => t === null || /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(t))).toBe(true);
    expect(since.some((t) => t !== null)).toBe(true);
    expect(log.lines.filter((l) => / broke: resuming from /.test(l))).toHaveLength(2);
    expect(queries.length).toBeGreaterThanOrEqual(3);
  });

  it('follows the drill container of a pod with a native sidecar; the sidecar’s log and exit stay out', async () => {
    fake.scenario = {
      outcome: 'fail',
      exitCode: 1,
      logLines: ['  ✗ verify: users', 'pg-restore-drill: FAILED'],
      sidecarLogLines: ['LOG:  database system is ready to accept connections'],
    };
    const { run, out, log, job } = gate('side1', { cronJob: 'drill-sidecar' });
    const result = await run;
    expect(out.text()).toBe('  ✗ verify: users\npg-restore-drill: FAILED\n');
    const logRequests = fake.requests.filter((r) => r.path.split('?')[0]?.endsWith('/log'));
    expect(logRequests.map((r) => new URL(r.path, 'http://x').searchParams.get('container'))).toEqual([
      'drill',
    ]);
    expect(result).toMatchObject({ verdict: 'failed', podExitCode: 1 });
    expect(result.message).toContain(
      `; pod ${result.pod}: container drill exited with code 1 (Error) — a drill check failed.`,
    );
    expect(log.lines).toContain(`following the log of pod data/${result.pod} (container drill)`);
    // The sidecar ran (its status is in initContainerStatuses) and was stopped after the drill.
    const pod = fake.get('pods', 'data', result.pod ?? '') as {
      status?: { initContainerStatuses?: unknown[] };
    };
    expect(pod.status?.initContainerStatuses).toEqual([
      expect.objectContaining({
        name: 'scratch-pg',
        state: { terminated: expect.objectContaining({ exitCode: 0 }) },
      }),
    ]);
    expect(job).toMatch(/^drill-sidecar-ci-/);
  });
});

describe('each failure reason named in the verdict', () => {
  it('OOMKilled: exit 137 and what it means', async () => {
    fake.scenario = { outcome: 'oomKilled', logLines: ['  … restore: running'] };
    const result = await gate('oom01').run;
    expect(result.podExitCode).toBe(137);
    expect(result.message).toContain(
      `; pod ${result.pod}: container drill exited with code 137 (OOMKilled) — killed (SIGKILL: out of memory, or the deadline).`,
    );
  });

  it('activeDeadlineSeconds on a pod stuck in ImagePullBackOff: DeadlineExceeded and the image named; the timeout derived', async () => {
    fake.scenario = { outcome: 'imagePullBackOff' };
    const { run, log, job } = gate('dead2', {
      cronJob: 'drill-deadline',
      timeoutMs: undefined,
      heldMs: 91_000,
    });
    const result = await run;
    expect(log.lines).toContain(
      'waiting up to 91 s: activeDeadlineSeconds 1 + terminationGracePeriodSeconds 30 + margin 60',
    );
    expect(result.verdict).toBe('failed');
    expect(result.condition).toEqual({
      type: 'Failed',
      reason: 'DeadlineExceeded',
      message: 'Job was active longer than specified deadline',
    });
    expect(result.message).toBe(
      `Job data/${job} failed (DeadlineExceeded: Job was active longer than specified deadline); pod ${result.pod}: Pending: container drill waiting: ImagePullBackOff: Back-off pulling image "ghcr.io/example/pg-restore-drill:0.1.0". Inspect: kubectl -n data logs job/${job}   ·   kubectl -n data describe job/${job}`,
    );
  });

  it('activeDeadlineSeconds on a drill that hangs: the container’s SIGTERM exit named', async () => {
    fake.scenario = { outcome: 'hang', logLines: ['  … restore: running'] };
    const { run, out } = gate('dead3', { cronJob: 'drill-deadline', timeoutMs: undefined, heldMs: 91_000 });
    const result = await run;
    expect(result.message).toContain(
      `failed (DeadlineExceeded: Job was active longer than specified deadline); pod ${result.pod}: container drill exited with code 143 (Error) — terminated (SIGTERM: the Job deadline, or the node going away).`,
    );
    expect(out.text()).toBe('  … restore: running\n');
  });
});
