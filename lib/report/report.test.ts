import { describe, expect, it } from 'vitest';
import { RestoreFailedError, RestoreTargetFaultError } from '../errors.ts';
import {
  type BackupFacts,
  buildReport,
  type DrillReport,
  type DumpFacts,
  formatBytes,
  formatDuration,
  formatSummary,
  type ReportInput,
  type RestoreFacts,
  type TargetSummary,
} from './report.ts';
import type { StepRecord } from './steps.ts';

const backup: BackupFacts = {
  file: 'postgres-backup-2026-11-24-031500.sql.gz',
  path: '/mnt/backups/postgres-backup-2026-11-24-031500.sql.gz',
  sizeBytes: 5_368_709_120,
  takenAt: '2026-11-24T03:15:00.000Z',
  ageSeconds: 19_800,
};
const dump: DumpFacts = {
  kind: 'pg_dumpall',
  sqlBytes: 21_474_836_480,
  dumpedFrom: { text: '15.18', major: 15, minor: 18 },
  dumpedBy: { text: '15.18', major: 15, minor: 18 },
};
const restore: RestoreFacts = {
  seconds: 1200.256,
  rtoBudgetSeconds: 3600,
  sqlBytes: 21_474_836_480,
  skippedStatements: [
    { line: 16, statement: 'CREATE ROLE postgres;' },
    { line: 17, statement: 'ALTER ROLE postgres WITH …' },
  ],
};

const target: TargetSummary = {
  kind: 'local',
  description: 'throwaway cluster on /tmp/drill-x (PostgreSQL 15.18)',
  serverVersion: { text: '15.18', major: 15, minor: 18 },
  scratch: true,
};

function step(name: string, overrides: Partial<StepRecord> = {}): StepRecord {
  const phase = name.startsWith('backup') ? 'precheck' : (name.split(':', 1)[0] as StepRecord['phase']);
  return {
    id: name.replace(/[^a-z0-9]+/g, '-'),
    name,
    phase,
    status: 'passed',
    durationMs: 1000,
    message: 'passed',
    facts: {},
    ...overrides,
  };
}

const passedSteps: StepRecord[] = [
  step('backup: newest backup found', { durationMs: 120, facts: { backup } }),
  step('precheck: backup is whole', { durationMs: 2380, facts: { dump } }),
  step('drop: canary dropped', { durationMs: 1000 }),
  step('restore: completed', { durationMs: 1_200_256, facts: { restore } }),
  step('verify: canary exists again', { durationMs: 250 }),
  step('verify: row counts match', { durationMs: 29_750 }),
];

function input(overrides: Partial<ReportInput> = {}): ReportInput {
  return {
    runId: 'run-1',
    mode: 'backups',
    startedAt: new Date('2026-11-24T08:45:00.000Z'),
    finishedAt: new Date('2026-11-24T09:05:33.750Z'),
    target,
    steps: passedSteps,
    errors: [],
    interrupted: undefined,
    ...overrides,
  };
}

