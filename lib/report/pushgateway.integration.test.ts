import type { Socket } from 'node:net';
import { createServer } from 'node:net';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closedPort } from '../../test/support/closed-port.ts';
import { engineSkip } from '../../test/support/engine-skip.ts';
import type { RunningPushgateway, Sample } from '../../test/support/pushgateway.ts';
import { pushgatewayMissing, scrapeGroup, startPushgateway } from '../../test/support/pushgateway.ts';
import type { DrillMetricsInput } from './metrics.ts';
import { recordDrillMetrics } from './metrics.ts';
import { pushDrillMetrics } from './pushgateway.ts';

// Under CI=true a missing Pushgateway fails this file (engineSkip throws).
const has = !engineSkip('the Pushgateway integration tests', pushgatewayMissing());

const grouping = { pg_cluster: 'prod', target: 'sidecar' };
const groupLabels = { job: 'pg_restore_drill', instance: '', ...grouping };

function registryFor(input: DrillMetricsInput): Registry {
  const registry = new Registry();
  recordDrillMetrics(registry, input);
  return registry;
}

function valuesByName(samples: Sample[], prefix: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const sample of samples.filter((s) => s.name.startsWith(prefix))) {
    const phase = sample.labels.phase === undefined ? '' : `{phase="${sample.labels.phase}"}`;
    out[`${sample.name}${phase}`] = sample.value;
  }
  return out;
}

function value(samples: Sample[], name: string): number | undefined {
  return samples.find((sample) => sample.name === name)?.value;
}

describe.skipIf(!has)('pushDrillMetrics against a real Pushgateway', () => {
  let gateway: RunningPushgateway;

  beforeAll(async () => {
    gateway = await startPushgateway();
  });

  afterAll(async () => {
    await gateway?.stop();
  });

  it('keeps the last success timestamp when a later failed run is pushed', async () => {
    const success = await pushDrillMetrics({
      url: gateway.url,
      grouping,
      registry: registryFor({
        success: true,
        finishedAt: new Date('2026-07-01T03:40:00Z'),
        restoreSeconds: 1500,
        restoreErrorsAccepted: 0,
        phaseSeconds: { precheck: 3, drop: 2, restore: 1500, verify: 45, total: 1550 },
        backup: { takenAt: new Date('2026-07-01T01:00:00Z'), sizeBytes: 123456789 },
        checksFailed: 0,
        rtoBudgetSeconds: 3600,
      }),
    });
    expect(success).toEqual({ ok: true, attempts: 1 });

    const afterSuccess = await scrapeGroup(gateway.url, groupLabels);
    expect(valuesByName(afterSuccess, 'pg_dr_drill_')).toEqual({
      pg_dr_drill_success: 1,
      pg_dr_drill_last_run_timestamp_seconds: 1782877200,
      pg_dr_drill_last_success_timestamp_seconds: 1782877200,
      pg_dr_drill_restore_duration_seconds: 1500,
      pg_dr_drill_restore_errors_accepted: 0,
      'pg_dr_drill_phase_duration_seconds{phase="precheck"}': 3,
      'pg_dr_drill_phase_duration_seconds{phase="drop"}': 2,
      'pg_dr_drill_phase_duration_seconds{phase="restore"}': 1500,
      'pg_dr_drill_phase_duration_seconds{phase="verify"}': 45,
      'pg_dr_drill_phase_duration_seconds{phase="total"}': 1550,
      pg_dr_drill_backup_timestamp_seconds: 1782867600,
      pg_dr_drill_backup_size_bytes: 123456789,
      pg_dr_drill_checks_failed: 0,
      pg_dr_drill_rto_budget_seconds: 3600,
    });
    expect(value(afterSuccess, 'push_failure_time_seconds')).toEqual(0);
    const firstPush = value(afterSuccess, 'push_time_seconds') ?? 0;
    expect(firstPush).toBeGreaterThan(0);

    // A push the Pushgateway rejects (samples must not carry timestamps) is what its
    // push_failure_time_seconds records, and what PgRestoreDrillPushFailing alerts on.
    const rejected = await fetch(
      `${gateway.url}/metrics/job/pg_restore_drill/pg_cluster/prod/target/sidecar`,
      {
        method: 'POST',
        body: '# TYPE pg_dr_drill_success gauge\npg_dr_drill_success 0 1782877200000\n',
      },
    );
    await rejected.text();
    expect(rejected.status).toEqual(400);
    const afterRejected = await scrapeGroup(gateway.url, groupLabels);
    expect(value(afterRejected, 'push_failure_time_seconds')).toBeGreaterThan(
      value(afterRejected, 'push_time_seconds') ?? 0,
    );
    expect(value(afterRejected, 'pg_dr_drill_success')).toEqual(1);

    const failure = await pushDrillMetrics({
      url: gateway.url,
      grouping,
      registry: registryFor({
        success: false,
        finishedAt: new Date('2026-10-01T03:05:00Z'),
        phaseSeconds: { precheck: 4, restore: 290, total: 300 },
        backup: { takenAt: new Date('2026-10-01T01:00:00Z'), sizeBytes: 223456789 },
        checksFailed: 1,
        rtoBudgetSeconds: 3600,
      }),
    });
    expect(failure).toEqual({ ok: true, attempts: 1 });

    const afterFailure = await scrapeGroup(gateway.url, groupLabels);
    expect(valuesByName(afterFailure, 'pg_dr_drill_')).toEqual({
      pg_dr_drill_success: 0,
      pg_dr_drill_last_run_timestamp_seconds: 1790823900,
      // Survives: the failed run pushed no last_success and POST only replaces names it sends.
      pg_dr_drill_last_success_timestamp_seconds: 1782877200,
      // Also from the earlier run, as the failed run never finished a restore.
      pg_dr_drill_restore_duration_seconds: 1500,
      pg_dr_drill_restore_errors_accepted: 0,
      // Replaced as a whole family: phases that did not run this time are gone.
      'pg_dr_drill_phase_duration_seconds{phase="precheck"}': 4,
      'pg_dr_drill_phase_duration_seconds{phase="restore"}': 290,
      'pg_dr_drill_phase_duration_seconds{phase="total"}': 300,
      pg_dr_drill_backup_timestamp_seconds: 1790816400,
      pg_dr_drill_backup_size_bytes: 223456789,
      pg_dr_drill_checks_failed: 1,
      pg_dr_drill_rto_budget_seconds: 3600,
    });
    const lastPush = value(afterFailure, 'push_time_seconds') ?? 0;
    expect(lastPush).toBeGreaterThan(firstPush);
    expect(lastPush).toBeGreaterThan(
      value(afterFailure, 'push_failure_time_seconds') ?? Number.POSITIVE_INFINITY,
    );
  });

  it('stores grouping values with "/" and empty values under the intended labels', async () => {
    const result = await pushDrillMetrics({
      url: `${gateway.url}/`,
      grouping: { pg_cluster: 'eu/west-1', target: '' },
      registry: registryFor({
        success: true,
        finishedAt: new Date('2026-10-01T04:00:00Z'),
        phaseSeconds: {},
        checksFailed: 0,
        rtoBudgetSeconds: 60,
      }),
    });
    expect(result).toEqual({ ok: true, attempts: 1 });

    const samples = await scrapeGroup(gateway.url, { job: 'pg_restore_drill', pg_cluster: 'eu/west-1' });
    expect(samples.find((sample) => sample.name === 'pg_dr_drill_success')?.labels).toEqual({
      job: 'pg_restore_drill',
      instance: '',
      pg_cluster: 'eu/west-1',
      target: '',
    });
  });

  it('does not retry a path the Pushgateway does not serve', async () => {
    const result = await pushDrillMetrics({
      url: `${gateway.url}/not-a-prefix`,
      grouping,
      registry: registryFor({
        success: true,
        finishedAt: new Date('2026-10-01T04:00:00Z'),
        phaseSeconds: {},
        checksFailed: 0,
        rtoBudgetSeconds: 60,
      }),
    });

    expect(result.ok ? undefined : [result.attempts, result.error.status, result.error.message]).toEqual([
      1,
      404,
      `pushing drill metrics to ${gateway.url}/not-a-prefix/metrics/job/pg_restore_drill/pg_cluster/prod/target/sidecar ` +
        'failed after 1 attempt: HTTP 404 Not Found: 404 page not found (not retried)',
    ]);
  });
});

