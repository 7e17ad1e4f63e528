import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  appendHistoryFile,
  HISTORY_FILE,
  type HistoryEntry,
  historyEntry,
  parseHistory,
  readHistoryFile,
} from './history.ts';
import { formatHistoryTable, historyRows, rtoTrend } from './history-table.ts';
import { buildReport } from './report.ts';

const run = promisify(execFile);

function entry(runId: string, rtoSeconds: number | null, time: string): HistoryEntry {
  return {
    time,
    runId,
    backup: `postgres-backup-${runId}.sql.gz`,
    rpoSeconds: 3600,
    rtoSeconds,
    verdict: rtoSeconds === null ? 'error' : 'passed',
    tablesVerified: 12,
    mode: 'cluster',
    target: 'url',
  };
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'history-test-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('historyEntry', () => {
  it("takes a report's backup, RPO, RTO, verdict, verified tables and mode", () => {
    const report = buildReport({
      runId: '20261201-030000-abcdef',
      mode: 'backups',
      startedAt: new Date('2026-12-01T03:00:00Z'),
      finishedAt: new Date('2026-12-01T03:00:42.5Z'),
      target: undefined,
      steps: [
        {
          name: 'backup: newest backup found',
          phase: 'precheck',
          status: 'passed',
          durationMs: 1,
          message: '',
          facts: {
            backup: { file: 'b.sql.gz', path: '/b/b.sql.gz', sizeBytes: 1, takenAt: '', ageSeconds: 7261.4 },
          },
        },
        {
          name: 'restore: completed',
          phase: 'restore',
          status: 'passed',
          durationMs: 1,
          message: '',
          facts: { restore: { seconds: 12.3456, rtoBudgetSeconds: 300, sqlBytes: 1, skippedStatements: [] } },
        },
        {
          name: 'verify: every table matches the backup',
          phase: 'verify',
          status: 'failed',
          durationMs: 1,
          message: '',
          facts: { deep: { tables: [{ verified: true }, { verified: false }, { verified: true }] } },
        },
      ],
      errors: [],
      interrupted: undefined,
    } as never);
    expect(historyEntry(report, 'canary')).toEqual({
      time: '2026-12-01T03:00:42.500Z',
      runId: '20261201-030000-abcdef',
      backup: 'b.sql.gz',
      rpoSeconds: 7261,
      rtoSeconds: 12.35,
      verdict: 'failed',
      tablesVerified: 2,
      mode: 'canary',
      target: null,
    });
  });
});

describe('history.jsonl', () => {
  it('drills appending at once from several processes each add one whole line', async () => {
    const script = join(dir, 'append.mts');
    const lib = join(import.meta.dirname, 'history.ts');
    await writeFile(
      script,
      `import { appendHistoryFile } from ${JSON.stringify(lib)};
const [dir, who] = process.argv.slice(2);
await Promise.all(Array.from({ length: 25 }, (_, i) => appendHistoryFile(dir, { time: new Date().toISOString(), runId: who + '-' + i, backup: 'x'.repeat(2000), rpoSeconds: 1, rtoSeconds: i, verdict: 'passed', tablesVerified: 1, mode: 'cluster', target: 'local' })));
`,
    );
    const writers = ['a', 'b', 'c', 'd'];
    await Promise.all(writers.map((who) => run(process.execPath, ['--import', 'tsx', script, dir, who])));
    const text = await readFile(join(dir, HISTORY_FILE), 'utf8');
    const { entries, badLines } = parseHistory(text);
    expect(badLines).toEqual([]);
    expect(entries.map((e) => e.runId).sort()).toEqual(
      writers.flatMap((who) => Array.from({ length: 25 }, (_, i) => `${who}-${i}`)).sort(),
    );
  });

  it('reads back what was appended, listing lines that are not entries', async () => {
    await appendHistoryFile(dir, entry('r1', 10, '2026-09-01T03:00:00.000Z'));
    await writeFile(join(dir, HISTORY_FILE), 'not json\n{"time":1}\n', { flag: 'a' });
    await appendHistoryFile(dir, entry('r2', 11, '2026-12-01T03:00:00.000Z'));
    const read = await readHistoryFile(dir);
    expect([read.entries.map((e) => e.runId), read.badLines]).toEqual([
      ['r1', 'r2'],
      [2, 3],
    ]);
  });

  it('a directory without a history is a clear error naming it', async () => {
    await expect(readHistoryFile(dir)).rejects.toThrow(
      `No drill history in ${dir} (history.jsonl is written by every drill with --report-dir ${dir})`,
    );
  });
});

