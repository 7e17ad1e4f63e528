/**
 * The canary checks, held to the discovered contract (canary-contract.ts, canary-discovery.ts) and
 * compared, every column of every row, against the best basis there is: the snapshot taken before the
 * drop, else the expectations file, else only the contract's own promises (and the summary says so).
 */
import type pg from 'pg';
import type { Executor } from '../exec/executor.ts';
import type { TableExpectation } from '../expect/expectations.ts';
import { toleranceFraction } from '../expect/table-expectation.ts';
import type { CanaryContract, DiscoveredCanary } from './canary-contract.ts';
import { discoverCanary } from './canary-discovery.ts';
import type { ReadSettings } from './deep.ts';
import {
  compareRows,
  copyFieldText,
  describeComparison,
  linesDigest,
  readTableRows,
  type TableRows,
} from './table-rows.ts';
import { fail, pass, type Verdict } from './verdict.ts';

/** The canary's contract and rows as one server holds them. */
export interface CanarySnapshot {
  contract: DiscoveredCanary;
  users: TableRows;
  transactions: TableRows;
}

export interface SnapshotOptions {
  /** Runs psql next to the server, to read rows as COPY text. */
  executor: Executor;
  /** The database on the server (the canary, or its copy). */
  database: string;
  contract: CanaryContract;
  settings: ReadSettings;
  signal?: AbortSignal;
}

/** Discovers the contract on the database `client` is connected to and reads both tables' rows. */
export async function snapshotCanary(
  client: pg.ClientBase,
  options: SnapshotOptions,
): Promise<CanarySnapshot> {
  const contract = await discoverCanary(client, options.contract);
  const read = (table: DiscoveredCanary['users'] | DiscoveredCanary['transactions']) =>
    readTableRows(options.executor, options.database, table, options.settings, options.signal);
  // Two psql sessions at once: each is a process start and a connection, most of a canary read's time.
  // Both have ended before this returns or throws (no session left on the canary, which may be dropped next).
  const [users, transactions] = await Promise.allSettled([read(contract.users), read(contract.transactions)]);
  if (users.status === 'rejected') throw users.reason;
  if (transactions.status === 'rejected') throw transactions.reason;
  return { contract, users: users.value, transactions: transactions.value };
}

/** What the restored rows are compared against. */
export type CanaryBasis =
  | { kind: 'snapshot'; snapshot: CanarySnapshot }
  /** The canary database's tables in the expectations file. */
  | { kind: 'expectations'; file: string; tables: Record<string, TableExpectation> }
  | { kind: 'contract' };

const NOT_COMPARED =
  'no snapshot (the target held no canary before the restore) and no --expect (record one with `pg-restore-drill record`)';

interface TableOutcome {
  ok: boolean;
  /** What was compared, or what differs. */
  text: string;
  facts: Record<string, unknown>;
}

/** Every column of every row of one canary table against the basis (undefined: nothing to compare). */
function compareTable(current: TableRows, basis: CanaryBasis): TableOutcome | undefined {
  if (basis.kind === 'contract') return undefined;
  if (basis.kind === 'snapshot') return compareSnapshot(current, basis.snapshot);
  return compareExpected(current, basis.tables[current.table], `the expectations of ${basis.file}`);
}

/** Every column of every row against the snapshot taken before the restore. */
function compareSnapshot(current: TableRows, snapshot: CanarySnapshot): TableOutcome {
  const before = snapshot.contract.users.table === current.table ? snapshot.users : snapshot.transactions;
  const comparison = compareRows(before, current);
  return comparison.ok
    ? {
        ok: true,
        text: `its ${current.lines.length} row(s) match the snapshot taken before the restore, every column`,
        facts: { compared: 'snapshot taken before the restore', rows: current.lines.length },
      }
    : {
        ok: false,
        text: `${current.table} differs from the snapshot taken before the restore: ${describeComparison(comparison, { expected: before.lines.length, found: current.lines.length })}`,
        facts: {
          compared: 'snapshot taken before the restore',
          differences: comparison.differences,
          expected: before.lines,
          found: current.lines,
        },
      };
}

