/**
 * The canary contract discovered on a canary made by hand (other column names, its own schema, a
 * superuser search_path in the dump), expectations recorded once (from the live server and from a
 * backup) and checked by later drills, and the operator's own assertions: the CLI against real servers,
 * with backups made by a real pg_dumpall.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { DrillReport } from '../lib/report/report.ts';
import type { StartedTarget } from '../lib/targets/target.ts';
import { createAwkwardDatabases, dumpAllBytes } from './support/awkward-cluster.ts';
import {
  dumpAll,
  psql,
  startTestCluster,
  toolOutput,
  writeBackup,
  writeBackupBytes,
} from './support/cluster.ts';
import { drillSetup } from './support/drill-setup.ts';
import { startLiveServer } from './support/live-server.ts';
import { readReport, runCli } from './support/run-cli.ts';

/** The operator's canary, made long ago by hand: nothing of it is named as in our fixture. */
const BANK_CANARY = `
CREATE SCHEMA bank;
CREATE TABLE bank.users (
  user_id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  username varchar(40) NOT NULL UNIQUE,
  email text,
  joined timestamptz NOT NULL DEFAULT '2020-01-02 03:04:05+00'
);
CREATE TABLE bank.transactions (
  txn_id serial PRIMARY KEY,
  account integer NOT NULL REFERENCES bank.users (user_id),
  value numeric(12, 2) NOT NULL,
  memo text
);
INSERT INTO bank.users (username, email) VALUES
  ('alice', 'alice@example.com'), ('bob', NULL), ('charlie', 'c@example.com');
INSERT INTO bank.transactions (account, value, memo) VALUES
  (1, 100.00, 'opening'), (2, 250.50, 'opening'), (3, 75.25, E'tab\\there'), (1, -20.00, 'coffee'), (2, -99.99, NULL);
`;

const APP = `
CREATE TABLE public.orders (id int PRIMARY KEY, placed timestamptz NOT NULL DEFAULT now());
INSERT INTO public.orders (id) SELECT g FROM generate_series(1, 10) g;
`;

const setup = drillSetup('drill-expect-test-', {
  start: startLiveServer,
  seed: async (handle) => {
    await psql(handle, 'postgres', 'CREATE DATABASE backup_test');
    await psql(handle, 'backup_test', BANK_CANARY);
    await psql(handle, 'postgres', 'CREATE DATABASE app');
    await psql(handle, 'app', APP);
    // The dump carries it, and the restored server applies it to the drill's own sessions.
    await psql(handle, 'postgres', 'ALTER ROLE postgres SET search_path = admin, pg_catalog');
  },
});

async function backupDir(name: string, dump: string): Promise<string> {
  const dir = await setup.freshDir(name);
  await writeBackup(dir, '2026-11-30-030000', dump);
  return dir;
}

/**
 * Runs the drill on the backup directory `dir` with a fresh report directory `name-report` and the
 * scratch --temp-dir, then `extra`; returns the run and the report directory.
 */
async function drillOn(name: string, dir: string, extra: string[] = []) {
  const reports = await setup.freshDir(`${name}-report`);
  const run = await runCli([
    '--backups',
    dir,
    '--report-dir',
    reports,
    '--temp-dir',
    setup.scratch,
    ...extra,
  ]);
  return { ...run, reports };
}

function check(report: DrillReport, name: string) {
  const found = report.checks.find((c) => c.name === name);
  if (!found) throw new Error(`no check ${name} in ${report.checks.map((c) => c.name).join(', ')}`);
  return found;
}

const USERS = 'verify: users are exactly alice, bob and charlie';
const TRANSACTIONS = 'verify: transactions are as expected';
const FOREIGN_KEY = 'verify: canary foreign key present';

