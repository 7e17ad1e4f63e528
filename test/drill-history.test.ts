/**
 * The drill history end to end: real drills append their line (the report directory's history.jsonl,
 * or in a Job's pod the ConfigMap pg-restore-drill-history on the fake API), `history` prints it newest
 * first with the RTO trend, and a history that cannot be recorded is listed without changing the verdict.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  appendHistoryConfigMap,
  HISTORY_CONFIGMAP,
  HISTORY_KEY,
  HISTORY_MAX_ENTRIES,
} from '../lib/k8s/history-configmap.ts';
import { loadKubeConfig } from '../lib/k8s/kube-config.ts';
import { type HistoryEntry, historyEntry, parseHistory } from '../lib/report/history.ts';
import type { DrillReport } from '../lib/report/report.ts';
import { type FakeKubeApi, startFakeKubeApi } from './support/fake-kube-api.ts';
import { type FakeConfigMaps, serveConfigMaps } from './support/fake-kube-configmaps.ts';
import { readReport, runCli } from './support/run-cli.ts';

let fake: FakeKubeApi;
let configMaps: FakeConfigMaps;
let scratch: string;

beforeAll(async () => {
  fake = await startFakeKubeApi();
  configMaps = serveConfigMaps(fake);
  scratch = await mkdtemp(join(tmpdir(), 'drill-history-test-'));
});
afterAll(async () => {
  await fake?.close();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** What a run's line must say: the report it summarises, field for field. */
function expectedEntry(report: DrillReport): HistoryEntry {
  return historyEntry(report, 'cluster');
}

function historyEntryFixture(): HistoryEntry {
  return {
    time: '2026-12-01T03:00:00.000Z',
    runId: 'fixture',
    backup: 'postgres-backup-2026-12-01-030000.sql.gz',
    rpoSeconds: 60,
    rtoSeconds: 1.5,
    verdict: 'passed',
    tablesVerified: 3,
    mode: 'cluster',
    target: 'url',
  };
}

/** A drill in a pod of its Job, as the CronJob runs it: the history goes to the ConfigMap. */
function podEnv(): NodeJS.ProcessEnv {
  return {
    KUBERNETES_SERVICE_HOST: '127.0.0.1',
    KUBECONFIG: fake.kubeconfigPath,
    DRILL_JOB_NAME: 'pg-restore-drill-29000000',
    DRILL_JOB_UID: '0a6f2f8e-0000-4000-8000-0000000000aa',
    POD_NAMESPACE: 'data',
    POD_NAME: 'pg-restore-drill-29000000-abcde',
  };
}