/** Against the expectations file's entry: its rows' texts, else its digest, else its count or range. */
function compareExpected(
  current: TableRows,
  entry: TableExpectation | undefined,
  against: string,
): TableOutcome {
  if (!entry) {
    return {
      ok: false,
      text: `${against} hold no entry for ${current.table}: record them again (\`pg-restore-drill record\`) or pin canary.users/transactions.table`,
      facts: { compared: against },
    };
  }
  if (entry.rowsText) {
    const expected = {
      columns: entry.columns ?? current.columns,
      key: entry.key ?? current.key,
      lines: entry.rowsText,
    };
    const comparison = compareRows(expected, current);
    return comparison.ok
      ? {
          ok: true,
          text: `its ${current.lines.length} row(s) match ${against}, every column`,
          facts: { compared: against },
        }
      : {
          ok: false,
          text: `${current.table} differs from ${against}: ${describeComparison(comparison, { expected: entry.rowsText.length, found: current.lines.length })}`,
          facts: {
            compared: against,
            differences: comparison.differences,
            expected: entry.rowsText,
            found: current.lines,
          },
        };
  }
  const found = linesDigest(current.lines);
  const rowsOk = rowsWithin(entry, found.rows);
  if (entry.digest) {
    const ok = rowsOk && entry.digest === found.digest;
    return {
      ok,
      text: ok
        ? `its ${found.rows} row(s) match the digest in ${against}`
        : `${current.table} differs from ${against}: ${found.rows} row(s) digest ${found.digest}, expected ${describeRows(entry)} digest ${entry.digest}`,
      facts: { compared: against, found },
    };
  }
  return {
    ok: rowsOk,
    text: rowsOk
      ? `${found.rows} row(s), within ${describeRows(entry)} of ${against} (contents not compared: a tolerance, no digest)`
      : `${current.table} holds ${found.rows} row(s), expected ${describeRows(entry)} by ${against}`,
    facts: { compared: against, found },
  };
}

/** Whether `rows` satisfies a table's expected count, range or tolerance. */
export function rowsWithin(entry: Pick<TableExpectation, 'rows' | 'tolerance'>, rows: number): boolean {
  if (typeof entry.rows !== 'number') {
    return (
      (entry.rows.min === undefined || rows >= entry.rows.min) &&
      (entry.rows.max === undefined || rows <= entry.rows.max)
    );
  }
  if (entry.tolerance) return Math.abs(rows - entry.rows) <= entry.rows * toleranceFraction(entry.tolerance);
  return rows === entry.rows;
}

/** `120000 ±5%`, `between 1000 and 5000`, `5`. */
export function describeRows(entry: Pick<TableExpectation, 'rows' | 'tolerance'>): string {
  if (typeof entry.rows !== 'number') {
    const { min, max } = entry.rows;
    if (min !== undefined && max !== undefined) return `between ${min} and ${max} rows`;
    return min !== undefined ? `at least ${min} rows` : `at most ${max} rows`;
  }
  return entry.tolerance ? `${entry.rows} rows ±${entry.tolerance}` : `${entry.rows} rows`;
}

/** The values of one column of rows read as COPY text. */
function columnValues(rows: TableRows, column: string): string[] {
  const at = rows.columns.indexOf(column);
  return rows.lines.map((line) => copyFieldText(line.split('\t')[at] ?? ''));
}

/** Exactly the expected names (alice, bob, charlie) in the discovered column, and the rows against the basis. */
export function checkUsers(current: CanarySnapshot, basis: CanaryBasis): Verdict {
  const { users } = current.contract;
  const column = `${users.table}.${users.nameColumn}`;
  // char(n) pads with blanks and ignores them when it compares: so does this check.
  const names = columnValues(current.users, users.nameColumn)
    .map((name) => (users.namePadded ? name.replace(/ +$/, '') : name))
    .sort();
  const expected = [...users.expected].sort();
  const facts = { table: users.table, nameColumn: users.nameColumn, column, expected, found: names };
  if (JSON.stringify(names) !== JSON.stringify(expected))
    return fail(`${column} holds [${names.join(', ')}], expected exactly [${expected.join(', ')}]`, facts);
  const rows = compareTable(current.users, basis);
  const held = `${column} holds exactly ${expected.join(', ')}`;
  if (!rows)
    return pass(`${held} (other columns not compared: ${NOT_COMPARED})`, {
      ...facts,
      compared: 'canary contract',
    });
  return rows.ok
    ? pass(`${held}; ${rows.text}`, { ...facts, ...rows.facts })
    : fail(rows.text, { ...facts, ...rows.facts });
}

