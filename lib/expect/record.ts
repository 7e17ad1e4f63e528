/**
 * `pg-restore-drill record`: writes an expectations file from what a server (read-only) or a backup
 * (its COPY data) holds: per table of the canary (with --all, of every database) the row count and the
 * content digest deep verification computes, the canary tables' rows and keys, and the discovered
 * canary contract. The drill then holds every later backup to it (`--expect FILE`).
 */
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { stringify } from 'yaml';
import type { BackupCandidate, BackupSource } from '../backups/backup-source.ts';
import { copyDigest } from '../dump/copy-digest.ts';
import { parseCopyStatement } from '../dump/copy-statement.ts';
import { createDumpLexer } from '../dump/dump-lexer.ts';
import { DrillError } from '../errors.ts';
import type { Executor } from '../exec/executor.ts';
import type { Connection } from '../pg/connection.ts';
import { describeConnection } from '../pg/connection.ts';
import { withClient } from '../pg/databases.ts';
import { type CanaryContract, contractSpecOf, defaultCanaryContract } from '../verify/canary-contract.ts';
import { discoverCanary } from '../verify/canary-discovery.ts';
import { readDigests } from '../verify/deep.ts';
import { pinSearchPath } from '../verify/safe-session.ts';
import { columnList, copyFieldText, readTableRows } from '../verify/table-rows.ts';
import type { CanaryContractSpec, DatabaseExpectation, TableExpectation } from './expectations.ts';

/** Recording could not be done: nothing was written. */
export class RecordError extends DrillError {
  static override readonly code = 'DRILL_RECORD';
  override readonly exitCode = 2;
}

/** `--canary none`: a cluster without a canary (record it with --all). */
const NO_CANARY = 'none';

/** Canary tables with more rows than this get a count and digest only, no row texts. */
export const ROWS_TEXT_LIMIT = 1000;

export interface RecordOptions {
  canary: string;
  /** Every database, not only the canary. */
  all: boolean;
  /** pg_dump writes timestamptz in the source's zone; rows are read back in it (--source-time-zone). */
  timeZone: string;
  now: Date;
}

/** The file's content (version 1; see docs/expectations.md). */
export interface RecordedExpectations {
  version: 1;
  recordedAt: string;
  recordedFrom: string;
  canary?: CanaryContractSpec;
  databases: Record<string, DatabaseExpectation>;
}

/** The expectations as YAML, with a header saying where they came from. */
export function formatExpectations(recorded: RecordedExpectations): string {
  const header = [
    `# Recorded by pg-restore-drill record from ${recorded.recordedFrom} at ${recorded.recordedAt}.`,
    '# The drill holds every backup to this file with --expect (DRILL_EXPECT); see docs/expectations.md.',
    '# Tables that live data keeps changing: replace digest by a range (min required) or a tolerance, e.g. `rows: { min: 1, max: 5000 }`',
    '# or `tolerance: "5%"`. Add your own read-only SQL checks under `assertions:`.',
  ].join('\n');
  return `${header}\n${stringify(recorded, { lineWidth: 0 })}`;
}

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
    databases[database] = { tables };
  }
  return {
    version: 1,
    recordedAt: options.now.toISOString(),
    recordedFrom: describeConnection(connection),
    ...(canary ? { canary } : {}),
    databases,
  };
}

/** `a, "B c"` → [a, B c]. */
function columnNames(list: string): string[] {
  const names: string[] = [];
  const re = /\s*(?:"((?:[^"]|"")*)"|([^,\s]+))\s*(?:,|$)/gy;
  for (let m = re.exec(list); m && m[0] !== ''; m = re.exec(list))
    names.push(m[1] !== undefined ? m[1].replaceAll('""', '"') : (m[2] as string));
  return names;
}

/** The last part of a qualified name, unquoted: `bank."Users"` → Users. */
function baseName(qualified: string): string {
  const m = /(?:"((?:[^"]|"")*)"|([^."]+))$/.exec(qualified);
  return m?.[1] !== undefined ? m[1].replaceAll('""', '"') : (m?.[2] ?? qualified);
}

interface CapturedTable {
  table: string;
  columns: string[];
  lines: string[];
  tooMany: boolean;
}

/** What the canary's section declares besides data: primary keys and foreign keys. */
interface SectionConstraints {
  primaryKeys: Map<string, string[]>;
  foreignKeys: { name: string; table: string; columns: string[]; references: string; referenced: string[] }[];
}

