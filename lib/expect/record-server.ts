import type { Executor } from '../exec/executor.ts';
import type { Connection } from '../pg/connection.ts';
import { describeConnection } from '../pg/connection.ts';
import { withClient } from '../pg/databases.ts';
import { type CanaryContract, contractSpecOf, defaultCanaryContract } from '../verify/canary-contract.ts';
import { discoverCanary } from '../verify/canary-discovery.ts';
import { readDigests } from '../verify/deep.ts';
import { pinSearchPath } from '../verify/safe-session.ts';
import { columnList, readTableRows } from '../verify/table-rows.ts';
import type { CanaryContractSpec, DatabaseExpectation, TableExpectation } from './expectations.ts';
import {
  NO_CANARY,
  RecordError,
  type RecordedExpectations,
  type RecordOptions,
  ROWS_TEXT_LIMIT,
} from './record.ts';

interface LiveDatabase {
  encoding: string;
  /** Each table with the columns pg_dump's COPY writes (not dropped, not generated). */
  tables: { table: string; columns: string[] }[];
  canary?: CanaryContract & { found: Awaited<ReturnType<typeof discoverCanary>> };
}

/** Reads one database's catalog in a read-only transaction: its tables, and the canary's contract. */
async function readCatalog(
  connection: Connection,
  database: string,
  canary: string | undefined,
): Promise<LiveDatabase> {
  return withClient(connection, database, async (client) => {
    await client.query('SET default_transaction_read_only = on');
    await client.query('BEGIN READ ONLY');
    try {
      await pinSearchPath(client);
      const { rows: encoding } = await client.query<{ e: string }>(
        'SELECT pg_catalog.pg_encoding_to_char(encoding) AS e FROM pg_catalog.pg_database WHERE datname = current_database()',
      );
      // The tables pg_dump writes data for: ordinary tables and partitions, not an extension's own.
      const { rows } = await client.query<{ t: string; columns: string[] }>(
        `SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) AS t,
                ARRAY(SELECT a.attname::text FROM pg_catalog.pg_attribute a
                       WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
                       ORDER BY a.attnum) AS columns
           FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
          WHERE c.relkind = 'r' AND c.relpersistence <> 't'
            AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'
            AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                             WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = c.oid AND d.deptype = 'e')
          ORDER BY 1`,
      );
      const out: LiveDatabase = {
        encoding: encoding[0]?.e ?? 'UTF8',
        tables: rows.map((r) => ({ table: r.t, columns: r.columns })),
      };
      if (database === canary) {
        const contract = defaultCanaryContract(canary);
        out.canary = { ...contract, found: await discoverCanary(client, contract) };
      }
      return out;
    } finally {
      await client.query('ROLLBACK').catch(() => {});
    }
  });
}

/** Records from a live server, read-only: catalog through `pg`, rows and digests through psql COPY. */
export async function recordFromServer(
  connection: Connection,
  executor: Executor,
  options: RecordOptions,
): Promise<RecordedExpectations> {
  const names = await withClient(connection, connection.database, async (client) => {
    const { rows } = await client.query<{ datname: string }>(
      'SELECT datname FROM pg_catalog.pg_database WHERE datallowconn AND NOT datistemplate ORDER BY 1',
    );
    return rows.map((r) => r.datname);
  });
  if (options.canary === NO_CANARY && !options.all)
    throw new RecordError('--canary none records nothing on its own: add --all to record every database');
  if (!names.includes(options.canary) && !options.all) {
    throw new RecordError(
      `${describeConnection(connection)} has no database ${options.canary} (it has ${names.join(', ')}): name the canary with --canary, or record every database with --all`,
    );
  }
  const databases: Record<string, DatabaseExpectation> = {};
  let canary: CanaryContractSpec | undefined;
  for (const database of options.all ? names : [options.canary]) {
    const recorded = await recordDatabase(connection, executor, database, options);
    databases[database] = { tables: recorded.tables };
    canary = recorded.canary ?? canary;
  }
  return {
    version: 1,
    recordedAt: options.now.toISOString(),
    recordedFrom: describeConnection(connection),
    ...(canary ? { canary } : {}),
    databases,
  };
}

/** One database's tables (count, digest, columns), and for the canary its contract, keys and rows. */
async function recordDatabase(
  connection: Connection,
  executor: Executor,
  database: string,
  options: RecordOptions,
): Promise<{ tables: Record<string, TableExpectation>; canary?: CanaryContractSpec }> {
  const catalog = await readCatalog(
    connection,
    database,
    options.canary === NO_CANARY ? undefined : options.canary,
  );
  const settings = { encoding: catalog.encoding, timeZone: options.timeZone };
  const digests = await readDigests(
    executor,
    database,
    catalog.tables.map(({ table, columns }) => ({
      kind: 'table' as const,
      table,
      columns: columnList(columns),
    })),
    settings,
    () => performance.now(),
  );
  const tables: Record<string, TableExpectation> = {};
  catalog.tables.forEach(({ table, columns }, i) => {
    const got = digests[i];
    if (!got || got.rows === null || got.digest === null)
      throw new RecordError(`cannot read ${database} ${table}: ${got?.error ?? 'no result'}`);
    tables[table] = { rows: got.rows, digest: got.digest, columns };
  });
  let canary: CanaryContractSpec | undefined;
  if (catalog.canary) {
    const found = catalog.canary.found;
    canary = contractSpecOf(found);
    for (const t of [found.users, found.transactions]) {
      const entry = tables[t.table];
      if (!entry) continue;
      entry.key = t.key;
      entry.columns = t.columns;
      if (typeof entry.rows === 'number' && entry.rows <= ROWS_TEXT_LIMIT)
        entry.rowsText = (await readTableRows(executor, database, t, settings)).lines;
    }
  }
  return { tables, ...(canary ? { canary } : {}) };
}
