/**
 * The operator's canary was made by hand: its ids typed in (the serial sequences never moved, so each
 * is behind its column in the source itself), its foreign key added NOT VALID, its columns named its own
 * way. A backup of it restores it exactly as it was: the drill must pass it, saying what it found, and
 * still fail a backup whose setval is missing (the rows restored, the sequence not).
 */
import { chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dumpAll, dumpArchive, psql, writeBackup } from './support/cluster.ts';
import { drillSetup } from './support/drill-setup.ts';
import { deepDrill, readReport, runCli } from './support/run-cli.ts';

const setup = drillSetup('drill-hand-made-', {
  seed: async (handle) => {
    await psql(handle, 'postgres', 'CREATE DATABASE backup_test');
    await psql(
      handle,
      'backup_test',
      `CREATE TABLE users (user_id serial PRIMARY KEY, username text NOT NULL UNIQUE);
       INSERT INTO users (user_id, username) VALUES (1, 'alice'), (2, 'bob'), (3, 'charlie');
       CREATE TABLE transactions (txn_id serial PRIMARY KEY, account int NOT NULL, amount numeric(10, 2));
       INSERT INTO transactions VALUES (1, 1, 10), (2, 2, 20), (3, 3, 30), (4, 1, -5), (5, 2, 7.5);
       ALTER TABLE transactions ADD CONSTRAINT transactions_account_fkey
         FOREIGN KEY (account) REFERENCES users NOT VALID;`,
    );
  },
});

const local = () => ['--target', 'local', '--temp-dir', setup.scratch, '--progress', 'off'];
type Report = Awaited<ReturnType<typeof readReport>>;
const step = (report: Report, id: string) => report.checks.find((c) => c.id === id);

/** The default drill (--verify canary) of `dump`, written as the newest backup of a new directory. */
async function canaryDrill(name: string, dump: string) {
  const dir = await setup.freshDir(name);
  await writeBackup(dir, '2026-11-21-030000', dump);
  const reports = await setup.freshDir(`${name}-report`);
  const run = await runCli(['--backups', dir, '--report-dir', reports, ...local()]);
  return { ...run, report: await readReport(reports) };
}

describe('a canary made by hand', () => {
  it('passes --verify canary: the sequences behind their columns are the backup’s own, the NOT VALID key has no orphan', async () => {
    const { code, stdout, report } = await canaryDrill('canary', setup.goodDump);
    expect(step(report, 'verify-sequences-beyond-their-columns')?.message, stdout).toBe(
      "0 owned sequence(s) beyond their column's maximum; 2 behind their columns as the backup itself sets them, restored as they were (the source's own: rows were inserted with explicit ids past the sequence, and the next insert collides there too): " +
        `public.transactions_txn_id_seq would hand out 1 but public.transactions.txn_id already holds 5, as the backup's setval (line ${lineOf(setup.goodDump, 'transactions_txn_id_seq')}) sets it; ` +
        `public.users_user_id_seq would hand out 1 but public.users.user_id already holds 3, as the backup's setval (line ${lineOf(setup.goodDump, 'users_user_id_seq')}) sets it`,
    );
    expect(step(report, 'verify-foreign-keys-validated-no-orphans')?.message).toBe(
      '1 foreign key(s) (0 validated, 1 NOT VALID as the backup declares it: public.transactions.transactions_account_fkey; rows checked all the same), no orphan rows',
    );
    expect([code, report.verdict], stdout).toEqual([0, 'passed']);
  });

  it('passes --verify deep, the sequences read on the restore’s own stream', async () => {
    const { code, stdout, report } = await deepDrill(setup.scratch, 'deep', setup.goodDump, local());
    expect(step(report, 'verify-foreign-keys-and-sequences-in-every-database')?.message, stdout).toMatch(
      /^1 foreign key\(s\) \(0 validated, 1 NOT VALID .* and 0 owned sequence\(s\) beyond their columns, in 1 database\(s\); 2 sequence\(s\) behind their column as the backup itself sets them/,
    );
    expect([code, report.verdict], stdout).toEqual([0, 'passed']);
  });

  it('fails a backup whose setval is gone: its rows restored, its sequence not', async () => {
    await psql(setup.source.handle, 'backup_test', "SELECT setval('users_user_id_seq', 3)");
    try {
      const dump = await dumpAll(setup.source.handle);
      const line = /^SELECT pg_catalog\.setval\('public\.users_user_id_seq', 3, true\);\n/m;
      expect(dump).toMatch(line);
      const cut = dump.replace(line, '');
      const message =
        'public.users_user_id_seq would hand out 1 but public.users.user_id already holds 3; the backup sets no value for it (no setval)';
      const plain = await canaryDrill('cut', cut);
      expect(step(plain.report, 'verify-sequences-beyond-their-columns')?.message, plain.stdout).toBe(
        message,
      );
      expect([plain.code, plain.report.verdict]).toEqual([1, 'failed']);
      const deep = await deepDrill(setup.scratch, 'cut-deep', cut, local());
      expect(step(deep.report, 'verify-foreign-keys-and-sequences-in-every-database')?.message).toBe(
        `backup_test: ${message}`,
      );
      expect([deep.code, deep.report.verdict]).toEqual([1, 'failed']);
    } finally {
      await psql(setup.source.handle, 'backup_test', "SELECT setval('users_user_id_seq', 1, false)");
    }
  });

  it('a pg_dump -Fc archive of it passes too: its precheck read the setvals', async () => {
    const dir = await setup.freshDir('archive');
    const file = join(dir, 'postgres-backup-2026-11-21-030000.dump');
    await dumpArchive(setup.source.handle, 'backup_test', 'custom', file);
    await chmod(file, 0o644);
    const reports = await setup.freshDir('archive-report');
    const { code, stdout } = await runCli(['--backups', dir, '--report-dir', reports, ...local()]);
    const report = await readReport(reports);
    expect(step(report, 'verify-sequences-beyond-their-columns')?.message, stdout).toMatch(
      /^0 owned sequence\(s\) beyond their column's maximum; 2 behind their columns as the backup itself sets them, .*public\.users_user_id_seq would hand out 1 but public\.users\.user_id already holds 3, as the backup's setval \(line \d+\) sets it$/,
    );
    expect([code, report.verdict], stdout).toEqual([0, 'passed']);
  });

  // Last: it takes the sequences away for good.
  it('without any owned sequence, the sequences check skips itself, saying why: nothing compared is no pass', async () => {
    await psql(
      setup.source.handle,
      'backup_test',
      `ALTER TABLE users ALTER user_id DROP DEFAULT; DROP SEQUENCE users_user_id_seq;
       ALTER TABLE transactions ALTER txn_id DROP DEFAULT; DROP SEQUENCE transactions_txn_id_seq;`,
    );
    const { code, stdout, report } = await canaryDrill('no-sequences', await dumpAll(setup.source.handle));
    expect(step(report, 'verify-sequences-beyond-their-columns'), stdout).toMatchObject({
      status: 'skipped',
      message: 'nothing to check: backup_test has no owned sequence (no serial or identity column)',
    });
    expect([code, report.verdict], stdout).toEqual([0, 'passed']);
  });
});

/** The dump line of the setval of `sequence`. */
function lineOf(dump: string, sequence: string): number {
  return dump.split('\n').findIndex((l) => l.startsWith(`SELECT pg_catalog.setval('public.${sequence}'`)) + 1;
}
