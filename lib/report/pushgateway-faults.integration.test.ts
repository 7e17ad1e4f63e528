/**
 * pushDrillMetrics against a real Pushgateway: its own answers (200, basic-auth 401 from
 * `--web.config.file`, 400 for a payload inconsistent with what it holds), and, through a
 * fault-injecting proxy of ours in front of it, the 5xx, silent and reset answers a load balancer gives.
 */
import { randomBytes } from 'node:crypto';
import { Counter, Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engineSkip } from '../../test/support/engine-skip.ts';
import { type FaultProxy, startFaultProxy } from '../../test/support/fault-proxy.ts';
import {
  basicAuth,
  pushgatewayMissing,
  type RunningPushgateway,
  type Sample,
  scrapeGroup,
  startPushgateway,
  TEST_PUSHGATEWAY_USER,
} from '../../test/support/pushgateway.ts';
import { recordDrillMetrics } from './metrics.ts';
import { PushFailedError, pushDrillMetrics } from './pushgateway.ts';

// Under CI=true a missing Pushgateway fails this file (engineSkip throws).
const skip = engineSkip('the Pushgateway fault tests', pushgatewayMissing());

function drillRegistry(): Registry {
  const registry = new Registry();
  recordDrillMetrics(registry, {
    success: true,
    finishedAt: new Date('2026-10-01T03:42:10Z'),
    restoreSeconds: 100,
    phaseSeconds: { restore: 100, total: 120 },
    checksFailed: 0,
    rtoBudgetSeconds: 3600,
  });
  return registry;
}

function recordingSleep() {
  const waits: number[] = [];
  return { waits, sleep: async (ms: number) => void waits.push(ms) };
}

/**
 * A grouping of its own per test, so tests sharing one gateway never read each other's pushes. Six
 * characters: the error message keeps 300 of the gateway's answer, and the conflict test needs the
 * type name at its end inside them.
 */
function freshGrouping(): { pg_cluster: string; target: string } {
  return { pg_cluster: randomBytes(3).toString('hex'), target: 'sidecar' };
}

