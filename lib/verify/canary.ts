import type pg from 'pg';
import { CANARY_FOREIGN_KEY, CANARY_TRANSACTIONS, CANARY_USERS } from './canary-fixture.ts';
import { fail, pass, type Verdict } from './verdict.ts';

export interface CanaryUserRow {
  id: number;
  name: string;
}

export interface CanaryTransactionRow {
  id: number;
  user_id: number;
  amount: string;
}

/** The canary's rows as they were before the drop: what the restore must bring back exactly. */
export interface CanarySnapshot {
  users: CanaryUserRow[];
  transactions: CanaryTransactionRow[];
}

/** Reads the canary's rows, ordered by id. */
export async function snapshotCanary(client: pg.ClientBase): Promise<CanarySnapshot> {
  const users = await client.query<CanaryUserRow>('SELECT id, name FROM users ORDER BY id');
  const transactions = await client.query<CanaryTransactionRow>(
    'SELECT id, user_id, amount::text AS amount FROM transactions ORDER BY id',
  );
  return { users: users.rows, transactions: transactions.rows };
}

/** Exactly alice, bob and charlie: no fewer, no more, no others. */
export function checkUsers(current: CanarySnapshot): Verdict {
  const names = current.users.map((u) => u.name).sort();
  const expected = [...CANARY_USERS].sort();
  const facts = { expected, found: names };
  return JSON.stringify(names) === JSON.stringify(expected)
    ? pass(`users are exactly ${expected.join(', ')}`, facts)
    : fail(`users are [${names.join(', ')}], expected exactly [${expected.join(', ')}]`, facts);
}

/**
 * The transactions match the snapshot taken before the drop (ids, user ids, amounts). Without a
 * snapshot (the target never held the canary) they are held to the canary's contract: as many rows as
 * the fixture, each pointing at a canary user.
 */
export function checkTransactions(current: CanarySnapshot, before: CanarySnapshot | undefined): Verdict {
  if (before) {
    const want = JSON.stringify(before.transactions);
    const got = JSON.stringify(current.transactions);
    const facts = {
      compared: 'snapshot taken before the drop',
      expected: before.transactions,
      found: current.transactions,
    };
    return want === got
      ? pass(`${current.transactions.length} transactions match the snapshot taken before the drop`, facts)
      : fail(
          `transactions differ from the snapshot taken before the drop: ${describeDifference(before.transactions, current.transactions)}`,
          facts,
        );
  }
  const userIds = new Set(current.users.map((u) => u.id));
  const strays = current.transactions.filter((t) => !userIds.has(t.user_id));
  const facts = {
    compared: 'canary contract (no snapshot: the target held no canary)',
    found: current.transactions,
  };
  if (current.transactions.length !== CANARY_TRANSACTIONS.length) {
    return fail(`${current.transactions.length} transactions, expected ${CANARY_TRANSACTIONS.length}`, facts);
  }
  if (strays.length > 0) {
    return fail(`transactions ${strays.map((t) => t.id).join(', ')} point at no canary user`, facts);
  }
  return pass(`${current.transactions.length} transactions, each belonging to a canary user`, facts);
}

function describeDifference(want: CanaryTransactionRow[], got: CanaryTransactionRow[]): string {
  const key = (t: CanaryTransactionRow) => `${t.id}:${t.user_id}:${t.amount}`;
  const gotKeys = new Set(got.map(key));
  const wantKeys = new Set(want.map(key));
  const missing = want.filter((t) => !gotKeys.has(key(t))).map(key);
  const extra = got.filter((t) => !wantKeys.has(key(t))).map(key);
  return `${got.length} rows vs ${want.length}; missing [${missing.join(', ')}], unexpected [${extra.join(', ')}] (id:user_id:amount)`;
}

/** The canary's own foreign key exists: transactions.user_id references users. */
export async function checkCanaryForeignKey(client: pg.ClientBase): Promise<Verdict> {
  const { rows } = await client.query<{ name: string }>(
    `SELECT c.conname AS name
       FROM pg_constraint c
      WHERE c.contype = 'f'
        AND c.conrelid = to_regclass($1)
        AND c.confrelid = to_regclass($2)`,
    [CANARY_FOREIGN_KEY.table, CANARY_FOREIGN_KEY.references],
  );
  const facts = { found: rows.map((r) => r.name) };
  return rows.length > 0
    ? pass(
        `${CANARY_FOREIGN_KEY.table} → ${CANARY_FOREIGN_KEY.references} foreign key present (${rows[0]?.name})`,
        facts,
      )
    : fail(
        `the foreign key ${CANARY_FOREIGN_KEY.table}.${CANARY_FOREIGN_KEY.column} → ${CANARY_FOREIGN_KEY.references} is missing: its ADD CONSTRAINT did not come back`,
        facts,
      );
}
