/**
 * The canary database as it lives in the operator's cluster: `users` (alice, bob, charlie) and
 * `transactions` (5 rows, foreign key to users, serial ids). The drill seeds it in self-contained mode
 * and checks it after every restore; the tests build their dumps from it. It lives here once.
 */

export const CANARY_USERS = ['alice', 'bob', 'charlie'] as const;

export interface CanaryTransaction {
  user: (typeof CANARY_USERS)[number];
  /** numeric(12,2) as PostgreSQL prints it. */
  amount: string;
  note: string;
}

export const CANARY_TRANSACTIONS: readonly CanaryTransaction[] = [
  { user: 'alice', amount: '100.00', note: 'opening balance' },
  { user: 'bob', amount: '250.50', note: 'opening balance' },
  { user: 'charlie', amount: '75.25', note: 'opening balance' },
  { user: 'alice', amount: '-20.00', note: 'coffee' },
  { user: 'bob', amount: '-99.99', note: 'books' },
];

/** The foreign key every restore must bring back: transactions.user_id → users.id. */
export const CANARY_FOREIGN_KEY = { table: 'transactions', column: 'user_id', references: 'users' } as const;

function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/** Creates the canary's tables and rows in the current database. */
export function canarySeedSql(): string {
  const users = CANARY_USERS.map((name) => `(${literal(name)})`).join(', ');
  const transactions = CANARY_TRANSACTIONS.map(
    (t) => `((SELECT id FROM users WHERE name = ${literal(t.user)}), ${t.amount}, ${literal(t.note)})`,
  ).join(',\n  ');
  return `CREATE TABLE users (
  id serial PRIMARY KEY,
  name text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE transactions (
  id serial PRIMARY KEY,
  user_id integer NOT NULL REFERENCES users (id),
  amount numeric(12, 2) NOT NULL,
  note text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX transactions_user_id_idx ON transactions (user_id);
INSERT INTO users (name) VALUES ${users};
INSERT INTO transactions (user_id, amount, note) VALUES
  ${transactions};
`;
}