describe('pushDrillMetrics against unreachable peers', () => {
  const registry = registryFor({
    success: true,
    finishedAt: new Date('2026-10-01T04:00:00Z'),
    phaseSeconds: {},
    checksFailed: 0,
    rtoBudgetSeconds: 60,
  });

  it('gives up on a closed port after every attempt', async () => {
    // Held closed for the whole test: no other process can start listening on it meanwhile.
    const closed = await closedPort();
    const port = closed.port;

    const result = await pushDrillMetrics({
      url: `http://127.0.0.1:${port}`,
      registry,
      timeoutMs: 2000,
      retryDelaysMs: [50, 100],
    }).finally(() => closed.release());

    expect(result.ok ? undefined : [result.attempts, result.error.code, result.error.message]).toEqual([
      3,
      'DRILL_PUSH_FAILED',
      `pushing drill metrics to http://127.0.0.1:${port}/metrics/job/pg_restore_drill failed after 3 attempts: ` +
        `connect ECONNREFUSED 127.0.0.1:${port}`,
    ]);
  });

  it('gives up on a peer that accepts and never answers, with redacted credentials', async () => {
    const sockets = new Set<Socket>();
    const blackHole = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
    const address = blackHole.address();
    const port = address !== null && typeof address === 'object' ? address.port : 0;

    try {
      const result = await pushDrillMetrics({
        url: `http://drill:secret@127.0.0.1:${port}`,
        registry,
        timeoutMs: 300,
        retryDelaysMs: [50, 100],
      });

      expect(result.ok ? undefined : [result.attempts, result.error.message]).toEqual([
        3,
        `pushing drill metrics to http://***@127.0.0.1:${port}/metrics/job/pg_restore_drill failed after 3 ` +
          'attempts: no response within 300 ms',
      ]);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => blackHole.close(resolve));
    }
  });
});
