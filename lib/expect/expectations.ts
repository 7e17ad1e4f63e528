/**
 * The expectations file (`--expect FILE` / `DRILL_EXPECT`, written by `pg-restore-drill record`): what a
 * backup must hold, recorded once and checked by every drill. YAML (JSON is YAML too), version 1. Read
 * and validated before the drill does any work: a bad file is an ExpectationsError naming the file, the
 * key path and the fix.
 */
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import type { AllowRule } from '../restore/allowed-errors.ts';
import { ExpectationsError } from './errors.ts';
import { tableExpectation } from './table-expectation.ts';
import { type Json, show, Validator } from './validator.ts';

export { toleranceFraction } from './table-expectation.ts';

export type { AllowRule };

/** The canary contract as recorded: which tables and columns hold the canary's promises. */
export interface CanaryContractSpec {
  database: string;
  users: { table: string; nameColumn: string; expected: string[] };
  transactions: { table: string; rows: number; foreignKey?: string };
}

/** A row count: exact, or a range for tables that live data keeps changing. */
export type RowsExpectation = number | { min?: number; max?: number };

/** What one table must hold. */
export interface TableExpectation {
  rows: RowsExpectation;
  /** The content digest (lib/dump/row-digest.ts over COPY text lines), 16 hex digits. */
  digest?: string;
  /** `"5%"`: the row count may differ from `rows` by this share (then no digest). */
  tolerance?: string;
  /** The primary key's columns (all columns when the table has none). */
  key?: string[];
  /** The COPY column list, in order: the columns the digest covers, and the fields of `rowsText`. */
  columns?: string[];
  /** Each row as its COPY text line (small canary tables only). */
  rowsText?: string[];
}

export interface DatabaseExpectation {
  tables: Record<string, TableExpectation>;
}

/** One of the operator's own read-only SQL checks, run as its own drill step. */
export interface Assertion {
  name: string;
  database: string;
  sql: string;
  /** The first column of the first row, as PostgreSQL prints it (psql -At): `t`, `42`, `2026-12-01`. */
  value?: string;
  /** How many rows the query returns. */
  rows?: number;
  /** Bounds of the first column of the first row, read as a number. */
  min?: number;
  max?: number;
  /** statement_timeout for this assertion; default the --assertion-timeout setting. */
  timeoutSeconds?: number;
}

export interface Expectations {
  /** The file it was read from (absolute), for messages and the step's name. */
  file: string;
  version: 1;
  recordedAt?: string;
  recordedFrom?: string;
  canary?: CanaryContractSpec;
  databases: Record<string, DatabaseExpectation>;
  assertions: Assertion[];
  allow: AllowRule[];
}

/** Reads and validates an expectations file. */
export async function loadExpectations(file: string): Promise<Expectations> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ExpectationsError(
      file,
      '',
      `cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); check the path given to --expect / DRILL_EXPECT`,
    );
  }
  return parseExpectations(text, file);
}

