import type { IncomingHttpHeaders, Server } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { recordDrillMetrics } from './metrics.ts';
import type { PushDrillMetricsOptions } from './pushgateway.ts';
import {
  groupingKeyPath,
  InvalidGroupingLabelError,
  InvalidPushgatewayUrlError,
  PushFailedError,
  parsePushgatewayUrl,
  pushDrillMetrics,
  redactUrl,
} from './pushgateway.ts';

interface Received {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

// A real local HTTP peer that answers each request with the next scripted status.
async function scriptedServer(replies: { status: number; body?: string }[]) {
  const received: Received[] = [];
  const server: Server = createServer((request, response) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => {
      body += chunk;
    });
    request.on('end', () => {
      received.push({
        method: request.method ?? '',
        path: request.url ?? '',
        headers: request.headers,
        body,
      });
      const reply = replies[received.length - 1] ?? { status: 500, body: 'unscripted request' };
      response.writeHead(reply.status, { 'content-type': 'text/plain' });
      response.end(reply.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  servers.push(server);
  return { url: `http://127.0.0.1:${port}`, port, received };
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

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

describe('redactUrl', () => {
  it.each([
    ['http://user:pass@host:9091/prefix', 'http://***@host:9091/prefix'],
    ['https://token@host/', 'https://***@host/'],
    ['http://host:9091', 'http://host:9091'],
    ['not a url://user:pass@host', 'not a url://***@host'],
  ])('%s → %s', (input, expected) => {
    expect(redactUrl(input)).toEqual(expected);
  });
});

describe('parsePushgatewayUrl', () => {
  it('accepts http and https URLs with a path prefix', () => {
    expect(parsePushgatewayUrl('https://gw.example:9091/pushgateway').href).toEqual(
      'https://gw.example:9091/pushgateway',
    );
  });

  it.each([
    ['pushgateway:9091', 'has scheme "pushgateway"'],
    ['ftp://user:secret@gw:21', 'has scheme "ftp"'],
    ['gw.monitoring', 'is not a valid URL'],
    ['http://gw:9091/?x=1', 'has a query or fragment'],
    ['http://drill:50%zz@gw:9091', 'has badly percent-encoded credentials'],
  ])('rejects %s naming the setting, the redacted value and what is expected', (value, problem) => {
    let caught: unknown;
    try {
      parsePushgatewayUrl(value);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(InvalidPushgatewayUrlError);
    expect(caught).toMatchObject({
      code: 'DRILL_PUSHGATEWAY_URL_INVALID',
      value: redactUrl(value),
      message:
        `--pushgateway / DRILL_PUSHGATEWAY_URL: "${redactUrl(value)}" ${problem}; expected an http:// or ` +
        'https:// URL of the Pushgateway without query or fragment, e.g. http://pushgateway.monitoring:9091',
    });
  });

  it('never shows credentials of a rejected URL', () => {
    expect(() => parsePushgatewayUrl('ftp://user:secret@gw:21')).toThrow('"ftp://***@gw:21"');
  });
});

describe('groupingKeyPath', () => {
  it('encodes plain values and uses @base64 for "/", empty and dot values', () => {
    expect(
      groupingKeyPath({
        cluster: 'prod',
        target: 'side car',
        path: '/var/tmp',
        empty: '',
        dots: '..',
        utf: 'ü',
      }),
    ).toEqual(
      '/cluster/prod/target/side%20car/path@base64/L3Zhci90bXA=/empty@base64/=/dots@base64/Li4=/utf/%C3%BC',
    );
  });

  it('uses the URL-safe base64 alphabet', () => {
    expect(groupingKeyPath({ v: '/??>' })).toEqual('/v@base64/Lz8_Pg==');
  });

  it.each([
    ['job', 'is reserved'],
    ['instance', 'is reserved'],
    ['phase', 'is reserved'],
    ['__meta', 'is not a valid Prometheus label name'],
    ['1cluster', 'is not a valid Prometheus label name'],
    ['clu-ster', 'is not a valid Prometheus label name'],
  ])('rejects the label name %s', (name, problem) => {
    expect(() => groupingKeyPath({ [name]: 'x' })).toThrow(InvalidGroupingLabelError);
    expect(() => groupingKeyPath({ [name]: 'x' })).toThrow(`Pushgateway grouping label "${name}" ${problem}`);
  });
});

describe('pushDrillMetrics', () => {
  it('POSTs the registry text to the grouping key path on the first attempt', async () => {
    const server = await scriptedServer([{ status: 200 }]);
    const registry = drillRegistry();

    const result = await pushDrillMetrics({
      registry,
      url: `${server.url}/gw/`,
      grouping: { cluster: 'prod', target: 'sidecar' },
    });

    expect(result).toEqual({ ok: true, attempts: 1 });
    expect(server.received).toHaveLength(1);
    expect(server.received[0]).toMatchObject({
      method: 'POST',
      path: '/gw/metrics/job/pg_restore_drill/cluster/prod/target/sidecar',
      body: await registry.metrics(),
    });
    expect(server.received[0]?.headers['content-type']).toEqual(registry.contentType);
    expect(server.received[0]?.headers.authorization).toBeUndefined();
  });

  it('sends URL credentials as basic auth and keeps them out of messages', async () => {
    const server = await scriptedServer([{ status: 401, body: 'Unauthorized' }]);
    const url = `http://drill:s%3Acret@127.0.0.1:${server.port}`;

    const result = await pushDrillMetrics({ registry: drillRegistry(), url });

    expect(server.received[0]?.headers.authorization).toEqual(
      `Basic ${Buffer.from('drill:s:cret').toString('base64')}`,
    );
    expect(result.ok).toEqual(false);
    expect(result.ok ? undefined : result.error.message).toEqual(
      `pushing drill metrics to http://***@127.0.0.1:${server.port}/metrics/job/pg_restore_drill failed ` +
        'after 1 attempt: HTTP 401 Unauthorized: Unauthorized (not retried)',
    );
  });

  it('retries 5xx answers with the configured backoff and reports the attempt that worked', async () => {
    const server = await scriptedServer([{ status: 503 }, { status: 502 }, { status: 200 }]);
    const { waits, sleep } = recordingSleep();
    const warnings: string[] = [];

    const result = await pushDrillMetrics({
      registry: drillRegistry(),
      url: server.url,
      sleep,
      logger: { warn: (message) => warnings.push(message) },
    });

    expect(result).toEqual({ ok: true, attempts: 3 });
    expect(waits).toEqual([500, 1000]);
    const target = `${server.url}/metrics/job/pg_restore_drill`;
    expect(warnings).toEqual([
      `push attempt 1/3 to ${target} failed: HTTP 503 Service Unavailable; retrying in 500 ms`,
      `push attempt 2/3 to ${target} failed: HTTP 502 Bad Gateway; retrying in 1000 ms`,
    ]);
  });

  it('gives up after the last attempt with a result, not a throw', async () => {
    const server = await scriptedServer([
      { status: 503, body: 'busy' },
      { status: 503, body: 'busy' },
      { status: 503, body: 'still busy' },
    ]);
    const { waits, sleep } = recordingSleep();

    const result = await pushDrillMetrics({ registry: drillRegistry(), url: server.url, sleep });

    expect(result.ok).toEqual(false);
    if (result.ok) return;
    expect(result.attempts).toEqual(3);
    expect(waits).toEqual([500, 1000]);
    expect(result.error).toBeInstanceOf(PushFailedError);
    expect(result.error).toMatchObject({
      code: 'DRILL_PUSH_FAILED',
      attempts: 3,
      status: 503,
      url: `${server.url}/metrics/job/pg_restore_drill`,
      message:
        `pushing drill metrics to ${server.url}/metrics/job/pg_restore_drill failed after 3 attempts: ` +
        'HTTP 503 Service Unavailable: still busy',
    });
  });

  it('does not retry a rejected payload', async () => {
    const server = await scriptedServer([{ status: 400, body: 'pushed metrics are invalid\n' }]);
    const { waits, sleep } = recordingSleep();

    const result = await pushDrillMetrics({ registry: drillRegistry(), url: server.url, sleep });

    expect(result.ok ? undefined : [result.attempts, result.error.status, result.error.message]).toEqual([
      1,
      400,
      `pushing drill metrics to ${server.url}/metrics/job/pg_restore_drill failed after 1 attempt: ` +
        'HTTP 400 Bad Request: pushed metrics are invalid (not retried)',
    ]);
    expect(waits).toEqual([]);
  });

  it('makes as many attempts as there are retry delays plus one', async () => {
    const server = await scriptedServer([{ status: 500 }, { status: 500 }]);
    const options: PushDrillMetricsOptions = {
      registry: drillRegistry(),
      url: server.url,
      retryDelaysMs: [1],
    };

    const result = await pushDrillMetrics(options);

    expect(result.ok ? undefined : result.attempts).toEqual(2);
    expect(server.received).toHaveLength(2);
  });

  it('throws for a misconfigured URL before any request', async () => {
    await expect(pushDrillMetrics({ registry: drillRegistry(), url: 'file:///tmp/x' })).rejects.toThrow(
      InvalidPushgatewayUrlError,
    );
  });

  it('sends @base64 grouping values as they are on the wire', async () => {
    const server = await scriptedServer([{ status: 200 }]);

    await pushDrillMetrics({ registry: drillRegistry(), url: server.url, grouping: { cluster: 'eu/west' } });

    expect(server.received.map((request) => request.path)).toEqual([
      '/metrics/job/pg_restore_drill/cluster@base64/ZXUvd2VzdA==',
    ]);
  });
});
