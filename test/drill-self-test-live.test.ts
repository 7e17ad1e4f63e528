/**
 * `--self-test` on a live server (`--target url --mode canary-copy`): every fault lands in the drill's
 * own restored copy, in transactions rolled back; the operator's canary and a bystander database are
 * byte for byte as they were, and the copy is gone afterwards.
 */
import { describe, expect, it } from 'vitest';
import { seedCanary } from '../lib/drill/seed.ts';
import { bytesChanged, createBystander, snapshotBystander } from './support/bystander.ts';
import { psql, writeBackup } from './support/cluster.ts';
import { drillSetup } from './support/drill-setup.ts';
import { startLiveServer } from './support/live-server.ts';
import { readReport, runCli } from './support/run-cli.ts';

const setup = drillSetup('drill-self-test-live-', {
  start: startLiveServer,
  seed: async (handle) => {
    await seedCanary(handle, 'backup_test');
    await createBystander(handle, 'self-test-bystander-password');
  },
});

/** The canary's rows, every column, as text. */
const canaryRows = () =>
  psql(
    setup.source.handle,
    'backup_test',
    "SELECT (SELECT string_agg(u::text, ';' ORDER BY u.id) FROM users u) || ' | ' || (SELECT string_agg(t::text, ';' ORDER BY t.id) FROM transactions t)",
  );

describe('--self-test on a live server', () => {
  it('faults only the drill copy, in rolled-back transactions: the canary and the bystander are untouched', async () => {
    const backups = await setup.freshDir('backups');
    await writeBackup(backups, '2026-11-21-030000', setup.goodDump);
    const reports = await setup.freshDir('reports');
    const [canaryBefore, bystanderBefore] = [
      await canaryRows(),
      await snapshotBystander(setup.source.handle),
    ];
    const run = await runCli(
      [
        '--target',
        'url',
        '--mode',
        'canary-copy',
        '--verify',
        'deep',
        '--self-test',
        '--progress',
        'off',
        '--backups',
        backups,
        '--report-dir',
        reports,
      ],
      setup.source.cliEnv,
    );
    expect(run.code, run.stdout).toBe(0);
    const report = await readReport(reports);
    const copy = `drill_${report.runId.replaceAll('-', '_')}`;
    expect(report.selfTest?.verdict).toBe('ok');
    const applied = report.selfTest?.faults.map((f) => f.applied) ?? [];
    expect(applied[2]).toMatch(new RegExp(`^${copy} \\(backup_test restored there\\): public\\.users\\.`));
    expect(applied[3]).toBe(`${copy}: public.users: user charlie (name) deleted`);
    expect(await canaryRows()).toBe(canaryBefore);
    expect(bytesChanged(bystanderBefore, await snapshotBystander(setup.source.handle))).toBe(0);
    expect(
      await psql(
        setup.source.handle,
        'postgres',
        "SELECT count(*) FROM pg_database WHERE datname LIKE 'drill\\_%'",
      ),
    ).toBe('0\n');
  });
});