describe('the history table', () => {
  const entries = [
    entry('r1', 10, '2026-03-01T03:00:00.000Z'),
    entry('r2', 12.5, '2026-06-01T03:00:00.000Z'),
    entry('r3', null, '2026-09-01T03:00:00.000Z'),
    entry('r4', 12, '2026-12-01T03:00:00.000Z'),
  ];

  it('lists newest first, each RTO against the run before it that restored', () => {
    const rows = historyRows(entries);
    expect(rows.map((r) => [r.runId, r.rtoDeltaSeconds])).toEqual([
      ['r4', -0.5],
      ['r3', null],
      ['r2', 2.5],
      ['r1', null],
    ]);
    expect(rtoTrend(rows)).toEqual({
      runs: 3,
      firstSeconds: 10,
      lastSeconds: 12,
      changeSeconds: 2,
      changePercent: 20,
    });
  });

  it('orders by finish time, not by the order the lines were appended (drills sharing a history)', () => {
    const appended = [entries[0], entries[2], entries[1], entries[3]] as HistoryEntry[];
    expect(historyRows(appended).map((r) => [r.runId, r.rtoDeltaSeconds])).toEqual(
      historyRows(entries).map((r) => [r.runId, r.rtoDeltaSeconds]),
    );
    expect(historyRows(appended, 2).map((r) => r.runId)).toEqual(['r4', 'r3']);
  });

  it('keeps a line whose time does not parse after the line written before it', () => {
    const odd = { ...(entries[1] as HistoryEntry), runId: 'odd', time: 'yesterday' };
    const appended = [entries[0], entries[1], odd, entries[2], entries[3]] as HistoryEntry[];
    expect(historyRows(appended).map((r) => r.runId)).toEqual(['r4', 'r3', 'odd', 'r2', 'r1']);
    expect(historyRows([entries[3], odd, entries[0]] as HistoryEntry[]).map((r) => r.runId)).toEqual([
      'odd',
      'r4',
      'r1',
    ]);
  });

  it('--limit keeps the newest runs, and the trend is over those', () => {
    const rows = historyRows(entries, 2);
    expect(rows.map((r) => r.runId)).toEqual(['r4', 'r3']);
    expect(rtoTrend(rows)).toBeNull();
  });

  it('prints a table and the trend line', () => {
    expect(formatHistoryTable(historyRows(entries), 'drill-report/history.jsonl')).toMatchInlineSnapshot(`
      "Drill history from drill-report/history.jsonl, newest first (4 run(s)):
      FINISHED (UTC)       VERDICT  RTO      ΔRTO     RPO    TABLES  MODE     TARGET  BACKUP
      2026-12-01 03:00:00  passed   12.00 s  -0.50 s  1h 0m  12      cluster  url     postgres-backup-r4.sql.gz
      2026-09-01 03:00:00  error    -        -        1h 0m  12      cluster  url     postgres-backup-r3.sql.gz
      2026-06-01 03:00:00  passed   12.50 s  +2.50 s  1h 0m  12      cluster  url     postgres-backup-r2.sql.gz
      2026-03-01 03:00:00  passed   10.00 s  -        1h 0m  12      cluster  url     postgres-backup-r1.sql.gz

      RTO trend over the 3 runs that restored: 10.00 s → 12.00 s (+2.00 s, +20.0%)"
    `);
  });
});
