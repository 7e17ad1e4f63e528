/**
 * Canary mode on a live server: the section is restored beside the canary, verified there, and swapped
 * in by rename, so the canary is never missing or empty, a failed drill leaves it as it was, and what a
 * crashed drill left behind is recognised and cleaned up by the next drill that passes.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { seedCanary } from '../lib/drill/seed.ts';
import { connect, databaseComment, drillMark, withClient } from '../lib/pg/databases.ts';
import type { DrillReport } from '../lib/report/report.ts';
import { psql, writeBackup } from './support/cluster.ts';
import { drillSetup } from './support/drill-setup.ts';
import { startLiveServer } from './support/live-server.ts';
import { readReport, runCli, startCli } from './support/run-cli.ts';

const CANARY = 'backup_test';
const AT = '2026-11-21-030000';
/** What the canary holds, as seeded and as every good backup of it restores it. */
const WHOLE = { users: 3, transactions: 5 };
const OPERATOR_COMMENT = 'canary of the restore drills: do not write here';

const setup = drillSetup('canary-swap-', {
  start: startLiveServer,
  seed: async (handle) => {
    await seedCanary(handle, CANARY);
    // The operator's own comment on the canary: the backup carries it, and so must the swapped-in restore.
    await psql(handle, 'postgres', `COMMENT ON DATABASE ${CANARY} IS '${OPERATOR_COMMENT}'`);
  },
});

/** A backup directory holding `sql` as the newest backup, and a report directory. */
async function caseDirs(name: string, sql: string): Promise<{ backups: string; reports: string }> {
  const backups = await setup.freshDir(`${name}-backups`);
  await writeBackup(backups, AT, sql);
  return { backups, reports: await setup.freshDir(`${name}-report`) };
}

function canaryArgs(dirs: { backups: string; reports: string }, extra: string[] = []): string[] {
  return [
    '--target',
    'url',
    '--mode',
    'canary',
    '--backups',
    dirs.backups,
    '--report-dir',
    dirs.reports,
    ...extra,
  ];
}

/** The dump with `statement` inside the canary's section, after its data and before its constraints. */
function intoCanarySection(dump: string, statement: string): string {
  const banner = dump.indexOf(`-- Database "${CANARY}" dump`);
  const at = dump.indexOf('\nALTER TABLE ONLY public.transactions\n', banner);
  if (banner < 0 || at < 0) throw new Error('no canary section to put it in');
  return `${dump.slice(0, at + 1)}${statement}\n${dump.slice(at + 1)}`;
}

function check(report: DrillReport, id: string) {
  return report.checks.find((c) => c.id === id);
}

/** The canary's row counts read from a fresh session of its own (a bystander's application name). */
async function canaryCounts(): Promise<{ users: number; transactions: number } | { tables: number }> {
  const client = await connect(setup.source.handle.connection, CANARY, 'canary-reader');
  try {
    const { rows } = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public' AND tablename IN ('users', 'transactions')`,
    );
    if (rows[0]?.n !== 2) return { tables: rows[0]?.n ?? -1 };
    const users = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM public.users');
    const tx = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM public.transactions');
    return { users: users.rows[0]?.n ?? -1, transactions: tx.rows[0]?.n ?? -1 };
  } finally {
    await client.end();
  }
}

async function canaryOid(): Promise<number | undefined> {
  return withClient(setup.source.handle.connection, 'postgres', async (client) => {
    const { rows } = await client.query<{ oid: number }>(
      'SELECT oid::int AS oid FROM pg_database WHERE datname = $1',
      [CANARY],
    );
    return rows[0]?.oid;
  });
}

async function canaryComment(): Promise<string | null | undefined> {
  return withClient(setup.source.handle.connection, 'postgres', (client) => databaseComment(client, CANARY));
}

async function drillDatabases(): Promise<string[]> {
  return withClient(setup.source.handle.connection, 'postgres', async (client) => {
    const { rows } = await client.query<{ datname: string }>(
      `SELECT datname FROM pg_database WHERE datname LIKE 'drill\\_%' ORDER BY 1`,
    );
    return rows.map((r) => r.datname);
  });
}

