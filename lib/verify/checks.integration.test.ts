/** The checks against a real server: each must pass on a good canary and fail on a damaged one. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { psql, startTestCluster } from '../../test/support/cluster.ts';
import { seedCanary } from '../drill/seed.ts';
import { withClient } from '../targets/databases.ts';
import type { StartedTarget } from '../targets/target.ts';
import { checkCanaryForeignKey, checkTransactions, checkUsers, snapshotCanary } from './canary.ts';
import { checkForeignKeys, checkSequences } from './constraints.ts';

let target: StartedTarget;
const on = <T>(db: string, fn: Parameters<typeof withClient<T>>[2]) =>
  withClient(target.handle.connection, db, fn);

beforeAll(async () => {
  target = await startTestCluster();
  await seedCanary(target.handle, 'backup_test');
  await psql(target.handle, 'postgres', 'CREATE DATABASE damaged TEMPLATE backup_test');
});
afterAll(() => target?.stop());

describe('on the seeded canary', () => {
  it('every check passes', async () => {
    const snapshot = await on('backup_test', snapshotCanary);
    expect(snapshot.users.map((u) => u.name)).toEqual(['alice', 'bob', 'charlie']);
    expect(checkUsers(snapshot).ok).toBe(true);
    expect(checkTransactions(snapshot, snapshot).ok).toBe(true);
    expect(checkTransactions(snapshot, undefined).summary).toBe(
      '5 transactions, each belonging to a canary user',
    );
    expect((await on('backup_test', checkCanaryForeignKey)).summary).toBe(
      'transactions → users foreign key present (transactions_user_id_fkey)',
    );
    expect((await on('backup_test', checkForeignKeys)).summary).toBe(
      '1 foreign key(s) validated, no orphan rows',
    );
    expect((await on('backup_test', checkSequences)).summary).toBe(
      "2 owned sequence(s) beyond their column's maximum",
    );
  });
});

describe('on a damaged copy', () => {
  it('users: an extra user and a missing one fail', async () => {
    await psql(target.handle, 'damaged', "INSERT INTO users (name) VALUES ('mallory')");
    const verdict = checkUsers(await on('damaged', snapshotCanary));
    expect(verdict).toMatchObject({
      ok: false,
      summary: 'users are [alice, bob, charlie, mallory], expected exactly [alice, bob, charlie]',
    });
  });

  it('transactions: a changed amount fails against the snapshot, naming the rows', async () => {
    const before = await on('backup_test', snapshotCanary);
    await psql(target.handle, 'damaged', 'UPDATE transactions SET amount = 1.00 WHERE id = 2');
    const verdict = checkTransactions(await on('damaged', snapshotCanary), before);
    expect(verdict.ok).toBe(false);
    expect(verdict.summary).toBe(
      'transactions differ from the snapshot taken before the drop: 5 rows vs 5; missing [2:2:250.50], unexpected [2:2:1.00] (id:user_id:amount)',
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
      summary: 'transactions.transactions_user_id_fkey: NOT VALID, 1 orphan row(s)',
    });
    await psql(
      target.handle,
      'damaged',
      'ALTER TABLE transactions DROP CONSTRAINT transactions_user_id_fkey',
    );
    expect((await on('damaged', checkCanaryForeignKey)).ok).toBe(false);
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
      table: 'child',
      references: 'parent',
      validated: false,
      orphans: 1,
    });
  });

  it('sequences: a sequence behind its column fails', async () => {
    await psql(target.handle, 'damaged', "SELECT setval('users_id_seq', 1)");
    const verdict = await on('damaged', checkSequences);
    expect(verdict.ok).toBe(false);
    expect(verdict.summary).toBe('users_id_seq would hand out 2 but users.id already holds 4');
  });
});
