/**
 * A backup job turned schema-only (`pg_dumpall -s`, `pg_dump -Fc --schema-only`, `--exclude-table-data`)
 * restores cleanly every night and holds no row: empty tables that come back empty prove the schema,
 * not the data. With no canary to check, `--verify deep` of such a backup fails, saying so; the same
 * cluster's whole backup passes.
 */
import { createWriteStream } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executorFor } from '../lib/targets/attach.ts';
import type { StartedTarget } from '../lib/targets/target.ts';
import { psql, startTestCluster, toolOutput } from './support/cluster.ts';
import { deepDrill, readReport, runCli } from './support/run-cli.ts';

const AT = '2026-11-21-030000';
let source: StartedTarget;
let scratch: string;

beforeAll(async () => {
  source = await startTestCluster();
  await psql(source.handle, 'postgres', 'CREATE DATABASE app');
  await psql(
    source.handle,
    'app',
    `CREATE TABLE public.parent (id int PRIMARY KEY, name text);
     INSERT INTO public.parent SELECT g, 'p' || g FROM generate_series(1, 100) g;
     CREATE TABLE public.child (id int PRIMARY KEY, parent int REFERENCES public.parent);
     INSERT INTO public.child SELECT g, 1 + g % 100 FROM generate_series(1, 1900) g;`,
  );
  scratch = await mkdtemp(join(tmpdir(), 'drill-schema-only-'));
  await chmod(scratch, 0o777);
}, 120_000);

afterAll(async () => {
  await source?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

const NO_CANARY = ['--canary', 'none', '--target', 'local', '--temp-dir'];
const deepStep = (report: Awaited<ReturnType<typeof readReport>>) =>
  report.checks.find((c) => c.id === 'verify-every-table-matches-the-backup');

/** `pg_dump -Fc [flags] app` as the backup set's newest file. */
async function archive(name: string, flags: string[]): Promise<string> {
  const dir = join(scratch, name);
  await mkdir(dir);
  const file = join(dir, `postgres-backup-${AT}.dump`);
  const out = createWriteStream(file);
  const result = await (await executorFor(source.handle, process.env)).run(
    'pg_dump',
    ['-Fc', ...flags, '-d', 'app'],
    { stdout: out },
  );
  if (result.exitCode !== 0) throw new Error(`pg_dump -Fc: ${result.stderr}`);
  await finished(out);
  await chmod(file, 0o644);
  return dir;
}

describe('--verify deep of a backup that holds no row', () => {
  it('the whole pg_dumpall passes: 2000 rows compared', async () => {
    const dump = await toolOutput(source.handle, 'pg_dumpall', ['-w']);
    const { code, stdout, report } = await deepDrill(scratch, 'whole', dump, [...NO_CANARY, scratch]);
    expect(deepStep(report)?.message, stdout).toMatch(
      /^2 of 2 table\(s\) verified in 1 database\(s\), row for row \(2000 rows\)/,
    );
    expect(code, stdout).toBe(0);
  });

  it('pg_dumpall -s fails: 0 rows compared, a schema-only dump', async () => {
    const dump = await toolOutput(source.handle, 'pg_dumpall', ['-w', '-s']);
    expect(dump).not.toMatch(/^COPY /m);
    const { code, stdout, report } = await deepDrill(scratch, 'schema-only', dump, [...NO_CANARY, scratch]);
    expect(deepStep(report)?.status, stdout).toBe('failed');
    expect(deepStep(report)?.message).toBe(
      '2 of 2 table(s) verified, and 0 rows compared: the dump holds no row in any of its 2 table(s) (a schema-only dump: pg_dumpall -s, pg_dump --schema-only or --exclude-table-data), so nothing shows that its data restores; take the backup with its data',
    );
    expect([code, report.verdict], stdout).toEqual([1, 'failed']);
  });

  it.each([
    ['--schema-only', ['--schema-only']],
    ['--exclude-table-data', ['--exclude-table-data=public.*']],
  ])('pg_dump -Fc %s fails the same way', async (name, flags) => {
    const dir = await archive(`fc${name}`, flags);
    const reports = join(scratch, `fc${name}-report`);
    const { code, stdout } = await runCli([
      '--backups',
      dir,
      '--verify',
      'deep',
      '--progress',
      'off',
      '--report-dir',
      reports,
      ...NO_CANARY,
      scratch,
    ]);
    const report = await readReport(reports);
    expect(deepStep(report)?.message, stdout).toMatch(/^2 of 2 table\(s\) verified, and 0 rows compared: /);
    expect([code, report.verdict], stdout).toEqual([1, 'failed']);
  });
});