/**
 * Reads the canary from another connection, over and over, until stopped: every reading, and whether
 * pg_database listed it each time. A connection that raced the rename (it waited on the swap's lock and
 * then found the name moved on: "It seems to have just been dropped or renamed") is tried again and
 * counted, never taken for a missing canary.
 */
function pollCanary() {
  const readings = new Map<string, number>();
  let raced = 0;
  let stopped = false;
  const note = (what: string) => readings.set(what, (readings.get(what) ?? 0) + 1);
  const loop = (async () => {
    const catalog = await connect(setup.source.handle.connection, 'postgres', 'canary-poller');
    try {
      while (!stopped) {
        const listed = await catalog.query('SELECT 1 FROM pg_database WHERE datname = $1', [CANARY]);
        if (listed.rows.length === 0) note('not in pg_database');
        try {
          note(JSON.stringify(await canaryCounts()));
        } catch (error) {
          const e = error as { code?: string; detail?: string; message: string };
          if (e.code === '3D000' && /just been dropped or renamed/.test(e.detail ?? '')) raced++;
          else note(`error: ${e.message}`);
        }
        await sleep(20);
      }
    } finally {
      await catalog.end();
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return { readings: Object.fromEntries(readings), raced };
    },
  };
}

describe('canary mode on a live server', () => {
  it('a drill whose section fails mid-way leaves the canary as it was; the next good drill swaps in its verified restore; no reader ever finds the canary missing or empty', async () => {
    const poller = pollCanary();
    const oidBefore = await canaryOid();
    let readings: Awaited<ReturnType<ReturnType<typeof pollCanary>['stop']>>;
    let failed: Awaited<ReturnType<typeof runCli>>;
    let passed: Awaited<ReturnType<typeof runCli>>;
    const broken = await caseDirs('broken', intoCanarySection(setup.goodDump, 'SELECT no_such_function();'));
    const good = await caseDirs('good', setup.goodDump);
    let oidBetween: number | undefined;
    let leftBetween: string[];
    try {
      failed = await runCli(canaryArgs(broken), setup.source.cliEnv);
      oidBetween = await canaryOid();
      leftBetween = await drillDatabases();
      passed = await runCli(canaryArgs(good), setup.source.cliEnv);
    } finally {
      readings = await poller.stop();
    }
    const first = await readReport(broken.reports);
    const second = await readReport(good.reports);

    expect(failed.code, failed.stdout).toBe(1);
    expect(check(first, 'restore-completed')?.status).toBe('failed');
    expect(check(first, 'restore-completed')?.message).toMatch(
      /^Restore failed: the dump hit an error and psql stopped there \(ON_ERROR_STOP\); the section of backup_test was rolled back: line \d+: ERROR 42883: function no_such_function\(\) does not exist$/,
    );
    const notSwapped = check(first, 'swap-verified-restore-replaces-the-canary');
    expect(notSwapped?.status).toBe('skipped');
    expect(notSwapped?.message).toBe(
      'not run: `restore: completed` did not pass, and this check needs a completed restore',
    );
    // The failed drill touched nothing of the canary and took its scratch restore with it.
    expect([oidBetween, leftBetween]).toEqual([oidBefore, []]);

    expect(passed.code, passed.stdout).toBe(0);
    expect(second.checks.map((c) => [c.name, c.status])).toEqual([
      ['backup: newest backup found', 'passed'],
      ['precheck: backup is whole', 'passed'],
      ['precheck: dump fits the target', 'passed'],
      ['precheck: canary snapshot taken', 'passed'],
      ['restore: completed', 'passed'],
      ['restore: within the RTO budget', 'passed'],
      ['verify: canary exists again', 'passed'],
      ['verify: users are exactly alice, bob and charlie', 'passed'],
      ['verify: transactions are as expected', 'passed'],
      ['verify: canary foreign key present', 'passed'],
      ['verify: foreign keys validated, no orphans', 'passed'],
      ['verify: sequences beyond their columns', 'passed'],
      ['verify: every table matches the backup', 'skipped'],
      ['verify: foreign keys and sequences in every database', 'skipped'],
      ['swap: verified restore replaces the canary', 'passed'],
    ]);
    const swap = check(second, 'swap-verified-restore-replaces-the-canary');
    const scratchName = `drill_${second.runId.replaceAll('-', '_')}`;
    expect(swap?.message).toBe(
      `${scratchName} (verified) renamed to ${CANARY}, in one transaction with the previous ${CANARY} renamed to ${scratchName}_old, then dropped`,
    );
    // The canary is now the database that was verified, under the canary's name, and nothing else is left.
    expect(await canaryOid()).not.toBe(oidBefore);
    expect(await drillDatabases()).toEqual([]);
    expect(await canaryCounts()).toEqual(WHOLE);
    // The drill's mark went with the scratch name: the canary carries the backup's own comment.
    expect(await canaryComment()).toBe(OPERATOR_COMMENT);

    // Throughout both drills the canary was there, whole, at every reading.
    expect(Object.keys(readings.readings)).toEqual([JSON.stringify(WHOLE)]);
    expect(readings.readings[JSON.stringify(WHOLE)]).toBeGreaterThan(10);
  }, 300_000);

  it('recognises what a crashed drill left (an empty canary, its scratch restore, the canary it replaced), names the run, and the next passing drill replaces and drops exactly those', async () => {
    const crashedRun = '20261130-010203-abcdef';
    const olderRun = '20261129-010203-123456';
    const crashedScratch = 'drill_20261130_010203_abcdef';
    const olderReplaced = 'drill_20261129_010203_123456_old';
    // What the earlier drill flow left after a failed restore: the canary, created, without its tables.
    await psql(setup.source.handle, 'postgres', `DROP DATABASE ${CANARY} WITH (FORCE)`);
    await psql(setup.source.handle, 'postgres', `CREATE DATABASE ${CANARY}`);
    // A scratch restore as a drill killed mid-restore leaves it: created, marked, half restored.
    await psql(setup.source.handle, 'postgres', `CREATE DATABASE ${crashedScratch}`);
    await psql(
      setup.source.handle,
      'postgres',
      `COMMENT ON DATABASE ${crashedScratch} IS ${pg.escapeLiteral(drillMark(crashedRun, 'scratch', CANARY, 'renamed to the canary once verified, else dropped'))}`,
    );
    await psql(setup.source.handle, crashedScratch, 'CREATE TABLE users (id int)');
    await psql(setup.source.handle, 'postgres', `CREATE DATABASE ${olderReplaced}`);
    await psql(
      setup.source.handle,
      'postgres',
      `COMMENT ON DATABASE ${olderReplaced} IS ${pg.escapeLiteral(drillMark(olderRun, 'replaced', CANARY, 'dropped right after the swap'))}`,
    );
    // Named like the drill's, but not proven: one without a mark, one whose mark names another database.
    await psql(setup.source.handle, 'postgres', 'CREATE DATABASE drill_someone_elses');
    await psql(setup.source.handle, 'postgres', 'CREATE DATABASE drill_forged');
    await psql(
      setup.source.handle,
      'postgres',
      `COMMENT ON DATABASE drill_forged IS ${pg.escapeLiteral(drillMark(crashedRun, 'scratch', CANARY, 'x'))}`,
    );
    try {
      const dirs = await caseDirs('leftovers', setup.goodDump);
      const run = await runCli(canaryArgs(dirs), setup.source.cliEnv);
      const report = await readReport(dirs.reports);
      expect(run.code, run.stdout).toBe(0);
      const snapshot = check(report, 'precheck-canary-snapshot-taken');
      expect(snapshot?.message).toBe(
        `${CANARY} is empty (it exists without a single table): left broken by an earlier run (it carries no drill mark: an earlier version of the drill, or by hand); nothing to snapshot, the restored rows are held to the canary's contract; the verified restore replaces it; 2 leftover(s) of earlier runs that did not finish: ${olderReplaced} (run ${olderRun}, the canary it replaced), ${crashedScratch} (run ${crashedRun}, its scratch restore); dropped when a --mode canary drill passes; drill_forged, drill_someone_elses named like the drill's databases but without a drill mark that proves it: never dropped by the drill`,
      );
      expect(snapshot?.facts.leftovers).toEqual([
        { database: olderReplaced, runId: olderRun, role: 'replaced' },
        { database: crashedScratch, runId: crashedRun, role: 'scratch' },
      ]);
      const scratchName = `drill_${report.runId.replaceAll('-', '_')}`;
      expect(check(report, 'swap-verified-restore-replaces-the-canary')?.message).toBe(
        `${scratchName} (verified) renamed to ${CANARY}, in one transaction with the empty ${CANARY} an earlier run left renamed to ${scratchName}_old, then dropped; dropped the leftovers of earlier runs: ${olderReplaced}, ${crashedScratch}`,
      );
      expect([await canaryCounts(), await canaryComment()]).toEqual([WHOLE, OPERATOR_COMMENT]);
      expect(await drillDatabases()).toEqual(['drill_forged', 'drill_someone_elses']);
    } finally {
      await psql(setup.source.handle, 'postgres', 'DROP DATABASE IF EXISTS drill_forged');
      await psql(setup.source.handle, 'postgres', 'DROP DATABASE IF EXISTS drill_someone_elses');
    }
  });

  it('fails the swap, naming the session, when someone else is connected to the canary, and leaves the canary as it was', async () => {
    const oidBefore = await canaryOid();
    const someone = await connect(setup.source.handle.connection, CANARY, 'reporting-app');
    try {
      const dirs = await caseDirs('busy', setup.goodDump);
      const run = await runCli(canaryArgs(dirs), setup.source.cliEnv);
      const report = await readReport(dirs.reports);
      const pid = (await someone.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
      expect(run.code, run.stdout).toBe(1);
      const swap = check(report, 'swap-verified-restore-replaces-the-canary');
      expect([swap?.status, swap?.code]).toEqual(['failed', 'DRILL_CANARY_BUSY']);
      const scratchName = `drill_${report.runId.replaceAll('-', '_')}`;
      expect(swap?.message).toBe(
        `Cannot swap the verified restore in: 1 session(s) that are not the drill's are connected (pid ${pid} on ${CANARY}, user postgres, application 'reporting-app' from 127.0.0.1) and did not leave within 10 s; renaming a database needs it idle. ${CANARY} is left as it was; ${scratchName} is dropped. Run the drill when nothing else is connected to ${CANARY}, or use --mode canary-copy.`,
      );
      // Its session was not ended, the canary is the same database, whole, and the scratch is gone.
      expect((await someone.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      expect(await canaryOid()).toBe(oidBefore);
      expect(await drillDatabases()).toEqual([]);
    } finally {
      await someone.end();
    }
    expect(await canaryCounts()).toEqual(WHOLE);
  });

  it('a canary another session holds exclusively: exit 2 within the lock wait, naming that session; nothing restored, the canary as it was', async () => {
    const oidBefore = await canaryOid();
    const migration = await connect(setup.source.handle.connection, CANARY, 'schema-migration');
    await migration.query('BEGIN');
    await migration.query('LOCK TABLE public.users IN ACCESS EXCLUSIVE MODE');
    const pid = (await migration.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
    try {
      const dirs = await caseDirs('locked', setup.goodDump);
      const run = await runCli(canaryArgs(dirs), setup.source.cliEnv);
      const report = await readReport(dirs.reports);
      expect([run.code, report.verdict], run.stdout).toEqual([2, 'error']);
      const snapshot = check(report, 'precheck-canary-snapshot-taken');
      expect(snapshot?.status).toBe('failed');
      expect(snapshot?.message).toMatch(
        new RegExp(
          `^The canary's tables \\(public\\.users, public\\.transactions\\) are locked by another session: waited 10 s to read them and touched nothing\\. pid ${pid} \\(user postgres, application schema-migration, idle in transaction, in a transaction since [^)]+\\) holds AccessExclusiveLock on public\\.users\\. End that session`,
        ),
      );
      // Said by the lock wait, not by the step's timeout; nothing after it ran: no restore beside the canary.
      expect(check(report, 'restore-completed')?.status).toBe('skipped');
      expect(await drillDatabases()).toEqual([]);
      expect(await canaryOid()).toBe(oidBefore);
    } finally {
      await migration.query('ROLLBACK');
      await migration.end();
    }
    expect(await canaryCounts()).toEqual(WHOLE);
  });

  it('on SIGTERM mid-restore leaves the canary as it was and drops its scratch restore', async () => {
    const oidBefore = await canaryOid();
    // Longer than this test may take: the drill must end the stopped psql's session (which holds a lock
    // on the scratch database since the section's COMMENT ON DATABASE) before it can drop the scratch.
    const dirs = await caseDirs('sigterm', intoCanarySection(setup.goodDump, 'SELECT pg_sleep(600);'));
    const run = startCli(canaryArgs(dirs), setup.source.cliEnv);
    await run.waitFor(/precheck: canary snapshot taken/);
    // Wait for the restore's psql to sit in the section's pg_sleep, in the scratch database.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const sleeping = await psql(
        setup.source.handle,
        'postgres',
        `SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(600);' AND datname LIKE 'drill\\_%'`,
      );
      if (sleeping === '1\n') break;
      if (Date.now() > deadline) throw new Error('the restore never reached its pg_sleep');
      await sleep(100);
    }
    run.child.kill('SIGTERM');
    const { code, stdout } = await run.done;
    expect(code, stdout).toBe(143);
    expect((await readReport(dirs.reports)).verdict).toBe('interrupted');
    expect(await canaryOid()).toBe(oidBefore);
    expect(await canaryCounts()).toEqual(WHOLE);
    expect(await drillDatabases()).toEqual([]);
  });

  it('canary-copy restores and verifies a copy beside the canary, drops the copy, and never touches the canary', async () => {
    const oidBefore = await canaryOid();
    const dirs = await caseDirs('copy', setup.goodDump);
    const run = await runCli(
      ['--target', 'url', '--mode', 'canary-copy', '--backups', dirs.backups, '--report-dir', dirs.reports],
      setup.source.cliEnv,
    );
    const report = await readReport(dirs.reports);
    expect(run.code, run.stdout).toBe(0);
    const copy = `drill_${report.runId.replaceAll('-', '_')}`;
    expect(report.checks.map((c) => [c.name, c.status, c.message]).slice(3, 6)).toEqual([
      [
        'drop: canary snapshot taken',
        'passed',
        '3 row(s) of public.users (names in name), 5 of public.transactions before the drop',
      ],
      [
        'drop: canary dropped and gone',
        'passed',
        `copy mode: ${CANARY} is left alone; its section is restored as ${copy}`,
      ],
      [
        'restore: completed',
        'passed',
        expect.stringMatching(
          new RegExp(
            `^\\d+\\.\\d\\d s for the \\d+ bytes of ${CANARY}'s section, restored into ${copy} in one transaction$`,
          ),
        ),
      ],
    ]);
    expect(report.checks.map((c) => c.name)).not.toContain('swap: verified restore replaces the canary');
    expect([await canaryOid(), await canaryComment(), await drillDatabases()]).toEqual([
      oidBefore,
      OPERATOR_COMMENT,
      [],
    ]);
  });

  it('stops a restore at the RTO ceiling: the RTO step says the real RTO is over the ceiling; the canary stays as it was', async () => {
    const oidBefore = await canaryOid();
    const dirs = await caseDirs('ceiling', slowDumpInCanary());
    const run = await runCli(canaryArgs(dirs, ['--rto', '1', '--rto-ceiling', '2']), setup.source.cliEnv);
    const report = await readReport(dirs.reports);
    expect(run.code, run.stdout).toBe(1);
    const restore = check(report, 'restore-completed');
    expect([restore?.status, restore?.code]).toEqual(['failed', 'DRILL_RESTORE_TIMEOUT']);
    expect(restore?.message).toMatch(
      /^Restore stopped at the RTO ceiling of 2 s after \d+\.\d s \(budget 1 s\): the real RTO is longer \(\d+ bytes of SQL replayed by then\); the section of backup_test was rolled back\.$/,
    );
    const rto = check(report, 'restore-within-the-rto-budget');
    expect(rto?.status).toBe('failed');
    expect(rto?.message).toMatch(
      /^stopped at the ceiling after (\d+\.\d\d) s; the real RTO is over \1 s \(budget 1 s, ceiling 2 s\)$/,
    );
    expect(rto?.facts).toMatchObject({ stoppedAtCeiling: true, rtoBudgetSeconds: 1, rtoCeilingSeconds: 2 });
    expect(await canaryOid()).toBe(oidBefore);
    expect(await canaryCounts()).toEqual(WHOLE);
    expect(await drillDatabases()).toEqual([]);
  });
});

/** The good dump with a minute-long statement in the canary's section. */
function slowDumpInCanary(): string {
  return intoCanarySection(setup.goodDump, 'SELECT pg_sleep(60);');
}