/** The drill's success gauge as the gateway holds it for `grouping` (undefined: never stored). */
async function storedSuccess(
  url: string,
  grouping: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<number | undefined> {
  const samples: Sample[] = await scrapeGroup(url, { job: 'pg_restore_drill', ...grouping }, headers);
  return samples.find((s) => s.name === 'pg_dr_drill_success')?.value;
}

describe.skipIf(skip)('pushDrillMetrics through a fault proxy to a real Pushgateway', () => {
  let gateway: RunningPushgateway;
  let proxy: FaultProxy;

  beforeAll(async () => {
    gateway = await startPushgateway();
    proxy = await startFaultProxy(gateway.url);
  });
  afterAll(async () => {
    await proxy?.close();
    await gateway?.stop();
  });

  it('POSTs the registry text to the grouping key path on the first attempt, and the gateway stores it', async () => {
    const registry = drillRegistry();
    const grouping = freshGrouping();
    const before = proxy.received.length;

    const result = await pushDrillMetrics({ registry, url: `${proxy.url}/`, grouping });

    expect(result).toEqual({ ok: true, attempts: 1 });
    const sent = proxy.received.slice(before);
    expect(
      sent.map(({ method, path, body, fault, upstreamStatus }) => ({
        method,
        path,
        body,
        fault,
        upstreamStatus,
      })),
    ).toEqual([
      {
        method: 'POST',
        path: `/metrics/job/pg_restore_drill/pg_cluster/${grouping.pg_cluster}/target/sidecar`,
        body: await registry.metrics(),
        fault: 'pass',
        upstreamStatus: 200,
      },
    ]);
    expect(sent[0]?.headers['content-type']).toEqual(registry.contentType);
    expect(sent[0]?.headers.authorization).toBeUndefined();
    expect(await storedSuccess(gateway.url, grouping)).toEqual(1);
  });

  it('retries 5xx answers with the configured backoff and reports the attempt that worked', async () => {
    const grouping = freshGrouping();
    const { waits, sleep } = recordingSleep();
    const warnings: string[] = [];
    proxy.inject({ kind: 'answer', status: 503 }, { kind: 'answer', status: 502 });
    const before = proxy.received.length;

    const result = await pushDrillMetrics({
      registry: drillRegistry(),
      url: proxy.url,
      grouping,
      sleep,
      logger: { warn: (message) => warnings.push(message) },
    });

    expect(result).toEqual({ ok: true, attempts: 3 });
    expect(waits).toEqual([500, 1000]);
    const target = `${proxy.url}/metrics/job/pg_restore_drill/pg_cluster/${grouping.pg_cluster}/target/sidecar`;
    expect(warnings).toEqual([
      `push attempt 1/3 to ${target} failed: HTTP 503 Service Unavailable; retrying in 500 ms`,
      `push attempt 2/3 to ${target} failed: HTTP 502 Bad Gateway; retrying in 1000 ms`,
    ]);
    expect(proxy.received.slice(before).map((r) => [r.fault, r.upstreamStatus])).toEqual([
      ['answer', undefined],
      ['answer', undefined],
      ['pass', 200],
    ]);
    expect(await storedSuccess(gateway.url, grouping)).toEqual(1);
  });

  it('gives up after the last attempt with a result, not a throw, and nothing reaches the gateway', async () => {
    const grouping = freshGrouping();
    const { waits, sleep } = recordingSleep();
    proxy.inject(
      { kind: 'answer', status: 503, body: 'busy' },
      { kind: 'answer', status: 503, body: 'busy' },
      { kind: 'answer', status: 503, body: 'still busy' },
    );

    const result = await pushDrillMetrics({ registry: drillRegistry(), url: proxy.url, grouping, sleep });

    const url = `${proxy.url}/metrics/job/pg_restore_drill/pg_cluster/${grouping.pg_cluster}/target/sidecar`;
    expect(result).toEqual({ ok: false, attempts: 3, error: expect.any(PushFailedError) });
    expect(result.ok ? undefined : result.error).toMatchObject({
      code: 'DRILL_PUSH_FAILED',
      attempts: 3,
      status: 503,
      url,
      message: `pushing drill metrics to ${url} failed after 3 attempts: HTTP 503 Service Unavailable: still busy`,
    });
    expect(waits).toEqual([500, 1000]);
    expect(await storedSuccess(gateway.url, grouping)).toBeUndefined();
  });

  it('makes as many attempts as there are retry delays plus one', async () => {
    proxy.inject({ kind: 'answer', status: 500 }, { kind: 'answer', status: 500 });
    const before = proxy.received.length;

    const result = await pushDrillMetrics({
      registry: drillRegistry(),
      url: proxy.url,
      grouping: freshGrouping(),
      retryDelaysMs: [1],
    });

    expect(result.ok ? undefined : result.attempts).toEqual(2);
    expect(proxy.received.slice(before).map((r) => r.fault)).toEqual(['answer', 'answer']);
  });

  it('retries a peer that takes the request and never answers, then pushes', async () => {
    const grouping = freshGrouping();
    const warnings: string[] = [];
    proxy.inject({ kind: 'hang' });

    const result = await pushDrillMetrics({
      registry: drillRegistry(),
      url: proxy.url,
      grouping,
      timeoutMs: 300,
      sleep: async () => {},
      logger: { warn: (message) => warnings.push(message) },
    });

    expect(result).toEqual({ ok: true, attempts: 2 });
    const target = `${proxy.url}/metrics/job/pg_restore_drill/pg_cluster/${grouping.pg_cluster}/target/sidecar`;
    expect(warnings).toEqual([
      `push attempt 1/3 to ${target} failed: no response within 300 ms; retrying in 500 ms`,
    ]);
    expect(await storedSuccess(gateway.url, grouping)).toEqual(1);
  });

  it('retries a connection reset after the request was sent, then pushes', async () => {
    const grouping = freshGrouping();
    const warnings: string[] = [];
    proxy.inject({ kind: 'reset' });

    const result = await pushDrillMetrics({
      registry: drillRegistry(),
      url: proxy.url,
      grouping,
      sleep: async () => {},
      logger: { warn: (message) => warnings.push(message) },
    });

    expect(result).toEqual({ ok: true, attempts: 2 });
    const target = `${proxy.url}/metrics/job/pg_restore_drill/pg_cluster/${grouping.pg_cluster}/target/sidecar`;
    expect(warnings).toEqual([`push attempt 1/3 to ${target} failed: read ECONNRESET; retrying in 500 ms`]);
    expect(await storedSuccess(gateway.url, grouping)).toEqual(1);
  });

  it('sends @base64 grouping values as they are on the wire, stored under the intended label', async () => {
    // No other test of this gateway pushes this cluster.
    const cluster = 'eu/west';
    const before = proxy.received.length;

    const result = await pushDrillMetrics({
      registry: drillRegistry(),
      url: proxy.url,
      grouping: { pg_cluster: cluster },
    });

    expect(result).toEqual({ ok: true, attempts: 1 });
    expect(proxy.received.slice(before).map((r) => r.path)).toEqual([
      '/metrics/job/pg_restore_drill/pg_cluster@base64/ZXUvd2VzdA==',
    ]);
    expect(await storedSuccess(gateway.url, { pg_cluster: cluster })).toEqual(1);
  });
});

// The gateway checks a push against every group it holds and lists one error per conflicting group, so
// the 400 case has a gateway of its own: one earlier group, one conflict, one known message.
describe.skipIf(skip)('pushDrillMetrics to a real Pushgateway holding one conflicting group', () => {
  let gateway: RunningPushgateway;
  let proxy: FaultProxy;

  beforeAll(async () => {
    gateway = await startPushgateway();
    proxy = await startFaultProxy(gateway.url);
  });
  afterAll(async () => {
    await proxy?.close();
    await gateway?.stop();
  });

  it('does not retry a payload the gateway rejects as inconsistent with what it holds', async () => {
    // This gateway holds pg_dr_drill_success as a gauge in exactly one group (the push below); the
    // same name as a counter is a payload it must refuse with 400, naming that one conflict.
    const first = await pushDrillMetrics({
      registry: drillRegistry(),
      url: gateway.url,
      grouping: freshGrouping(),
    });
    expect(first).toEqual({ ok: true, attempts: 1 });
    const conflicting = new Registry();
    new Counter({ name: 'pg_dr_drill_success', help: 'the wrong type', registers: [conflicting] }).inc();
    const grouping = freshGrouping();
    const { waits, sleep } = recordingSleep();
    const before = proxy.received.length;

    const result = await pushDrillMetrics({ registry: conflicting, url: proxy.url, grouping, sleep });

    const url = `${proxy.url}/metrics/job/pg_restore_drill/pg_cluster/${grouping.pg_cluster}/target/sidecar`;
    expect(result.ok ? undefined : [result.attempts, result.error.status]).toEqual([1, 400]);
    expect(result.ok ? '' : result.error.message).toMatch(
      new RegExp(
        `^pushing drill metrics to ${url} failed after 1 attempt: HTTP 400 Bad Request: pushed metrics are ` +
          // The gateway names either side of the conflict (the pushed counter or the gauge it holds), and
          // the answer is cut at 300 characters, inside the labels.
          'invalid or inconsistent with existing metrics: collected metric "pg_dr_drill_success" \\{.* \\(not retried\\)$',
      ),
    );
    expect(waits).toEqual([]);
    expect(proxy.received.slice(before).map((r) => [r.fault, r.upstreamStatus])).toEqual([['pass', 400]]);
    expect(await storedSuccess(gateway.url, grouping)).toBeUndefined();
  });
});

describe.skipIf(skip)('pushDrillMetrics to a real Pushgateway that requires basic auth', () => {
  const user = TEST_PUSHGATEWAY_USER;
  let gateway: RunningPushgateway;
  let port: string;

  beforeAll(async () => {
    gateway = await startPushgateway({ user });
    port = new URL(gateway.url).port;
  });
  afterAll(async () => {
    await gateway?.stop();
  });

  it('pushes with the URL credentials as basic auth', async () => {
    const grouping = freshGrouping();
    const url = `http://${user.user}:${encodeURIComponent(user.password)}@127.0.0.1:${port}`;

    const result = await pushDrillMetrics({ registry: drillRegistry(), url, grouping });

    expect(result).toEqual({ ok: true, attempts: 1 });
    expect(await storedSuccess(gateway.url, grouping, basicAuth(user))).toEqual(1);
  });

  it("is refused with the gateway's own 401 for a wrong password, not retried, credentials kept out", async () => {
    const grouping = freshGrouping();
    const { waits, sleep } = recordingSleep();
    const url = `http://${user.user}:not-${encodeURIComponent(user.password)}@127.0.0.1:${port}`;

    const result = await pushDrillMetrics({ registry: drillRegistry(), url, grouping, sleep });

    expect(result.ok ? undefined : [result.attempts, result.error.status, result.error.message]).toEqual([
      1,
      401,
      `pushing drill metrics to http://***@127.0.0.1:${port}/metrics/job/pg_restore_drill/pg_cluster/${grouping.pg_cluster}/target/sidecar ` +
        'failed after 1 attempt: HTTP 401 Unauthorized: Unauthorized (not retried)',
    ]);
    expect(waits).toEqual([]);
    expect(await storedSuccess(gateway.url, grouping, basicAuth(user))).toBeUndefined();
  });

  it('is refused with 401 when no credentials are given', async () => {
    const result = await pushDrillMetrics({
      registry: drillRegistry(),
      url: gateway.url,
      grouping: freshGrouping(),
    });

    expect(result.ok ? undefined : [result.attempts, result.error.status]).toEqual([1, 401]);
  });
});
