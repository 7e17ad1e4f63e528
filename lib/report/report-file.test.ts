import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildReport, type DrillReport, formatSummary, type TargetSummary } from './report.ts';
import { LATEST, latestRunId, reportFileReporter, writeReport } from './report-file.ts';

const target: TargetSummary = {
  kind: 'local',
  description: 'throwaway cluster on /tmp/drill-x (PostgreSQL 15.18)',
  serverVersion: { text: '15.18', major: 15, minor: 18 },
  scratch: true,
};

function report(runId: string, over: Partial<TargetSummary> = {}): DrillReport {
  return buildReport({
    runId,
    mode: 'backups',
    startedAt: new Date('2026-11-24T08:45:00.000Z'),
    finishedAt: new Date('2026-11-24T08:46:00.000Z'),
    target: { ...target, ...over },
    steps: [
      {
        id: 'backup-newest-backup-found',
        name: 'backup: newest backup found',
        phase: 'precheck',
        status: 'passed',
        durationMs: 10,
        message: 'passed',
        facts: {},
      },
    ],
    errors: [],
    interrupted: undefined,
  });
}

describe('writeReport', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'drill-report-file-'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("writes report.json and summary.txt into the run's own directory and points latest at it", async () => {
    const out = join(dir, 'nested', 'drill-report');
    const written = report('20261124-084500-aaaaaa');

    const path = await writeReport(out, written);

    expect(path).toBe(join(out, '20261124-084500-aaaaaa', 'report.json'));
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual(written);
    expect(await readFile(join(out, LATEST, 'summary.txt'), 'utf8')).toBe(`${formatSummary(written)}\n`);
    expect(await readlink(join(out, LATEST))).toBe('20261124-084500-aaaaaa');
    expect((await lstat(join(out, LATEST))).isSymbolicLink()).toBe(true);
  });

  it('keeps every one of concurrent runs in the same directory, and latest names one of them whole', async () => {
    const out = join(dir, 'shared');
    const ids = Array.from({ length: 8 }, (_, n) => `20261124-0845${String(n).padStart(2, '0')}-bbbbbb`);

    await Promise.all(ids.map((id) => writeReport(out, report(id))));

    expect((await readdir(out)).sort()).toEqual([...ids, LATEST].sort());
    for (const id of ids) {
      const json = JSON.parse(await readFile(join(out, id, 'report.json'), 'utf8')) as DrillReport;
      expect(json.runId).toBe(id);
    }
    const latest = await latestRunId(out);
    expect(ids).toContain(latest);
    const viaLatest = JSON.parse(await readFile(join(out, LATEST, 'report.json'), 'utf8')) as DrillReport;
    expect(viaLatest.runId).toBe(latest);
  });

  it('moves latest to the run written last', async () => {
    const out = join(dir, 'sequence');
    await writeReport(out, report('20261124-084500-cccccc'));
    await writeReport(out, report('20261124-090000-dddddd'));
    expect(await latestRunId(out)).toBe('20261124-090000-dddddd');
    expect(await readdir(out)).toEqual(['20261124-084500-cccccc', '20261124-090000-dddddd', LATEST]);
  });

  it.each(['file', 'directory'] as const)(
    'leaves a %s named latest that is not its link, and says so after writing the report (its path kept)',
    async (kind) => {
      const out = join(dir, `foreign-latest-${kind}`);
      await mkdir(out, { recursive: true });
      if (kind === 'file') await writeFile(join(out, LATEST), 'mine\n');
      else await mkdir(join(out, LATEST));
      const files = reportFileReporter(out);
      const error = await files.publish(report('20261124-084500-eeeeee')).catch((e: Error) => e);
      expect(String(error)).toContain(
        `${join(out, LATEST)} is a ${kind}, not the drill's link to the newest run: left as it is`,
      );
      expect(files.path).toBe(join(out, '20261124-084500-eeeeee', 'report.json'));
      expect(JSON.parse(await readFile(files.path ?? '', 'utf8')).runId).toBe('20261124-084500-eeeeee');
      if (kind === 'file') expect(await readFile(join(out, LATEST), 'utf8')).toBe('mine\n');
      else expect((await lstat(join(out, LATEST))).isDirectory()).toBe(true);
      expect((await readdir(out)).filter((name) => name.startsWith('.'))).toEqual([]);
    },
  );

  it('says there is no latest run where none wrote a report', async () => {
    expect(await latestRunId(join(dir, 'none'))).toBeUndefined();
  });

  it('keeps no password of the target in the report, also when handed a whole connection', async () => {
    // A caller passing the target's whole handle (which carries the connection) must not leak it.
    const handle = { ...target, connection: { host: '127.0.0.1', password: 's3cret' } };
    const path = await writeReport(join(dir, 'secret'), report('20261124-084500-eeeeee', handle));
    expect(await readFile(path, 'utf8')).not.toMatch(/s3cret/);
  });
});
