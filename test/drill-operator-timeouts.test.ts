/**
 * The timeouts an operator sets for the applications (`ALTER ROLE|DATABASE … SET statement_timeout`, and
 * its two kin) come back with a pg_dumpall. They are the backup's, restored as they were, and must not
 * fail the drill's own sessions: its canary checks, its deep read-back of the largest table, its
 * constraint checks. A real cluster with all three at 1 ms: the drill passes, every table verified.
 */
import { describe, expect, it } from 'vitest';
import { seedCanary } from '../lib/drill/seed.ts';
import { createDatabase, psql } from './support/cluster.ts';
import { drillSetup } from './support/drill-setup.ts';
import { deepDrill } from './support/run-cli.ts';

/** Rows enough that no read of them fits in a millisecond. */
const ROWS = 200_000;

const setup = drillSetup('drill-operator-timeouts-', {
  seed: async (handle) => {
    await seedCanary(handle, 'backup_test');
    await createDatabase(
      handle,
      'app',
      `CREATE TABLE public.parent (id int PRIMARY KEY);
       INSERT INTO public.parent SELECT g FROM generate_series(1, 1000) g;
       CREATE TABLE public.big (id bigserial PRIMARY KEY, parent int REFERENCES public.parent, note text);
       INSERT INTO public.big (parent, note) SELECT 1 + g % 1000, md5(g::text) FROM generate_series(1, ${ROWS}) g;`,
    );
    await psql(
      handle,
      'postgres',
      `ALTER DATABASE app SET statement_timeout = '1ms';
       ALTER DATABASE app SET lock_timeout = '1ms';
       ALTER DATABASE app SET idle_in_transaction_session_timeout = '1ms';
       ALTER DATABASE backup_test SET statement_timeout = '1ms';`,
    );
    // Last: from here on every session of the role gets it, unless it says otherwise at connect.
    await psql(handle, 'postgres', `ALTER ROLE postgres SET statement_timeout = '1ms'`);
  },
  timeout: 180_000,
});

describe("an operator's timeouts in the backup", () => {
  it('are in the dump as the source had them', () => {
    expect(setup.goodDump).toContain("ALTER ROLE postgres SET statement_timeout TO '1ms';");
    expect(setup.goodDump).toContain("ALTER DATABASE app SET statement_timeout TO '1ms';");
    expect(setup.goodDump).toContain("ALTER DATABASE app SET idle_in_transaction_session_timeout TO '1ms';");
  });

  it("do not fail the drill's own sessions: canary, deep read-back and constraints pass", async () => {
    const { code, stdout, report } = await deepDrill(setup.scratch, 'timeouts', setup.goodDump, [
      '--target',
      'local',
      '--temp-dir',
      setup.scratch,
    ]);
    const step = (id: string) => report.checks.find((c) => c.id === id);
    expect(step('verify-users-are-exactly-alice-bob-and-charlie')?.status, stdout).toBe('passed');
    // The canary's two tables and app's two, the largest read back whole.
    expect(step('verify-every-table-matches-the-backup')?.message, stdout).toMatch(
      new RegExp(
        `^4 of 4 table\\(s\\) verified in 2 database\\(s\\), row for row \\(${ROWS + 1000 + 8} rows\\)`,
      ),
    );
    expect(step('verify-foreign-keys-and-sequences-in-every-database')?.status, stdout).toBe('passed');
    expect(report.verdict, stdout).toBe('passed');
    expect(code, stdout).toBe(0);
  });
});
