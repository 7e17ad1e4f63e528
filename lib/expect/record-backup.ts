import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { BackupCandidate, BackupSource } from '../backups/backup-source.ts';
import { copyDigest } from '../dump/copy-digest.ts';
import { type CanaryContract, defaultCanaryContract } from '../verify/canary-contract.ts';
import { copyFieldText } from '../verify/table-rows.ts';
import { canaryCapture } from './canary-capture.ts';
import type { CanaryContractSpec, DatabaseExpectation } from './expectations.ts';
import {
  baseName,
  columnNames,
  NO_CANARY,
  RecordError,
  type RecordedExpectations,
  type RecordOptions,
} from './record.ts';

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
