import { describe, expect, it } from 'vitest';
import type { Logger } from '../log.ts';
import { buildReport, type DrillReport } from './report.ts';
import { publishReport, type Reporter } from './reporter.ts';

function report(): DrillReport {
  return buildReport({
    runId: 'run-1',
    mode: 'backups',
    startedAt: new Date('2026-11-24T08:45:00.000Z'),
    finishedAt: new Date('2026-11-24T08:46:00.000Z'),
    target: undefined,
    steps: [],
    errors: ['no backups'],
    interrupted: undefined,
  });
}

describe('publishReport', () => {
  it('publishes through every reporter in order; a failing one is logged, the rest still run, the verdict stands', async () => {
    const seen: string[] = [];
    const warnings: string[] = [];
    const log: Logger = { info: () => {}, warn: (message) => warnings.push(message) };
    const reporters: Reporter[] = [
      { name: 'the metrics push', publish: async () => void seen.push('push') },
      {
        name: 'the Kubernetes Event',
        publish: async () => {
          throw new Error('forbidden: events.events.k8s.io');
        },
      },
      { name: 'report.json', publish: async (r) => void seen.push(`file ${r.verdict} ${r.exitCode}`) },
    ];
    const published = report();

    await publishReport(reporters, published, log);

    expect(seen).toEqual(['push', 'file error 1']);
    expect(warnings).toEqual(['could not publish the Kubernetes Event: forbidden: events.events.k8s.io']);
    expect([published.verdict, published.exitCode, published.errors]).toEqual(['error', 1, ['no backups']]);
  });
});