describe('a canary made by hand', () => {
  it('restores into a throwaway server and passes, naming the column that holds the names', async () => {
    const dir = await backupDir('bank-good', setup.goodDump);
    const { code, stdout, reports } = await drillOn('bank-good', dir);
    expect(code, stdout).toBe(0);
    const report = await readReport(reports);
    expect(check(report, USERS).message).toBe(
      'bank.users.username holds exactly alice, bob, charlie (other columns not compared: no snapshot (the target held no canary before the restore) and no --expect (record one with `pg-restore-drill record`))',
    );
    expect(check(report, USERS).facts).toMatchObject({ table: 'bank.users', nameColumn: 'username' });
    expect(check(report, TRANSACTIONS).message).toBe(
      '5 row(s) in bank.transactions, each pointing at a canary user (account → bank.users.user_id); contents not compared against anything: no snapshot (the target held no canary before the restore) and no --expect (record one with `pg-restore-drill record`)',
    );
    expect(check(report, FOREIGN_KEY).message).toBe(
      'bank.transactions → bank.users foreign key present (transactions_account_fkey: account → user_id)',
    );
    expect(check(report, 'verify: sequences beyond their columns').message).toBe(
      "2 owned sequence(s) beyond their column's maximum",
    );
  });
});

describe('expectations', () => {
  let fromLive: string;

  it('recorded from the live server (every database), are accepted and held by the drill', async () => {
    fromLive = join(setup.scratch, 'from-live.yaml');
    const recorded = await runCli(['record', '--all', '--out', fromLive], setup.source.cliEnv);
    expect(recorded.code, recorded.stderr).toBe(0);
    const file = parse(await readFile(fromLive, 'utf8'));
    expect(file.canary).toEqual({
      database: 'backup_test',
      users: { table: 'bank.users', nameColumn: 'username', expected: ['alice', 'bob', 'charlie'] },
      transactions: { table: 'bank.transactions', rows: 5, foreignKey: 'transactions_account_fkey' },
    });
    expect(Object.keys(file.databases).sort()).toEqual(['app', 'backup_test', 'postgres']);
    expect(file.databases.backup_test.tables['bank.transactions']).toMatchObject({
      rows: 5,
      key: ['txn_id'],
      columns: ['txn_id', 'account', 'value', 'memo'],
      rowsText: [
        '1\t1\t100.00\topening',
        '2\t2\t250.50\topening',
        '3\t3\t75.25\ttab\\there',
        '4\t1\t-20.00\tcoffee',
        '5\t2\t-99.99\t\\N',
      ],
    });
    expect(file.recordedFrom).not.toContain(setup.source.cliEnv.PGPASSWORD);

    const dir = await backupDir('expect-good', setup.goodDump);
    const { code, stdout, reports } = await drillOn('expect-good', dir, ['--expect', fromLive]);
    expect(code, stdout).toBe(0);
    const report = await readReport(reports);
    expect(check(report, TRANSACTIONS).message).toBe(
      `bank.transactions: its 5 row(s) match the expectations of ${fromLive}, every column`,
    );
    expect(check(report, 'verify: expectations of from-live.yaml hold').message).toBe(
      `3 table(s) in 2 database(s) hold what ${fromLive} expects (3 by content digest, 0 by row count); 1 database(s) with no table expected, present: postgres`,
    );
  });

  it('recorded from a backup, equal what the live server gave, and the drill accepts them', async () => {
    const dir = await backupDir('record-backup', setup.goodDump);
    const fromBackup = join(setup.scratch, 'from-backup.yaml');
    const recorded = await runCli(['record', '--backups', dir, '--out', fromBackup]);
    expect(recorded.code, recorded.stderr).toBe(0);
    const backupFile = parse(await readFile(fromBackup, 'utf8'));
    const liveFile = parse(await readFile(fromLive, 'utf8'));
    expect(backupFile.recordedFrom).toBe('backup postgres-backup-2026-11-30-030000.sql.gz');
    expect(backupFile.canary).toEqual(liveFile.canary);
    expect(backupFile.databases).toEqual({ backup_test: liveFile.databases.backup_test });
    // Every database: the backup's COPY data digests exactly as the live tables read back.
    const everything = join(setup.scratch, 'from-backup-all.yaml');
    expect((await runCli(['record', '--all', '--backups', dir, '--out', everything])).code).toBe(0);
    expect(parse(await readFile(everything, 'utf8')).databases).toEqual(liveFile.databases);

    const { code, stdout, reports } = await drillOn('record-backup', dir, ['--expect', fromBackup]);
    expect(code, stdout).toBe(0);
    expect(check(await readReport(reports), USERS).message).toBe(
      `bank.users.username holds exactly alice, bob, charlie; its 3 row(s) match the expectations of ${fromBackup}, every column`,
    );
  });

  it('are not recorded from a backup that holds its data as INSERT statements, saying what to do', async () => {
    const dir = await backupDir(
      'inserts',
      await toolOutput(setup.source.handle, 'pg_dumpall', ['-w', '--inserts']),
    );
    const out = join(setup.scratch, 'from-inserts.yaml');
    const { code, stderr } = await runCli(['record', '--backups', dir, '--out', out]);
    expect(code).toBe(2);
    expect(stderr).toMatch(
      /postgres-backup-2026-11-30-030000\.sql\.gz holds its data as INSERT statements \(line \d+: a dump made with --inserts, --column-inserts or --rows-per-insert\); record reads COPY data only: record from the server with --database-url instead/,
    );
  });

  it('a file that names databases but no table of them checks 0 tables, and that is no pass', async () => {
    const file = join(setup.scratch, 'presence-only.yaml');
    await writeFile(file, 'version: 1\ndatabases:\n  app: { tables: {} }\n  postgres: { tables: {} }\n');
    const dir = await backupDir('presence-only', setup.goodDump);
    const { code, stdout, reports } = await drillOn('presence-only', dir, ['--expect', file]);
    expect(code, stdout).toBe(1);
    expect(check(await readReport(reports), 'verify: expectations of presence-only.yaml hold')).toMatchObject(
      {
        status: 'failed',
        message: `${file} expects no table of the databases this drill restored, only their presence (app, postgres): 0 tables checked; record it again with its tables`,
      },
    );
  });

  it('a database or a table the backup lacks fails, naming it; each assertion is its own step', async () => {
    const file = join(setup.scratch, 'lacking.yaml');
    await writeFile(
      file,
      `version: 1
databases:
  billing: { tables: {} }
  app:
    tables:
      public.orders: { rows: { min: 5, max: 50 } }
      public.invoices: { rows: 3, tolerance: "10%" }
assertions:
  - name: orders are not empty
    database: app
    sql: SELECT count(*) FROM public.orders
    min: 1
  - name: the newest order is no older than the backup
    database: app
    sql: SELECT max(placed) >= current_setting('drill.backup_taken_at')::timestamptz FROM public.orders
    value: true
  - name: plpgsql is installed
    database: app
    sql: SELECT extname FROM pg_extension WHERE extname = 'plpgsql'
    rows: 1
  - name: at most five orders
    database: app
    sql: SELECT count(*) FROM public.orders
    max: 5
  - name: writes are refused
    database: app
    sql: DELETE FROM public.orders
    rows: 0
  - name: a slow query is stopped
    database: app
    sql: SELECT count(*) FROM pg_sleep(10)
    rows: 1
    timeoutSeconds: 1
`,
    );
    const dir = await backupDir('lacking', setup.goodDump);
    const { code, stdout, reports } = await drillOn('lacking', dir, ['--expect', file]);
    expect(code, stdout).toBe(1);
    const report = await readReport(reports);
    expect(check(report, 'verify: expectations of lacking.yaml hold')).toMatchObject({
      status: 'failed',
      message: expect.stringContaining(
        'database billing (with 0 expected table(s)) is not in the restored backup; app public.invoices is missing from the restored backup: table public.invoices does not exist',
      ),
    });
    expect(
      report.checks.filter((c) => c.name.startsWith('assert: ')).map((c) => [c.name, c.status, c.message]),
    ).toEqual([
      ['assert: orders are not empty', 'passed', 'returned 10 in app: at least 1, as expected'],
      ['assert: the newest order is no older than the backup', 'passed', 'returned "t" in app, as expected'],
      ['assert: plpgsql is installed', 'passed', 'returned 1 row(s) in app, as expected'],
      [
        'assert: at most five orders',
        'failed',
        expect.stringMatching(/^returned 10 in app, expected at most 5/),
      ],
      [
        'assert: writes are refused',
        'failed',
        expect.stringMatching(/could not run in app: cannot execute DELETE in a read-only transaction/),
      ],
      [
        'assert: a slow query is stopped',
        'failed',
        '"a slow query is stopped" could not run in app: cancelled after its 1 s statement timeout',
      ],
    ]);
    // Read-only: the DELETE was refused, the restored orders are all there.
    expect(check(report, 'assert: writes are refused').facts).toMatchObject({ sqlstate: '25006' });
  });

  it('a bad expectations file exits 2 before any work, naming the file and the key', async () => {
    const file = join(setup.scratch, 'bad.yaml');
    await writeFile(
      file,
      'version: 1\ndatabases:\n  app:\n    tables:\n      public.orders: { rows: many }\n',
    );
    const dir = await backupDir('bad', setup.goodDump);
    const reports = await setup.freshDir('bad-report');
    const { code, stderr, stdout } = await runCli([
      '--backups',
      dir,
      '--report-dir',
      reports,
      '--expect',
      file,
    ]);
    expect(code, stdout).toBe(2);
    expect(stderr).toContain(
      `pg-restore-drill: expectations file ${file}: databases.app.tables.public.orders.rows must be a whole number of at least 0, got "many".`,
    );
    expect(stdout).not.toMatch(/restore: completed/);
  });

  it('on a throwaway target, a backup whose amount changed and whose transaction moved fails, naming table, key and values', async () => {
    await psql(
      setup.source.handle,
      'backup_test',
      'UPDATE bank.transactions SET value = 1000000.00 WHERE txn_id = 4; UPDATE bank.transactions SET account = 3 WHERE txn_id = 5',
    );
    const tampered = await dumpAll(setup.source.handle);
    await psql(
      setup.source.handle,
      'backup_test',
      'UPDATE bank.transactions SET value = -20.00 WHERE txn_id = 4; UPDATE bank.transactions SET account = 2 WHERE txn_id = 5',
    );
    const dir = await backupDir('tampered', tampered);
    const { code, stdout, reports } = await drillOn('tampered', dir, ['--expect', fromLive]);
    expect(code, stdout).toBe(1);
    const report = await readReport(reports);
    expect(check(report, TRANSACTIONS)).toMatchObject({
      status: 'failed',
      message: `bank.transactions differs from the expectations of ${fromLive}: 5 row(s) against 5: row txn_id=4: value expected -20.00, found 1000000.00; row txn_id=5: account expected 2, found 3`,
    });
    expect(check(report, 'verify: expectations of from-live.yaml hold').message).toMatch(
      /backup_test bank\.transactions: 5 row\(s\) digest [0-9a-f]{16}, expected digest [0-9a-f]{16} \(its contents changed\)/,
    );
    expect(check(report, USERS).status).toBe('passed');
  });
});

