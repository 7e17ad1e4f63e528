/**
 * A backup job turned schema-only (`pg_dumpall -s`, `pg_dump -Fc --schema-only`, `--exclude-table-data`)
 * restores cleanly every night and holds no row: empty tables that come back empty prove the schema,
 * not the data. With no canary to check, `--verify deep` of such a backup fails, saying so; the same
 * cluster's whole backup passes.
 */
import { chmod, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createDatabase, dumpArchive, toolOutput } from './support/cluster.ts';
import { drillSetup } from './support/drill-setup.ts';
import { deepDrill, deepDrillOf, type readReport } from './support/run-cli.ts';

const setup = drillSetup('drill-schema-only-', {
  seed: async (handle) => {
    await createDatabase(
      handle,
      'app',
      `CREATE TABLE public.parent (id int PRIMARY KEY, name text);
       INSERT INTO public.parent SELECT g, 'p' || g FROM generate_series(1, 100) g;
       CREATE TABLE public.child (id int PRIMARY KEY, parent int REFERENCES public.parent);
       INSERT INTO public.child SELECT g, 1 + g % 100 FROM generate_series(1, 1900) g;`,
    );
  },
});

const noCanary = () => ['--canary', 'none', '--target', 'local', '--temp-dir', setup.scratch];
const deepStep = (report: Awaited<ReturnType<typeof readReport>>) =>
  report.checks.find((c) => c.id === 'verify-every-table-matches-the-backup');

describe('--verify deep of a backup that holds no row', () => {
  it('the whole pg_dumpall passes: 2000 rows compared', async () => {
    const { code, stdout, report } = await deepDrill(setup.scratch, 'whole', setup.goodDump, noCanary());
    expect(deepStep(report)?.message, stdout).toMatch(
      /^2 of 2 table\(s\) verified in 1 database\(s\), row for row \(2000 rows\)/,
    );
    expect(code, stdout).toBe(0);
  });

  it('pg_dumpall -s fails: 0 rows compared, a schema-only dump', async () => {
    const dump = await toolOutput(setup.source.handle, 'pg_dumpall', ['-w', '-s']);
    expect(dump).not.toMatch(/^COPY /m);
    const { code, stdout, report } = await deepDrill(setup.scratch, 'schema-only', dump, noCanary());
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
    const dir = join(setup.scratch, `fc${name}`);
    await mkdir(dir);
    const file = join(dir, 'postgres-backup-2026-11-21-030000.dump');
    await dumpArchive(setup.source.handle, 'app', 'custom', file, flags);
    await chmod(file, 0o644);
    const { code, stdout, report } = await deepDrillOf(
      dir,
      join(setup.scratch, `fc${name}-report`),
      noCanary(),
    );
    expect(deepStep(report)?.message, stdout).toMatch(/^2 of 2 table\(s\) verified, and 0 rows compared: /);
    expect([code, report.verdict], stdout).toEqual([1, 'failed']);
  });
});