/** A sink that keeps the canary tables' COPY rows and the constraints its section declares. */
function canaryCapture(canary: string, contract: CanaryContract) {
  const captured = new Map<string, CapturedTable>();
  const constraints: SectionConstraints = { primaryKeys: new Map(), foreignKeys: [] };
  const sections: string[] = [];
  const inserts: { first?: number } = {};
  let current: CapturedTable | undefined;
  let statement: string | undefined;
  const wanted = [contract.users.table, contract.transactions.table];
  const lexer = createDumpLexer({
    section(name) {
      sections.push(name);
    },
    copy(text) {
      current = undefined;
      if (lexer.database !== canary) return;
      const target = parseCopyStatement(text);
      if (!target || !wanted.includes(baseName(target.table))) return;
      current = { table: target.table, columns: columnNames(target.columns), lines: [], tooMany: false };
      if (!captured.has(target.table)) captured.set(target.table, current);
    },
    line(line) {
      if (line.kind === 'copy-data') {
        if (!current) return;
        if (current.lines.length >= ROWS_TEXT_LIMIT) current.tooMany = true;
        else current.lines.push(line.bytes.toString('utf8', line.start, line.end));
        return;
      }
      if (line.kind === 'copy-end') {
        current = undefined;
        return;
      }
      if (line.kind !== 'sql') return;
      // `INSERT INTO` data (pg_dump --inserts / --column-inserts / --rows-per-insert) is not digested here.
      if (line.startsStatement && line.bytes[line.start] === 73 && inserts.first === undefined) {
        if (line.bytes.toString('latin1', line.start, line.start + 12) === 'INSERT INTO ')
          inserts.first = line.number;
      }
      if (lexer.database !== canary) return;
      if (line.startsStatement) statement = '';
      if (statement !== undefined && statement.length < 4000)
        statement += `${line.bytes.toString('utf8', line.start, line.end)}\n`;
      if (!line.openAfter && statement !== undefined) {
        readConstraint(statement, constraints);
        statement = undefined;
      }
    },
  });
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      try {
        lexer.write(chunk);
        done();
      } catch (error) {
        done(error as Error);
      }
    },
    final(done) {
      lexer.end();
      done();
    },
  });
  return { sink, captured, constraints, sections, inserts };
}

/** pg_dump's `ALTER TABLE ONLY t ADD CONSTRAINT c PRIMARY KEY (…)` / `FOREIGN KEY (…) REFERENCES p(…)`. */
function readConstraint(statement: string, into: SectionConstraints): void {
  const m =
    /^ALTER TABLE ONLY (\S+)\s+ADD CONSTRAINT (\S+) (PRIMARY KEY|FOREIGN KEY) \(([^)]*)\)(?: REFERENCES (\S+?)\(([^)]*)\))?/s.exec(
      statement.trim(),
    );
  if (!m) return;
  const [, table, name, kind, columns, references, referenced] = m as unknown as string[];
  if (kind === 'PRIMARY KEY') into.primaryKeys.set(table as string, columnNames(columns as string));
  else if (references)
    into.foreignKeys.push({
      name: baseName(name as string),
      table: table as string,
      columns: columnNames(columns as string),
      references,
      referenced: columnNames(referenced ?? ''),
    });
}

/** Sorts COPY lines by their key fields (numbers as numbers). */
function sortByKey(lines: string[], columns: string[], key: string[]): string[] {
  const at = key.map((k) => columns.indexOf(k)).filter((i) => i >= 0);
  const keyOf = (line: string) => {
    const fields = line.split('\t');
    return at.map((i) => fields[i] ?? '');
  };
  return [...lines].sort((a, b) => {
    const ka = keyOf(a);
    const kb = keyOf(b);
    for (let i = 0; i < ka.length; i++) {
      const c = (ka[i] as string).localeCompare(kb[i] as string, 'en', { numeric: true });
      if (c !== 0) return c;
    }
    return a < b ? -1 : a > b ? 1 : 0;
  });
}

/**
 * Records from a plain pg_dumpall backup (gzip or not), never restoring it: digests from its COPY data
 * (copy-digest.ts, the dump side of deep verification), the canary tables' rows from their COPY blocks,
 * and the contract from its COPY column lists, its data and its ALTER TABLE … ADD CONSTRAINT lines.
 */