describe('with a snapshot (canary mode on the live server)', () => {
  it('a restored amount that differs from the canary before the drop fails, naming the key and both values', async () => {
    const dir = await backupDir('snapshot', setup.goodDump);
    // The live canary moved on after the backup: the restore brings back the older amount.
    await psql(
      setup.source.handle,
      'backup_test',
      'UPDATE bank.transactions SET value = 7.77 WHERE txn_id = 4',
    );
    const reports = await setup.freshDir('snapshot-report');
    const { code, stdout } = await runCli(
      ['--target', 'url', '--mode', 'canary', '--backups', dir, '--report-dir', reports],
      setup.source.cliEnv,
    );
    expect(code, stdout).toBe(1);
    const report = await readReport(reports);
    expect(check(report, 'precheck: canary snapshot taken').message).toBe(
      '3 row(s) of bank.users (names in username), 5 of bank.transactions before the restore',
    );
    expect(check(report, TRANSACTIONS)).toMatchObject({
      status: 'failed',
      message:
        'bank.transactions differs from the snapshot taken before the restore: 5 row(s) against 5: row txn_id=4: value expected 7.77, found -20.00',
    });
    expect(check(report, USERS).message).toBe(
      'bank.users.username holds exactly alice, bob, charlie; its 3 row(s) match the snapshot taken before the restore, every column',
    );
  });
});