describe('buildReport', () => {
  it('passes a run whose every step passed, with exit code 0', () => {
    expect(buildReport(input())).toEqual({
      schemaVersion: 1,
      runId: 'run-1',
      verdict: 'passed',
      exitCode: 0,
      startedAt: '2026-11-24T08:45:00.000Z',
      finishedAt: '2026-11-24T09:05:33.750Z',
      mode: 'backups',
      target: {
        kind: 'local',
        description: 'throwaway cluster on /tmp/drill-x (PostgreSQL 15.18)',
        serverVersion: '15.18',
        scratch: true,
      },
      backup,
      dump,
      restore,
      deep: null,
      phases: { precheck: 2.5, drop: 1, restore: 1200.256, verify: 30, total: 1233.75 },
      counts: { passed: 6, failed: 0, skipped: 0 },
      checks: passedSteps,
      errors: [],
      cleanupFailures: [],
      push: null,
      event: null,
      forecast: null,
    } satisfies DrillReport);
  });

  it('fails a run with one failed step, with exit code 1', () => {
    const steps = passedSteps.map((s) =>
      s.name === 'verify: row counts match'
        ? { ...s, status: 'failed' as const, message: 'users: 2 rows, expected 3' }
        : s,
    );
    expect(buildReport(input({ steps }))).toMatchObject({
      verdict: 'failed',
      exitCode: 1,
      counts: { passed: 5, failed: 1, skipped: 0 },
    });
  });

  it("calls a run an error, exit 2, when its restore stopped on the target's own trouble, and says so", () => {
    const message =
      "Restore stopped by the target, not by the backup: the target's disk is full (line 7: ERROR 53100: …). This says nothing about the backup: …";
    const failedOn = (code: string) => [
      ...passedSteps.filter((s) => !s.name.startsWith('verify') && s.name !== 'restore: completed'),
      step('restore: completed', { status: 'failed', code, message }),
      step('verify: canary exists again', { status: 'skipped', message: 'not run' }),
    ];
    const report = buildReport(input({ steps: failedOn(RestoreTargetFaultError.code) }));
    expect(report).toMatchObject({ verdict: 'error', exitCode: 2, counts: { failed: 1, skipped: 1 } });
    const summary = formatSummary(report).split('\n');
    expect(summary[0]).toMatch(/^pg-restore-drill: ERROR {2}/);
    expect(summary).toContain(`  ERROR     restore: completed: ${message}`);
    expect(summary.filter((line) => line.includes('FAILED'))).toEqual([]);
    // The same step failed on the dump's own error is the backup's: FAILED, exit 1.
    const backupsFault = buildReport(input({ steps: failedOn(RestoreFailedError.code) }));
    expect(backupsFault).toMatchObject({ verdict: 'failed', exitCode: 1 });
    expect(formatSummary(backupsFault)).toContain(`  FAILED    restore: completed: ${message}`);
  });

  it('calls a run failed when a check failed on the backup beside one stopped by the target', () => {
    const message =
      'Check stopped by the target, not by the backup: the target went away (…). This says nothing about the backup: …';
    const steps = [
      ...passedSteps.filter(
        (s) =>
          s.name !== 'verify: every table matches the backup' &&
          s.name !== 'verify: sequences beyond their columns',
      ),
      step('verify: every table matches the backup', {
        status: 'failed',
        message: '1 of 2 table(s) verified; 1 differ from the dump: …',
      }),
      step('verify: sequences beyond their columns', {
        status: 'failed',
        code: RestoreTargetFaultError.code,
        message,
      }),
    ];
    const report = buildReport(input({ steps }));
    expect(report).toMatchObject({ verdict: 'failed', exitCode: 1, counts: { failed: 2 } });
    const summary = formatSummary(report);
    expect(summary).toContain('  FAILED    verify: every table matches the backup: 1 of 2 table(s) verified');
    expect(summary).toContain(`  ERROR     verify: sequences beyond their columns: ${message}`);
  });

  it('calls a run without steps an error', () => {
    expect(buildReport(input({ steps: [] }))).toMatchObject({
      verdict: 'error',
      exitCode: 1,
      counts: { passed: 0, failed: 0, skipped: 0 },
      phases: { total: 1233.75 },
      backup: null,
      dump: null,
      restore: null,
    });
  });

  it('calls a run with errors outside the steps an error, even when every step passed', () => {
    expect(buildReport(input({ errors: ['drills/restore.drill.ts: failed to load'] }))).toMatchObject({
      verdict: 'error',
      exitCode: 1,
      errors: ['drills/restore.drill.ts: failed to load'],
    });
  });

  it.each([
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ])('calls a run stopped by %s interrupted, exiting %d', (signal, exitCode) => {
    expect(buildReport(input({ interrupted: signal, errors: [`interrupted by ${signal}`] }))).toMatchObject({
      verdict: 'interrupted',
      exitCode,
    });
  });

  it('counts skipped steps and sums phases only over steps that ran', () => {
    const steps = [
      step('backup: newest backup found', { durationMs: 500 }),
      step('precheck: backup is whole', { status: 'failed', durationMs: 1500, message: 'truncated' }),
      step('drop: canary dropped', { status: 'skipped', durationMs: 7, message: 'precheck failed' }),
      step('restore: completed', { status: 'skipped', durationMs: 9, message: 'precheck failed' }),
      step('verify: canary exists again', { status: 'skipped', durationMs: 0 }),
    ];
    const report = buildReport(input({ steps, target: undefined }));
    expect(report).toMatchObject({
      verdict: 'failed',
      exitCode: 1,
      target: null,
      counts: { passed: 1, failed: 1, skipped: 3 },
    });
    expect(report.phases).toEqual({ precheck: 2, total: 1233.75 });
  });

  it('takes each fact from the first step that has it', () => {
    const later = { ...backup, file: 'other.sql.gz' };
    const steps = [
      step('drop: canary dropped'),
      step('backup: newest backup found', { facts: { backup, unrelated: 1 } }),
      step('precheck: backup is whole', { facts: { backup: later, dump } }),
    ];
    expect(buildReport(input({ steps }))).toMatchObject({ backup, dump, restore: null });
  });
});

