/**
 * Finds the canary contract on a server: which schema holds `users` and `transactions`, which text
 * column of users holds the names, what their primary keys are, and which foreign key ties them. From
 * the catalog and the data, never from our fixture's column names; every query under search_path ''.
 */
import pg from 'pg';
import { DrillError } from '../errors.ts';
import type { CanaryContract, CanaryTable, DiscoveredCanary } from './canary-contract.ts';
import { probeCanaryLocks } from './canary-locks.ts';
import { pinSearchPath } from './safe-session.ts';

/** The canary on the server does not have the shape its contract promises. */
export class CanaryContractError extends DrillError {
  static override readonly code = 'DRILL_CANARY_CONTRACT';
}

interface TableRow {
  oid: string;
  schema: string;
  name: string;
  qualified: string;
}

const SYSTEM_SCHEMAS = `n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'`;

/** Tables called `name` (any schema), or the one table a qualified name means. */
async function findTables(client: pg.ClientBase, table: string, database: string): Promise<TableRow[]> {
  const qualified = table.includes('.');
  const { rows } = await client.query<TableRow>(
    `SELECT c.oid::text AS oid, n.nspname AS schema, c.relname AS name,
            pg_catalog.format('%I.%I', n.nspname, c.relname) AS qualified
       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND ${SYSTEM_SCHEMAS}
        AND ${qualified ? 'c.oid = pg_catalog.to_regclass($1)' : 'c.relname = $1'}
      ORDER BY n.nspname = 'public' DESC, n.nspname`,
    [table],
  );
  if (rows.length === 0) {
    const { rows: all } = await client.query<{ t: string }>(
      `SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) AS t
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND ${SYSTEM_SCHEMAS} ORDER BY 1 LIMIT 20`,
    );
    throw new CanaryContractError(
      `${database} has no table ${table}${qualified ? '' : ' in any schema'} (its tables: ${all.length ? all.map((r) => r.t).join(', ') : 'none'})`,
    );
  }
  return rows;
}

interface ColumnRow {
  name: string;
  texty: boolean;
  /** char(n) (or a domain over it): blank-padded in COPY text, the blanks insignificant in comparisons. */
  padded: boolean;
  generated: boolean;
}

async function describeTable(
  client: pg.ClientBase,
  row: TableRow,
): Promise<CanaryTable & { texty: string[]; padded: string[] }> {
  const { rows: columns } = await client.query<ColumnRow>(
    `SELECT a.attname::text AS name,
            -- Strings (text, varchar, char(n), domains over them) and enums: a name may be either.
            t.typcategory IN ('S', 'E') AS texty,
            -- char(n), or a domain over it at any depth (a domain may be over a domain).
            (WITH RECURSIVE chain(oid, base) AS (
               SELECT t.oid, t.typbasetype
             UNION ALL
               SELECT d.oid, d.typbasetype FROM pg_catalog.pg_type d JOIN chain ON d.oid = chain.base
             )
             SELECT bool_or(oid = 'pg_catalog.bpchar'::pg_catalog.regtype) FROM chain) AS padded,
            a.attgenerated <> '' AS generated
       FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
      WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY a.attnum`,
    [row.oid],
  );
  const { rows: pk } = await client.query<{ columns: string[] }>(
    `SELECT array_agg(a.attname::text ORDER BY k.ord) AS columns
       FROM pg_catalog.pg_index i
       CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
       JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
      WHERE i.indrelid = $1::oid AND i.indisprimary
      GROUP BY i.indexrelid`,
    [row.oid],
  );
  const copied = columns.filter((c) => !c.generated).map((c) => c.name);
  const primary = pk[0]?.columns;
  return {
    table: row.qualified,
    schema: row.schema,
    name: row.name,
    columns: copied,
    key: primary ?? copied,
    keyIsPrimary: primary !== undefined,
    texty: columns.filter((c) => c.texty && !c.generated).map((c) => c.name),
    padded: columns.filter((c) => c.padded).map((c) => c.name),
  };
}

/**
 * The text column holding the expected names: the one holding the most of them, then the fewest other
 * values. A damaged table (a missing or an extra user) still names its column; checkUsers judges it.
 */