export async function recordFromBackup(
  source: BackupSource,
  backup: BackupCandidate,
  options: RecordOptions,
): Promise<RecordedExpectations> {
  if (backup.format !== 'plain') {
    throw new RecordError(
      `${backup.name} is a pg_dump archive; record reads plain pg_dumpall backups (.sql.gz, .sql). Record from the server with --database-url instead.`,
    );
  }
  if (options.canary === NO_CANARY && !options.all)
    throw new RecordError('--canary none records nothing on its own: add --all to record every database');
  const contract = defaultCanaryContract(options.canary);
  const digests = copyDigest();
  const capture = canaryCapture(options.canary, contract);
  if (backup.compression === 'gzip')
    await pipeline(source.open(backup), createGunzip(), digests, capture.sink);
  else await pipeline(source.open(backup), digests, capture.sink);
  if (capture.inserts.first !== undefined) {
    throw new RecordError(
      `${backup.name} holds its data as INSERT statements (line ${capture.inserts.first}: a dump made with --inserts, --column-inserts or --rows-per-insert); record reads COPY data only: record from the server with --database-url instead`,
    );
  }
  const wanted = options.all
    ? capture.sections.filter((d) => d !== 'template1')
    : capture.sections.filter((d) => d === options.canary);
  if (!capture.sections.includes(options.canary) && !options.all) {
    throw new RecordError(
      `${backup.name} holds no database ${options.canary} (it holds ${capture.sections.join(', ') || 'no database section: is it a pg_dumpall?'}): name the canary with --canary, or record every database with --all`,
    );
  }
  const databases: Record<string, DatabaseExpectation> = {};
  for (const database of wanted) databases[database] = { tables: {} };
  for (const d of digests.digests) {
    const db = databases[d.database];
    // A table the dump creates without any data block (a partitioned parent: its rows are its
    // partitions') holds no rows of its own; the server side records only tables with data, as here.
    if (!db || d.kind !== 'table' || d.data === 'none') continue;
    db.tables[d.table] = { rows: d.rows, digest: d.digest, columns: columnNames(d.columns) };
  }
  const canary = canaryFromDump(capture, contract, databases[options.canary], backup.name);
  return {
    version: 1,
    recordedAt: options.now.toISOString(),
    recordedFrom: `backup ${backup.name}`,
    ...(canary ? { canary } : {}),
    databases,
  };
}

function canaryFromDump(
  capture: ReturnType<typeof canaryCapture>,
  contract: CanaryContract,
  db: DatabaseExpectation | undefined,
  name: string,
): CanaryContractSpec | undefined {
  if (!db) return undefined;
  const pick = (base: string) => [...capture.captured.values()].find((t) => baseName(t.table) === base);
  const users = pick(contract.users.table);
  const transactions = pick(contract.transactions.table);
  if (!users || !transactions) {
    throw new RecordError(
      `${name}: ${contract.database} has no COPY data for ${users ? contract.transactions.table : contract.users.table}; the canary's contract needs tables ${contract.users.table} and ${contract.transactions.table} (a dump made with --inserts or --column-inserts holds no COPY data: record from the server with --database-url)`,
    );
  }
  const expected = contract.users.expected;
  let nameColumn: string | undefined;
  let best = 0;
  users.columns.forEach((column, i) => {
    const values = new Set(users.lines.map((l) => copyFieldText(l.split('\t')[i] ?? '')));
    const hits = expected.filter((e) => values.has(e)).length;
    if (hits > best) {
      best = hits;
      nameColumn = column;
    }
  });
  if (!nameColumn)
    throw new RecordError(`${name}: no column of ${users.table} holds any of ${expected.join(', ')}`);
  const fk = capture.constraints.foreignKeys.find(
    (f) => f.table === transactions.table && f.references === users.table,
  );
  for (const t of [users, transactions]) {
    const entry = db.tables[t.table];
    if (!entry) continue;
    const key = capture.constraints.primaryKeys.get(t.table) ?? t.columns;
    entry.key = key;
    entry.columns = t.columns;
    if (!t.tooMany) entry.rowsText = sortByKey(t.lines, t.columns, key);
  }
  return {
    database: contract.database,
    users: { table: users.table, nameColumn, expected: [...expected] },
    transactions: {
      table: transactions.table,
      rows: contract.transactions.rows,
      ...(fk ? { foreignKey: fk.name } : {}),
    },
  };
}