/** Parses and validates the text of an expectations file; `file` names it in errors. */
export function parseExpectations(text: string, file: string): Expectations {
  let doc: Json;
  try {
    doc = parse(text, { prettyErrors: true });
  } catch (error) {
    throw new ExpectationsError(file, '', `is not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  const v = new Validator(file);
  const root = v.object(doc, '');
  v.known(root, '', ['version', 'recordedAt', 'recordedFrom', 'canary', 'databases', 'assertions', 'allow']);
  if (root.version !== 1) {
    v.fail('version', `must be 1 (the only version this drill reads), got ${show(root.version)}`);
  }
  const expectations: Expectations = {
    file,
    version: 1,
    databases: {},
    assertions: [],
    allow: [],
  };
  if (root.recordedAt !== undefined) expectations.recordedAt = v.string(root.recordedAt, 'recordedAt');
  if (root.recordedFrom !== undefined)
    expectations.recordedFrom = v.string(root.recordedFrom, 'recordedFrom');
  if (root.canary !== undefined) expectations.canary = canarySpec(v, root.canary);
  if (root.databases !== undefined) {
    const databases = v.object(root.databases, 'databases');
    for (const [name, value] of Object.entries(databases)) {
      const path = `databases.${name}`;
      const db = v.object(value, path);
      v.known(db, path, ['tables']);
      const tables = db.tables === undefined ? {} : v.object(db.tables, `${path}.tables`);
      const out: Record<string, TableExpectation> = {};
      for (const [table, spec] of Object.entries(tables))
        out[table] = tableExpectation(v, spec, `${path}.tables.${table}`);
      expectations.databases[name] = { tables: out };
    }
  }
  if (root.assertions !== undefined) {
    const list = v.array(root.assertions, 'assertions');
    const names = new Set<string>();
    list.forEach((item, i) => {
      const assertion = assertionOf(v, item, `assertions[${i}]`);
      if (names.has(assertion.name))
        v.fail(`assertions[${i}].name`, `repeats the name "${assertion.name}": give each assertion its own`);
      names.add(assertion.name);
      expectations.assertions.push(assertion);
    });
  }
  if (root.allow !== undefined) {
    v.array(root.allow, 'allow').forEach((item, i) => {
      expectations.allow.push(allowRule(v, item, `allow[${i}]`));
    });
  }
  return expectations;
}

function canarySpec(v: Validator, value: Json, path: string = 'canary'): CanaryContractSpec {
  const c = v.object(value, path);
  v.known(c, path, ['database', 'users', 'transactions']);
  const users = v.object(c.users, `${path}.users`);
  v.known(users, `${path}.users`, ['table', 'nameColumn', 'expected']);
  const transactions = v.object(c.transactions, `${path}.transactions`);
  v.known(transactions, `${path}.transactions`, ['table', 'rows', 'foreignKey']);
  const expected = v
    .array(users.expected, `${path}.users.expected`)
    .map((n, i) => v.string(n, `${path}.users.expected[${i}]`));
  if (expected.length === 0) v.fail(`${path}.users.expected`, 'must name at least one user');
  return {
    database: v.string(c.database, `${path}.database`),
    users: {
      table: v.string(users.table, `${path}.users.table`),
      nameColumn: v.string(users.nameColumn, `${path}.users.nameColumn`),
      expected,
    },
    transactions: {
      table: v.string(transactions.table, `${path}.transactions.table`),
      rows: v.count(transactions.rows, `${path}.transactions.rows`),
      ...(transactions.foreignKey === undefined
        ? {}
        : { foreignKey: v.string(transactions.foreignKey, `${path}.transactions.foreignKey`) }),
    },
  };
}

function assertionOf(v: Validator, value: Json, path: string): Assertion {
  const a = v.object(value, path);
  v.known(a, path, ['name', 'database', 'sql', 'value', 'rows', 'min', 'max', 'timeoutSeconds']);
  const out: Assertion = {
    name: v.string(a.name, `${path}.name`),
    database: v.string(a.database, `${path}.database`),
    sql: v.string(a.sql, `${path}.sql`),
  };
  if (out.sql.trim() === '') v.fail(`${path}.sql`, 'is empty: give the query to run');
  const kinds = ['value', 'rows', 'min/max'].filter((k) =>
    k === 'min/max' ? a.min !== undefined || a.max !== undefined : a[k] !== undefined,
  );
  if (kinds.length !== 1) {
    v.fail(
      path,
      `"${out.name}" needs exactly one expectation: value, rows, or min/max${kinds.length ? ` (it has ${kinds.join(' and ')})` : ''}`,
    );
  }
  if (a.value !== undefined) {
    if (typeof a.value === 'boolean') out.value = a.value ? 't' : 'f';
    else if (typeof a.value === 'string' || typeof a.value === 'number') out.value = String(a.value);
    else v.fail(`${path}.value`, `must be text, a number or a boolean, got ${show(a.value)}`);
  }
  if (a.rows !== undefined) out.rows = v.count(a.rows, `${path}.rows`);
  if (a.min !== undefined) out.min = v.number(a.min, `${path}.min`);
  if (a.max !== undefined) out.max = v.number(a.max, `${path}.max`);
  if (out.min !== undefined && out.max !== undefined && out.min > out.max)
    v.fail(path, `min ${out.min} is above max ${out.max}`);
  if (a.timeoutSeconds !== undefined) {
    const seconds = v.number(a.timeoutSeconds, `${path}.timeoutSeconds`);
    if (seconds <= 0)
      v.fail(`${path}.timeoutSeconds`, `must be a positive number of seconds, got ${seconds}`);
    out.timeoutSeconds = seconds;
  }
  return out;
}

function allowRule(v: Validator, value: Json, path: string): AllowRule {
  const r = v.object(value, path);
  v.known(r, path, ['sqlstate', 'match', 'max']);
  const rule: AllowRule = {};
  if (r.sqlstate !== undefined) {
    const sqlstate =
      typeof r.sqlstate === 'number' ? String(r.sqlstate) : v.string(r.sqlstate, `${path}.sqlstate`);
    if (!/^[0-9A-Z]{5}$/.test(sqlstate))
      v.fail(
        `${path}.sqlstate`,
        `must be a 5-character SQLSTATE such as "42704" (quote it: YAML reads 42704 as a number and drops leading zeros), got ${show(r.sqlstate)}`,
      );
    rule.sqlstate = sqlstate;
  }
  if (r.match !== undefined) {
    const match = v.string(r.match, `${path}.match`);
    try {
      new RegExp(match);
    } catch (error) {
      v.fail(`${path}.match`, `is not a valid regular expression: ${(error as Error).message}`);
    }
    rule.match = match;
  }
  if (r.max !== undefined) {
    if (!Number.isInteger(r.max) || (r.max as number) < 1)
      v.fail(`${path}.max`, `must be a whole number of at least 1, got ${show(r.max)}`);
    rule.max = r.max as number;
  }
  if (rule.sqlstate === undefined && rule.match === undefined)
    v.fail(path, 'accepts every error: give a sqlstate, a match, or both');
  return rule;
}