describe('formatSummary', () => {
  it('summarises a passed run', () => {
    expect(formatSummary(buildReport(input()))).toBe(
      [
        'pg-restore-drill: PASSED  (run run-1, backups)',
        '  backup    postgres-backup-2026-11-24-031500.sql.gz  5.0 GB (20.0 GB SQL), taken 2026-11-24T03:15:00.000Z, age 5.5 h',
        '  target    throwaway cluster on /tmp/drill-x (PostgreSQL 15.18), PostgreSQL 15.18, dump from 15.18',
        '  restore   1200.26 s (RTO budget 3600 s)',
        '  phases    precheck 2.50 s · drop 1.00 s · restore 1200.26 s · verify 30.00 s · total 1233.75 s',
        '  checks    6 passed, 0 failed, 0 skipped',
      ].join('\n'),
    );
  });

  it('lists the expected DROPs, the tablespaces made in place and the accepted errors of the restore', () => {
    const variant: RestoreFacts = {
      ...restore,
      expectedDrops: [
        { line: 16, statement: 'DROP DATABASE app_db;', reason: 'the server has no database app_db' },
        { line: 17, statement: 'DROP ROLE app;', reason: 'the server has no role app' },
        {
          line: 18,
          statement: 'DROP ROLE postgres;',
          reason: 'the role the drill connects as (a session can never drop its own role)',
        },
      ],
      tablespaces: [{ line: 50, name: 'ts1', original: '/srv/ts1', mapped: '/tmp/d/data/pg_tblspc/16385' }],
      acceptedErrors: [{ line: 240, sqlstate: '42704', message: 'role "legacy" does not exist', rule: 1 }],
    };
    const steps = passedSteps.map((s) =>
      s.name === 'restore: completed' ? { ...s, facts: { restore: variant } } : s,
    );
    const lines = formatSummary(buildReport(input({ steps }))).split('\n');
    expect(lines.slice(4, 8)).toEqual([
      '  drops     expected on an empty scratch server: 2 DROP statement(s) for objects it did not have: DROP DATABASE app_db, DROP ROLE app; 1 DROP of the role the drill connects as',
      '  tblspace  ts1: /srv/ts1 → /tmp/d/data/pg_tblspc/16385',
      '  accepted  line 240: 42704 role "legacy" does not exist (allow rule 1)',
      '  phases    precheck 2.50 s · drop 1.00 s · restore 1200.26 s · verify 30.00 s · total 1233.75 s',
    ]);
  });

  it('lists each failed step with the first line of its message, then the errors', () => {
    const steps = [
      step('backup: newest backup found', { facts: { backup } }),
      step('precheck: backup is whole', {
        status: 'failed',
        message: 'x.sql.gz is truncated\n    at inspect',
      }),
      step('restore: completed', { status: 'skipped', message: 'precheck failed' }),
      step('verify: row counts match', { status: 'failed', message: 'users: 2 rows, expected 3' }),
    ];
    const summary = formatSummary(
      buildReport(
        input({ steps, target: undefined, mode: 'self-contained', errors: ['pushgateway unreachable'] }),
      ),
    );
    expect(summary.split('\n')).toEqual([
      'pg-restore-drill: ERROR  (run run-1, self-contained)',
      '  backup    postgres-backup-2026-11-24-031500.sql.gz  5.0 GB, taken 2026-11-24T03:15:00.000Z, age 5.5 h',
      '  phases    precheck 2.00 s · verify 1.00 s · total 1233.75 s',
      '  checks    1 passed, 2 failed, 1 skipped',
      '  FAILED    precheck: backup is whole: x.sql.gz is truncated',
      '  FAILED    verify: row counts match: users: 2 rows, expected 3',
      '  ERROR     pushgateway unreachable',
    ]);
  });
});

describe('formatBytes', () => {
  it.each([
    [0, '0 B'],
    [1023, '1023 B'],
    [1024, '1.0 KB'],
    [1536, '1.5 KB'],
    [10 * 1024 * 1024, '10.0 MB'],
    [5_368_709_120, '5.0 GB'],
    [3 * 1024 ** 4, '3.0 TB'],
    [2048 * 1024 ** 4, '2048.0 TB'],
  ])('%d → %s', (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text);
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0 s'],
    [59.4, '59 s'],
    [119, '119 s'],
    [120, '2 min'],
    [3599, '60 min'],
    [7199, '120 min'],
    [7200, '2.0 h'],
    [19_800, '5.5 h'],
    [172_799, '48.0 h'],
    [172_800, '2.0 d'],
    [864_000, '10.0 d'],
  ])('%d s → %s', (seconds, text) => {
    expect(formatDuration(seconds)).toBe(text);
  });
});