/**
 * The transactions against the basis, every column of every row. With nothing to compare against they
 * are held to the contract only (their count, and each pointing at a canary user or, NULL in the key,
 * at none, as the summary counts), and the summary says that their contents were not compared.
 */
export function checkTransactions(current: CanarySnapshot, basis: CanaryBasis): Verdict {
  const { transactions, foreignKey, users } = current.contract;
  const rows = compareTable(current.transactions, basis);
  if (rows) {
    return rows.ok
      ? pass(`${transactions.table}: ${rows.text}`, { table: transactions.table, ...rows.facts })
      : fail(rows.text, { table: transactions.table, ...rows.facts });
  }
  const count = current.transactions.lines.length;
  const facts: Record<string, unknown> = {
    table: transactions.table,
    compared: 'canary contract',
    rows: count,
    found: current.transactions.lines,
  };
  if (count !== transactions.rows)
    return fail(
      `${transactions.table} holds ${count} row(s), expected ${transactions.rows} (the canary contract)`,
      facts,
    );
  if (!foreignKey)
    return fail(
      `${transactions.table} has no foreign key to ${users.table}: which user each transaction belongs to cannot be checked`,
      facts,
    );
  const parentKeys = new Set(
    current.users.lines.map((line) => {
      const fields = line.split('\t');
      return foreignKey.references.map((c) => fields[current.users.columns.indexOf(c)]).join('\t');
    }),
  );
  const keyOf = (line: string) => {
    const fields = line.split('\t');
    return foreignKey.columns.map((c) => fields[current.transactions.columns.indexOf(c)]);
  };
  // A NULL in the key points at no one, and the foreign key allows it: said, not counted as pointing.
  const unowned = current.transactions.lines.filter((line) => keyOf(line).includes('\\N')).length;
  const strays = current.transactions.lines.filter((line) => {
    const values = keyOf(line);
    return !values.includes('\\N') && !parentKeys.has(values.join('\t'));
  });
  if (strays.length > 0)
    return fail(
      `${strays.length} row(s) of ${transactions.table} point at no canary user: ${strays.map((l) => `[${l.split('\t').map(copyFieldText).join(', ')}]`).join('; ')}`,
      facts,
    );
  const link = `${foreignKey.columns.join(', ')} → ${users.table}.${foreignKey.references.join(', ')}`;
  const pointing = unowned
    ? `${count - unowned} pointing at a canary user (${link}), ${unowned} at none (${foreignKey.columns.join(', ')} NULL, which the foreign key allows)`
    : `each pointing at a canary user (${link})`;
  return pass(
    `${count} row(s) in ${transactions.table}, ${pointing}; contents not compared against anything: ${NOT_COMPARED}`,
    { ...facts, ...(unowned ? { withoutUser: unowned } : {}) },
  );
}

/** The canary's own foreign key exists: transactions → users, whatever its columns are called. */
export function checkCanaryForeignKey(current: DiscoveredCanary): Verdict {
  const fk = current.foreignKey;
  const facts = { table: current.transactions.table, references: current.users.table, foreignKey: fk };
  return fk
    ? pass(
        `${current.transactions.table} → ${current.users.table} foreign key present (${fk.name}: ${fk.columns.join(', ')} → ${fk.references.join(', ')})`,
        facts,
      )
    : fail(
        `no foreign key from ${current.transactions.table} to ${current.users.table}: its ADD CONSTRAINT did not come back`,
        facts,
      );
}