describe('locally: <report-dir>/history.jsonl', () => {
  it('two drills at once into one report directory each add their line; `history` lists them newest first with the RTO trend', async () => {
    const reports = join(scratch, 'local');
    const runs = await Promise.all([runCli(['--report-dir', reports]), runCli(['--report-dir', reports])]);
    expect(runs.map((r) => r.code)).toEqual([0, 0]);
    const ids = runs.map((r) => /^pg-restore-drill (\S+): /m.exec(r.stdout)?.[1] ?? '');
    const reportsById = await Promise.all(
      ids.map(
        async (id) => JSON.parse(await readFile(join(reports, id, 'report.json'), 'utf8')) as DrillReport,
      ),
    );
    const { entries, badLines } = parseHistory(await readFile(join(reports, 'history.jsonl'), 'utf8'));
    expect(badLines).toEqual([]);
    const byRun = (list: HistoryEntry[]) => [...list].sort((a, b) => a.runId.localeCompare(b.runId));
    expect(byRun(entries)).toEqual(byRun(reportsById.map(expectedEntry)));
    for (const run of runs) expect(run.stdout).toContain(`\n  history   ${join(reports, 'history.jsonl')}\n`);

    // By finish time, not by line: the drill that finished first may append second. (A tie in the
    // millisecond keeps the line order: the later line is the newer run.)
    const newestFirst = [...entries].sort((a, b) => a.time.localeCompare(b.time)).reverse();
    const json = await runCli(['history', '--report-dir', reports, '--json']);
    expect(json.code, json.stderr).toBe(0);
    const listed = JSON.parse(json.stdout) as {
      runs: (HistoryEntry & { rtoDeltaSeconds: number | null })[];
      rtoTrend: { runs: number; changeSeconds: number } | null;
    };
    const [newer, older] = newestFirst as [HistoryEntry, HistoryEntry];
    const change = Math.round(((newer.rtoSeconds ?? 0) - (older.rtoSeconds ?? 0)) * 100) / 100;
    expect(listed.runs.map((r) => [r.runId, r.rtoDeltaSeconds])).toEqual([
      [newer.runId, change],
      [older.runId, null],
    ]);
    expect(listed.rtoTrend).toMatchObject({ runs: 2, changeSeconds: change });

    const table = await runCli(['history', '--report-dir', reports]);
    expect(table.code, table.stderr).toBe(0);
    const lines = table.stdout.split('\n');
    expect(lines[0]).toBe(`Drill history from ${join(reports, 'history.jsonl')}, newest first (2 run(s)):`);
    expect(lines[1]).toMatch(/^FINISHED \(UTC\) +VERDICT +RTO +ΔRTO +RPO +TABLES +MODE +TARGET +BACKUP$/);
    expect(lines.slice(2, 4).map((l) => l.split(/ {2,}/)[1])).toEqual(['passed', 'passed']);
    expect(lines[2]).toContain(newer.backup ?? '?');
    expect(lines.at(-2)).toMatch(
      /^RTO trend over the 2 runs that restored: \d+\.\d\d s → \d+\.\d\d s \([+-]?\d+\.\d\d s/,
    );
  });

  it('`history` on a directory no drill wrote to says so and exits 2', async () => {
    const { code, stderr } = await runCli(['history', '--report-dir', join(scratch, 'nothing-here')]);
    expect(code).toBe(2);
    expect(stderr).toContain(
      `No drill history in ${join(scratch, 'nothing-here')} (history.jsonl is written`,
    );
  });
});

describe('in the cluster: the ConfigMap pg-restore-drill-history', () => {
  beforeEach(() => {
    fake.forbidden = [];
    configMaps.hang = false;
    configMaps.interleave = undefined;
    configMaps.served.length = 0;
  });

  it('the first drill creates it; the next one, racing another writer, re-reads on 409 and keeps both lines', async () => {
    const first = await runCli(['--report-dir', join(scratch, 'pod-1')], podEnv());
    expect(first.code, first.stdout).toBe(0);
    expect(configMaps.served.map((s) => `${s.verb} ${s.status}`)).toEqual(['get 404', 'create 201']);
    const firstReport = await readReport(join(scratch, 'pod-1'));

    const other = { ...expectedEntry(firstReport), runId: 'another-drill' };
    configMaps.interleave = (maps) => {
      const current = maps.get('data', HISTORY_CONFIGMAP);
      const text = `${current?.data?.[HISTORY_KEY] ?? ''}${JSON.stringify(other)}\n`;
      maps.put({ ...current, data: { [HISTORY_KEY]: text } });
    };
    configMaps.served.length = 0;
    const second = await runCli(['--report-dir', join(scratch, 'pod-2')], podEnv());
    expect(second.code, second.stdout).toBe(0);
    expect(configMaps.served.map((s) => `${s.verb} ${s.status}`)).toEqual([
      'get 200',
      'patch 409',
      'get 200',
      'patch 200',
    ]);
    const secondReport = await readReport(join(scratch, 'pod-2'));
    const stored = configMaps.get('data', HISTORY_CONFIGMAP)?.data?.[HISTORY_KEY] ?? '';
    expect(parseHistory(stored).entries).toEqual([
      expectedEntry(firstReport),
      other,
      expectedEntry(secondReport),
    ]);
    expect(second.stdout).toContain(
      `\n  history   configmap data/${HISTORY_CONFIGMAP} (3 entries; get, patch, get, patch)\n`,
    );
    // The only writes were patches carrying the resourceVersion read: no blind overwrite, no update.
    const writes = fake.requests.filter((r) => r.path.includes('/configmaps') && r.method !== 'GET');
    expect(writes.map((r) => r.method)).toEqual(['POST', 'PATCH', 'PATCH']);
    for (const patch of writes.slice(1)) {
      expect((patch.body as { metadata?: { resourceVersion?: string } }).metadata?.resourceVersion).toMatch(
        /^\d+$/,
      );
    }

    const listed = await runCli(['history', '--kube', '--kubeconfig', fake.kubeconfigPath, '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    const runs = (JSON.parse(listed.stdout) as { source: string; runs: HistoryEntry[] }).runs;
    expect(runs.map((r) => r.runId)).toEqual([secondReport.runId, 'another-drill', firstReport.runId]);
  });

  it('a history the Role may not patch is listed as NOT recorded; the verdict stays PASSED', async () => {
    fake.forbidden = [{ verb: 'patch', resource: 'configmaps' }];
    const { code, stdout } = await runCli(['--report-dir', join(scratch, 'pod-forbidden')], podEnv());
    expect(code, stdout).toBe(0);
    expect(stdout).toMatch(/^pg-restore-drill: PASSED/m);
    expect(stdout).toMatch(
      /\n {2}history {3}NOT recorded: Forbidden: the API server refused to patch configmaps "pg-restore-drill-history" in namespace data .*verbs: \["patch"\]/,
    );
  });

  it('an API server that never answers: the call gives up after 5 s, listed as NOT recorded, the verdict stands', async () => {
    configMaps.hang = true;
    const { code, stdout } = await runCli(['--report-dir', join(scratch, 'pod-hang')], podEnv());
    expect(code, stdout).toBe(0);
    expect(stdout).toContain(
      `\n  history   NOT recorded: The API server did not answer within 5 s when trying to get configmaps "${HISTORY_CONFIGMAP}" in namespace data: is it reachable from here (a NetworkPolicy's egress to the API server)?\n`,
    );
  });

  it('a missing ConfigMap the Role may not create: the error says to apply the manifest that ships it', async () => {
    fake.forbidden = [{ verb: 'create', resource: 'configmaps' }];
    const { kubeConfig } = loadKubeConfig({ env: {}, kubeconfig: fake.kubeconfigPath, namespace: 'fresh' });
    const entry = { ...historyEntryFixture(), runId: 'first' };
    await expect(
      appendHistoryConfigMap({ kubeConfig, namespace: 'fresh', name: HISTORY_CONFIGMAP }, entry),
    ).rejects.toThrow(
      `configmap ${HISTORY_CONFIGMAP} does not exist in fresh, and the drill's Role may not create it (it needs only get and patch once it exists): apply it with kubectl apply -k k8s/`,
    );
    expect(configMaps.served.map((s) => `${s.verb} ${s.status}`)).toEqual(['get 404', 'create 403']);
  });

  it('keeps only the newest entries, so the ConfigMap stays far below its 1 MiB', async () => {
    const { kubeConfig } = loadKubeConfig({ env: {}, kubeconfig: fake.kubeconfigPath, namespace: 'bounded' });
    const entry = (i: number): HistoryEntry => ({
      time: new Date(Date.UTC(2026, 0, 1 + i)).toISOString(),
      runId: `run-${i}`,
      backup: `postgres-backup-2026-01-${String(i + 1).padStart(2, '0')}-030000.sql.gz`,
      rpoSeconds: 86_399,
      rtoSeconds: 1234.56,
      verdict: 'passed',
      tablesVerified: 12_345,
      mode: 'canary-copy (self-contained)',
      target: 'container',
    });
    for (let i = 0; i < 5; i++) {
      await appendHistoryConfigMap(
        { kubeConfig, namespace: 'bounded', name: HISTORY_CONFIGMAP, maxEntries: 3 },
        entry(i),
      );
    }
    const stored = configMaps.get('bounded', HISTORY_CONFIGMAP)?.data?.[HISTORY_KEY] ?? '';
    expect(parseHistory(stored).entries.map((e) => e.runId)).toEqual(['run-2', 'run-3', 'run-4']);
    const line = Buffer.byteLength(`${JSON.stringify(entry(0))}\n`);
    expect(line * HISTORY_MAX_ENTRIES).toBeLessThan(1024 * 1024 * 0.25);
  });
});