async function findNameColumn(
  client: pg.ClientBase,
  table: CanaryTable & { texty: string[] },
  expected: string[],
  pinned: string | undefined,
): Promise<string> {
  if (pinned !== undefined) {
    if (!table.columns.includes(pinned))
      throw new CanaryContractError(
        `${table.table} has no column ${pinned} (the contract's name column; its columns: ${table.columns.join(', ')})`,
      );
    return pinned;
  }
  let best: { column: string; hits: number; others: number } | undefined;
  for (const column of table.texty) {
    const col = pg.escapeIdentifier(column);
    const { rows } = await client.query<{ hits: number; others: number }>(
      `SELECT count(DISTINCT ${col}::text) FILTER (WHERE ${col}::text = ANY($1::text[]))::int AS hits,
              count(*) FILTER (WHERE ${col} IS NULL OR NOT ${col}::text = ANY($1::text[]))::int AS others
         FROM ${table.table}`,
      [expected],
    );
    const hits = rows[0]?.hits ?? 0;
    const others = rows[0]?.others ?? 0;
    if (hits > 0 && (!best || hits > best.hits || (hits === best.hits && others < best.others)))
      best = { column, hits, others };
  }
  if (!best) {
    throw new CanaryContractError(
      `no text column of ${table.table} holds any of ${expected.join(', ')} (text columns: ${table.texty.join(', ') || 'none'})`,
    );
  }
  return best.column;
}

interface ForeignKeyRow {
  name: string;
  columns: string[];
  references: string[];
}

async function findForeignKey(
  client: pg.ClientBase,
  child: string,
  parent: string,
  pinned: string | undefined,
): Promise<DiscoveredCanary['foreignKey']> {
  const { rows } = await client.query<ForeignKeyRow>(
    `SELECT c.conname AS name,
            ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, o)
                    JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.o) AS columns,
            ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(n, o)
                    JOIN pg_catalog.pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.o) AS "references"
       FROM pg_catalog.pg_constraint c
      WHERE c.contype = 'f' AND c.conrelid = $1::oid AND c.confrelid = $2::oid
      ORDER BY c.conname`,
    [child, parent],
  );
  const chosen = pinned === undefined ? rows[0] : rows.find((r) => r.name === pinned);
  return chosen ?? null;
}

/**
 * Discovers the canary contract in the database `client` is connected to. Throws CanaryContractError
 * naming what is missing (a table, the name column); a missing foreign key is left to its own check.
 */
export async function discoverCanary(
  client: pg.ClientBase,
  contract: CanaryContract,
): Promise<DiscoveredCanary> {
  await pinSearchPath(client);
  const database = contract.database;
  const usersCandidates = await findTables(client, contract.users.table, database);
  const transactionsCandidates = await findTables(client, contract.transactions.table, database);
  // Several schemas may hold a `users`: the canary's is the one its transactions point at.
  let pair: { users: TableRow; transactions: TableRow } | undefined;
  for (const t of transactionsCandidates) {
    for (const u of usersCandidates) {
      if (pair) break;
      if (await findForeignKey(client, t.oid, u.oid, contract.transactions.foreignKey))
        pair = { users: u, transactions: t };
    }
  }
  const usersRow =
    pair?.users ??
    usersCandidates.find((u) => transactionsCandidates.some((t) => t.schema === u.schema)) ??
    (usersCandidates[0] as TableRow);
  const transactionsRow =
    pair?.transactions ??
    transactionsCandidates.find((t) => t.schema === usersRow.schema) ??
    (transactionsCandidates[0] as TableRow);
  const users = await describeTable(client, usersRow);
  const transactions = await describeTable(client, transactionsRow);
  // Before the first read of their rows: a table another session holds exclusively is said, not waited on.
  await probeCanaryLocks(client, [users.table, transactions.table]);
  const nameColumn = await findNameColumn(client, users, contract.users.expected, contract.users.nameColumn);
  const foreignKey = await findForeignKey(
    client,
    transactionsRow.oid,
    usersRow.oid,
    contract.transactions.foreignKey,
  );
  const { texty: _u, padded, ...usersTable } = users;
  const { texty: _t, padded: _p, ...transactionsTable } = transactions;
  return {
    database,
    users: {
      ...usersTable,
      nameColumn,
      expected: [...contract.users.expected],
      ...(padded.includes(nameColumn) ? { namePadded: true as const } : {}),
    },
    transactions: { ...transactionsTable, rows: contract.transactions.rows },
    foreignKey,
  };
}
