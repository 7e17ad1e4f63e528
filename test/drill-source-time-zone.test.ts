/**
 * A source server whose own TimeZone is not UTC (postgresql.conf, ALTER SYSTEM): pg_dump writes every
 * timestamptz in it and no dump records it, so a read-back in UTC differs. The drill cannot know the
 * zone; its verdict must say what differs, why it may, and the setting that fixes it, and with that
 * setting the same backup passes.
 */
import { describe, expect, it } from 'vitest';
import { seedCanary } from '../lib/drill/seed.ts';
import { createDatabase, psql, toolOutput } from './support/cluster.ts';
import { drillSetup } from './support/drill-setup.ts';
import { deepDrill } from './support/run-cli.ts';

const setup = drillSetup('drill-source-tz-', {
  seed: async (handle) => {
    await seedCanary(handle, 'backup_test');
    await createDatabase(
      handle,
      'app',
      `CREATE TABLE plain (id int PRIMARY KEY, at timestamp, day date);
       INSERT INTO plain SELECT g, '2024-03-31 00:30'::timestamp + g * interval '1 hour', '2024-01-01'::date + g FROM generate_series(1, 20) g;
       CREATE DOMAIN moment AS timestamptz;
       CREATE TABLE events (id int PRIMARY KEY, span tstzrange, stamps moment[]);
       INSERT INTO events SELECT g, tstzrange('2024-03-31 00:30+00'::timestamptz + g * interval '1 hour', NULL), ARRAY['2024-10-27 00:30+00'::timestamptz + g * interval '30 minutes'] FROM generate_series(1, 20) g;`,
    );
    await psql(handle, 'postgres', "ALTER SYSTEM SET TimeZone = 'Europe/Berlin'");
    await psql(handle, 'postgres', 'SELECT pg_reload_conf()');
  },
  dump: false,
});

const args = () => ['--target', 'local', '--temp-dir', setup.scratch];
const deepStep = (report: Awaited<ReturnType<typeof deepDrill>>['report']) =>
  report.checks.find((c) => c.id === 'verify-every-table-matches-the-backup');

describe('a backup of a server whose TimeZone is not UTC', () => {
  it('fails in UTC naming the zoned tables and --source-time-zone; passes with it', async () => {
    const dump = await toolOutput(setup.source.handle, 'pg_dumpall', ['-w']);
    expect(dump).toMatch(/:\d\d\+0[12]\b/);
    const utc = await deepDrill(setup.scratch, 'utc', dump, args());
    const message = deepStep(utc.report)?.message ?? '';
    expect(message, utc.stdout).toMatch(/^1 of 4 table\(s\) verified; 3 differ from the dump: /);
    expect(message).toContain(
      "3 of the differing table(s) hold timestamptz values (app public.events, backup_test public.transactions, backup_test public.users), which pg_dump writes in the source server's TimeZone (no dump records it) and which were read back in UTC (--source-time-zone): if the source server's TimeZone is not UTC (`SHOW TimeZone` there), drill again with --source-time-zone set to it (DRILL_SOURCE_TIME_ZONE)",
    );
    expect(utc.code).toBe(1);
    const berlin = await deepDrill(setup.scratch, 'berlin', dump, [
      ...args(),
      '--source-time-zone',
      'Europe/Berlin',
    ]);
    expect(deepStep(berlin.report)?.message, berlin.stdout).toMatch(
      /^4 of 4 table\(s\) verified in 2 database\(s\)/,
    );
    expect(berlin.code).toBe(0);
  });
});
