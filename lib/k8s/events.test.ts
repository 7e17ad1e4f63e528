import { describe, expect, it } from 'vitest';
import { RestoreTargetFaultError } from '../errors.ts';
import { buildReport } from '../report/report.ts';
import type { StepRecord } from '../report/steps.ts';
import { drillEventMessage } from './events.ts';

const step = (name: string, overrides: Partial<StepRecord> = {}): StepRecord => ({
  id: name.replace(/[^a-z0-9]+/g, '-'),
  name,
  phase: 'restore',
  status: 'passed',
  durationMs: 10,
  message: 'passed',
  facts: {},
  ...overrides,
});

describe('drillEventMessage', () => {
  it('does not call a run that ended in an error (the target stopped it: verdict error, exit 2) a failed drill', () => {
    const message =
      "Restore stopped by the target, not by the backup: the target's disk is full (…). This says nothing about the backup: …";
    const report = buildReport({
      runId: 'run-1',
      mode: 'backups',
      startedAt: new Date('2026-12-02T02:00:00Z'),
      finishedAt: new Date('2026-12-02T02:01:00Z'),
      target: undefined,
      steps: [step('restore: completed', { status: 'failed', code: RestoreTargetFaultError.code, message })],
      errors: [],
      interrupted: undefined,
    });
    expect(report.verdict).toBe('error');
    expect(drillEventMessage(report)).toBe(
      `Restore drill ended in an error: restore: completed: ${message}. No backup tested, not restored; checks: 0 passed, 1 failed, 0 skipped.`,
    );
  });
});
