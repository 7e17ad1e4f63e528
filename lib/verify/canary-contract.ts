/**
 * The canary contract as data. The operator made `backup_test` by hand long ago: its promises are ours
 * to check, its column names are not ours to choose. The default contract names only what the operator
 * promised (a table `users` holding exactly alice, bob and charlie in some text column, a table
 * `transactions` of 5 rows with a foreign key to `users`); the rest is discovered from the catalog and
 * the data (canary-discovery.ts). An expectations file may pin it (its `canary:` section).
 */
import type { CanaryContractSpec } from '../expect/expectations.ts';
import { CANARY_TRANSACTIONS, CANARY_USERS } from './canary-fixture.ts';

/** What the drill holds the canary to before anything is discovered. */
export interface CanaryContract {
  database: string;
  users: {
    /** A bare name (`users`: any schema) or a qualified one (`bank.users`: that table only). */
    table: string;
    /** The text column holding the names; undefined: whichever holds them. */
    nameColumn?: string;
    expected: string[];
  };
  transactions: {
    table: string;
    rows: number;
    /** The foreign key's name; undefined: any foreign key from transactions to users. */
    foreignKey?: string;
  };
}

/** The operator's contract for `database` (the --canary setting). */
export function defaultCanaryContract(database: string): CanaryContract {
  return {
    database,
    users: { table: 'users', expected: [...CANARY_USERS] },
    transactions: { table: 'transactions', rows: CANARY_TRANSACTIONS.length },
  };
}

/** The contract an expectations file recorded (its `canary:` section), for the configured canary. */
export function contractFromSpec(spec: CanaryContractSpec, database: string): CanaryContract {
  return {
    database,
    users: { table: spec.users.table, nameColumn: spec.users.nameColumn, expected: [...spec.users.expected] },
    transactions: {
      table: spec.transactions.table,
      rows: spec.transactions.rows,
      ...(spec.transactions.foreignKey ? { foreignKey: spec.transactions.foreignKey } : {}),
    },
  };
}

/** One canary table as found on a server. */
export interface CanaryTable {
  /** Schema-qualified and quoted as SQL needs it (`format('%I.%I')`): `bank.users`. */
  table: string;
  schema: string;
  name: string;
  /** The columns COPY writes (not dropped, not generated), in order. */
  columns: string[];
  /** The primary key's columns; every column when the table has none. */
  key: string[];
  keyIsPrimary: boolean;
}

/** The contract as this server holds it: every name the checks use, discovered. */
export interface DiscoveredCanary {
  database: string;
  /** `namePadded`: the name column is char(n), its values blank-padded (the blanks are no part of a name). */
  users: CanaryTable & { nameColumn: string; expected: string[]; namePadded?: true };
  transactions: CanaryTable & { rows: number };
  /** transactions → users; null when the server has none. */
  foreignKey: { name: string; columns: string[]; references: string[] } | null;
}

/** The discovered contract in the expectations file's words. */
export function contractSpecOf(found: DiscoveredCanary): CanaryContractSpec {
  return {
    database: found.database,
    users: { table: found.users.table, nameColumn: found.users.nameColumn, expected: found.users.expected },
    transactions: {
      table: found.transactions.table,
      rows: found.transactions.rows,
      ...(found.foreignKey ? { foreignKey: found.foreignKey.name } : {}),
    },
  };
}