describe('expectations of awkward databases', () => {
  let awkward: StartedTarget;
  beforeAll(async () => {
    awkward = await startTestCluster();
    await createAwkwardDatabases(awkward.handle);
  });
  afterAll(() => awkward?.stop());

  it('recorded from the server and from its backup agree table for table, and the drill holds the backup to them', async () => {
    const dir = await setup.freshDir('awkward');
    const { gzipSync } = await import('node:zlib');
    await writeBackupBytes(dir, '2026-11-30-030000', gzipSync(await dumpAllBytes(awkward.handle)));
    const { connection } = awkward.handle;
    const env = {
      // The throwaway cluster listens on a Unix socket directory: libpq's ?host= form.
      DATABASE_URL: `postgres://${connection.user}@localhost/postgres?host=${encodeURIComponent(connection.host)}&port=${connection.port}`,
      PGPASSWORD: connection.password ?? '',
    };
    const fromServer = join(setup.scratch, 'awkward-server.yaml');
    const fromBackup = join(setup.scratch, 'awkward-backup.yaml');
    const server = await runCli(['record', '--all', '--canary', 'none', '--out', fromServer], env);
    expect(server.code, server.stderr).toBe(0);
    const backup = await runCli([
      'record',
      '--all',
      '--canary',
      'none',
      '--backups',
      dir,
      '--out',
      fromBackup,
    ]);
    expect(backup.code, backup.stderr).toBe(0);
    const serverDatabases = parse(await readFile(fromServer, 'utf8')).databases;
    expect(Object.keys(serverDatabases).sort()).toEqual(
      ['Weird "Name" db', "back\\slash 'q'", 'latin_bytes', 'plain_db', 'postgres', 'ünïcødé'].sort(),
    );
    expect(Object.keys(serverDatabases.plain_db.tables)).toEqual([
      'public."Odd ""Table"" name"',
      'public.empty_table',
      'public.kinds',
      'public.measurements_2023',
      'public.measurements_2024',
      'public.no_pk',
      'public.texts',
    ]);
    expect(parse(await readFile(fromBackup, 'utf8')).databases).toEqual(serverDatabases);

    const reports = await setup.freshDir('awkward-report');
    const { code, stdout } = await runCli([
      '--backups',
      dir,
      '--canary',
      'none',
      // --canary none checks nothing with --verify canary (a usage error): every table is read back.
      '--verify',
      'deep',
      '--report-dir',
      reports,
      '--temp-dir',
      setup.scratch,
      '--expect',
      fromBackup,
    ]);
    expect(code, stdout).toBe(0);
    expect(check(await readReport(reports), 'verify: expectations of awkward-backup.yaml hold').message).toBe(
      // Seven tables in each of the four common databases, one in latin_bytes, none in postgres.
      `29 table(s) in 5 database(s) hold what ${fromBackup} expects (29 by content digest, 0 by row count); 1 database(s) with no table expected, present: postgres`,
    );
  });
});
