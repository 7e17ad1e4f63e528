/** The checks against a real server: each must pass on a good canary and fail on a damaged one. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { psql, startTestCluster } from '../../test/support/cluster.ts';
import { seedCanary } from '../drill/seed.ts';
import { withClient } from '../pg/databases.ts';
import { executorFor } from '../targets/attach.ts';
import type { StartedTarget } from '../targets/target.ts';
import {
  type CanarySnapshot,
  checkCanaryForeignKey,
  checkTransactions,
  checkUsers,
  snapshotCanary,
} from './canary.ts';
import { defaultCanaryContract } from './canary-contract.ts';
import { checkForeignKeys } from './constraints.ts';
import { checkSequences } from './sequences.ts';

let target: StartedTarget;
const on = <T>(db: string, fn: Parameters<typeof withClient<T>>[2]) =>
  withClient(target.handle.connection, db, fn);
const snapshot = async (db: string): Promise<CanarySnapshot> => {
  const executor = await executorFor(target.handle, process.env);
  return on(db, (client) =>
    snapshotCanary(client, {
      executor,
      database: db,
      contract: defaultCanaryContract('backup_test'),
      settings: { encoding: 'UTF8', timeZone: 'UTC' },
    }),
  );
};

beforeAll(async () => {
  target = await startTestCluster();
  await seedCanary(target.handle, 'backup_test');
  await psql(target.handle, 'postgres', 'CREATE DATABASE damaged TEMPLATE backup_test');
});
afterAll(() => target?.stop());

describe('on the seeded canary', () => {
  it('every check passes', async () => {
    const before = await snapshot('backup_test');
    expect(before.contract.users).toMatchObject({ table: 'public.users', nameColumn: 'name', key: ['id'] });
    expect(before.users.lines.map((l) => l.split('\t')[1])).toEqual(['alice', 'bob', 'charlie']);
    const basis = { kind: 'snapshot', snapshot: before } as const;
    expect(checkUsers(before, basis).summary).toBe(
      'public.users.name holds exactly alice, bob, charlie; its 3 row(s) match the snapshot taken before the restore, every column',
    );
    expect(checkTransactions(before, basis).ok).toBe(true);
    expect(checkTransactions(before, { kind: 'contract' }).summary).toBe(
      '5 row(s) in public.transactions, each pointing at a canary user (user_id → public.users.id); contents not compared against anything: no snapshot (the target held no canary before the restore) and no --expect (record one with `pg-restore-drill record`)',
    );
    expect(checkCanaryForeignKey(before.contract).summary).toBe(
      'public.transactions → public.users foreign key present (transactions_user_id_fkey: user_id → id)',
    );
    expect((await on('backup_test', checkForeignKeys)).summary).toBe(
      '1 foreign key(s) validated, no orphan rows',
    );
    expect((await on('backup_test', checkSequences)).summary).toBe(
      "2 owned sequence(s) beyond their column's maximum",
    );
  });
});

describe('on a canary whose transaction belongs to no user', () => {
  it('transactions: the contract-only summary counts the row with a NULL key as pointing at none', async () => {
    await psql(target.handle, 'postgres', 'CREATE DATABASE nulluser TEMPLATE backup_test');
    await psql(
      target.handle,
      'nulluser',
      'ALTER TABLE transactions ALTER user_id DROP NOT NULL; UPDATE transactions SET user_id = NULL WHERE id = 3',
    );
    const verdict = checkTransactions(await snapshot('nulluser'), { kind: 'contract' });
    expect(verdict.ok).toBe(true);
    expect(verdict.summary).toBe(
      '5 row(s) in public.transactions, 4 pointing at a canary user (user_id → public.users.id), 1 at none (user_id NULL, which the foreign key allows); contents not compared against anything: no snapshot (the target held no canary before the restore) and no --expect (record one with `pg-restore-drill record`)',
    );
    expect(verdict.facts.withoutUser).toBe(1);
  });
});

describe('on a damaged copy', () => {
  it('users: an extra user and a missing one fail', async () => {
    await psql(target.handle, 'damaged', "INSERT INTO users (name) VALUES ('mallory')");
    const verdict = checkUsers(await snapshot('damaged'), { kind: 'contract' });
    expect(verdict).toMatchObject({
      ok: false,
      summary:
        'public.users.name holds [alice, bob, charlie, mallory], expected exactly [alice, bob, charlie]',
    });
  });

  it('transactions: a changed amount fails against the snapshot, naming the rows', async () => {
    const before = await snapshot('backup_test');
    await psql(
      target.handle,
      'damaged',
      'UPDATE transactions SET amount = 1.00 WHERE id = 2; UPDATE transactions SET user_id = 3 WHERE id = 4',
    );
    const verdict = checkTransactions(await snapshot('damaged'), { kind: 'snapshot', snapshot: before });
    expect(verdict.ok).toBe(false);
    expect(verdict.summary).toBe(
      'public.transactions differs from the snapshot taken before the restore: 5 row(s) against 5: row id=2: amount expected 250.50, found 1.00; row id=4: user_id expected 1, found 3',
    );
  });

  it('foreign keys: a NOT VALID key with orphan rows fails, and a missing canary key is named', async () => {
    await psql(
      target.handle,
      'damaged',
      `ALTER TABLE transactions DROP CONSTRAINT transactions_user_id_fkey;
       INSERT INTO transactions (user_id, amount, note) VALUES (999, 1, 'orphan');
       ALTER TABLE transactions ADD CONSTRAINT transactions_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;`,
    );
    const verdict = await on('damaged', checkForeignKeys);
    expect(verdict).toMatchObject({
      ok: false,
      summary:
        'public.transactions.transactions_user_id_fkey: 1 orphan row(s) (a NOT VALID key, as the backup declares it: the source may hold them too)',
    });
    await psql(
      target.handle,
      'damaged',
      'ALTER TABLE transactions DROP CONSTRAINT transactions_user_id_fkey',
    );
    expect(checkCanaryForeignKey((await snapshot('damaged')).contract).summary).toBe(
      'no foreign key from public.transactions to public.users: its ADD CONSTRAINT did not come back',
    );
  });

  it('foreign keys: multi-column keys are checked column by column', async () => {
    await psql(
      target.handle,
      'damaged',
      `CREATE TABLE parent (a int, b int, PRIMARY KEY (a, b));
       CREATE TABLE child (a int, b int);
       INSERT INTO parent VALUES (1, 1), (2, 2);
       INSERT INTO child VALUES (1, 1), (1, 2), (NULL, 5);
       ALTER TABLE child ADD CONSTRAINT child_parent_fkey FOREIGN KEY (a, b) REFERENCES parent NOT VALID;`,
    );
    const verdict = await on('damaged', checkForeignKeys);
    expect(verdict.facts.foreignKeys).toContainEqual({
      name: 'child_parent_fkey',
      table: 'public.child',
      references: 'public.parent',
      validated: false,
      orphans: 1,
      counted: 'server',
      how: 'counted on the server, 1 orphan(s)',
    });
  });

  it('sequences: one feeding a text column, and one that cycles, are not compared and say why', async () => {
    await psql(target.handle, 'postgres', 'CREATE DATABASE seqshapes');
    await psql(
      target.handle,
      'seqshapes',
      `CREATE SEQUENCE inv_seq;
       CREATE TABLE invoices (code text DEFAULT 'INV-' || nextval('inv_seq') PRIMARY KEY);
       ALTER SEQUENCE inv_seq OWNED BY invoices.code;
       INSERT INTO invoices VALUES ('ZZZ-9'), (DEFAULT);
       CREATE TABLE ring (id int PRIMARY KEY);
       CREATE SEQUENCE ring_seq MAXVALUE 3 CYCLE OWNED BY ring.id;
       INSERT INTO ring VALUES (3);
       SELECT nextval('ring_seq');`,
    );
    const verdict = await on('seqshapes', checkSequences);
    expect(verdict).toMatchObject({
      ok: true,
      summary:
        "0 owned sequence(s) beyond their column's maximum; 2 not compared: public.invoices.code is text, not an integer; public.ring_seq cycles",
    });
  });

  it('sequences: a sequence behind its column fails', async () => {
    await psql(target.handle, 'damaged', "SELECT setval('users_id_seq', 1)");
    const verdict = await on('damaged', checkSequences);
    expect(verdict.ok).toBe(false);
    expect(verdict.summary).toBe('public.users_id_seq would hand out 2 but public.users.id already holds 4');
  });
});

describe('a sequence behind its column, against what the backup sets', () => {
  const setval = (sequence: string, value: string, isCalled: boolean, line = 40) => ({
    database: 'handmade',
    sequence,
    value,
    isCalled,
    line,
  });
  /** What the backup sets the quoted identity's sequence to: as restored (next 6, the column holds 10). */
  const odd = setval('public."Odd Table_n_seq"', '5', true, 44);
  beforeAll(async () => {
    await psql(target.handle, 'postgres', 'CREATE DATABASE handmade');
    // Made by hand, as the operator's canary was: ids given explicitly, so the sequences never moved.
    await psql(
      target.handle,
      'handmade',
      `CREATE TABLE users (id serial PRIMARY KEY, username text);
       INSERT INTO users (id, username) VALUES (1, 'alice'), (2, 'bob'), (3, 'charlie');
       CREATE TABLE "Odd Table" (n bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY);
       INSERT INTO "Odd Table" VALUES (10);
       SELECT setval(pg_get_serial_sequence('"Odd Table"', 'n'), 5);`,
    );
  });

  it('passes, saying so, where the backup sets it there itself (the source was behind)', async () => {
    const dumped = async () => [setval('public.users_id_seq', '1', false), odd];
    const verdict = await on('handmade', (client) => checkSequences(client, dumped));
    expect(verdict).toMatchObject({
      ok: true,
      summary:
        '0 owned sequence(s) beyond their column\'s maximum; 2 behind their columns as the backup itself sets them, restored as they were (the source\'s own: rows were inserted with explicit ids past the sequence, and the next insert collides there too): public."Odd Table_n_seq" would hand out 6 but public."Odd Table".n already holds 10, as the backup\'s setval (line 44) sets it; public.users_id_seq would hand out 1 but public.users.id already holds 3, as the backup\'s setval (line 40) sets it',
    });
  });

  it('fails where the backup sets another value, or none, or cannot be read', async () => {
    const other = await on('handmade', (client) =>
      checkSequences(client, async () => [odd, setval('public.users_id_seq', '3', true)]),
    );
    expect(other).toMatchObject({
      ok: false,
      summary:
        "public.users_id_seq would hand out 1 but public.users.id already holds 3, where the backup's setval (line 40) makes it hand out 4",
    });
    const none = await on('handmade', (client) => checkSequences(client, async () => [odd]));
    expect(none.summary).toBe(
      'public.users_id_seq would hand out 1 but public.users.id already holds 3; the backup sets no value for it (no setval)',
    );
    const unread = await on('handmade', (client) => checkSequences(client, async () => 'EACCES'));
    expect([unread.ok, unread.summary]).toEqual([
      false,
      'public."Odd Table_n_seq" would hand out 6 but public."Odd Table".n already holds 10; the backup\'s own value for it could not be read (EACCES); public.users_id_seq would hand out 1 but public.users.id already holds 3; the backup\'s own value for it could not be read (EACCES)',
    ]);
  });

  it('a NOT VALID foreign key without orphans passes, named', async () => {
    await psql(
      target.handle,
      'handmade',
      `CREATE TABLE orders (id int PRIMARY KEY, buyer int);
       INSERT INTO orders VALUES (1, 1), (2, NULL);
       ALTER TABLE orders ADD CONSTRAINT orders_buyer_fkey FOREIGN KEY (buyer) REFERENCES users NOT VALID;`,
    );
    const verdict = await on('handmade', checkForeignKeys);
    expect(verdict).toMatchObject({
      ok: true,
      summary:
        '1 foreign key(s) (0 validated, 1 NOT VALID as the backup declares it: public.orders.orders_buyer_fkey; rows checked all the same), no orphan rows',
    });
  });
});

describe('under a search_path the backup chose', () => {
  it('every check still reads the right tables: names are qualified and search_path is pinned', async () => {
    await psql(target.handle, 'postgres', 'CREATE DATABASE elsewhere');
    await psql(
      target.handle,
      'elsewhere',
      `CREATE SCHEMA bank;
       CREATE TABLE bank.users (user_id serial PRIMARY KEY, username text NOT NULL);
       CREATE TABLE bank.transactions (txn_id serial PRIMARY KEY, account int NOT NULL REFERENCES bank.users, value numeric);
       INSERT INTO bank.users (username) VALUES ('alice'), ('bob'), ('charlie');
       INSERT INTO bank.transactions (account, value) VALUES (1, 1), (2, 2), (3, 3), (1, 4), (2, 5);
       -- A decoy the old unqualified queries would have read.
       CREATE TABLE public.users (id int, name text);
       ALTER DATABASE elsewhere SET search_path = admin, public, pg_catalog;`,
    );
    const found = await snapshot('elsewhere');
    expect([found.contract.users.table, found.contract.users.nameColumn]).toEqual(['bank.users', 'username']);
    expect(checkUsers(found, { kind: 'contract' }).ok).toBe(true);
    expect(checkTransactions(found, { kind: 'contract' }).ok).toBe(true);
    expect((await on('elsewhere', checkForeignKeys)).facts.foreignKeys).toEqual([
      {
        name: 'transactions_account_fkey',
        table: 'bank.transactions',
        references: 'bank.users',
        validated: true,
        orphans: 0,
        counted: 'server',
        how: 'counted on the server, 0 orphan(s)',
      },
    ]);
    expect((await on('elsewhere', checkSequences)).summary).toBe(
      "2 owned sequence(s) beyond their column's maximum",
    );
  });
});
