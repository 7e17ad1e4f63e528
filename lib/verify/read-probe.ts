import type { Executor } from '../exec/executor.ts';
import { collector } from '../exec/tool-output.ts';
import { parsePsqlStderr } from '../restore/psql-errors.ts';
import { FOREIGN_KEY_QUERY, type ForeignKeyRow, parseForeignKeys } from './fk-plan.ts';
import type { TableRef } from './read-plan.ts';
import { dbConninfo, sqlLiteral } from './read-session.ts';

/** What one look at a database before reading it says. */
export interface Probe {
  timeZone: string;
  timeZoneSource: string;
  /** server_version_num (0 when not known): TID range scans, which split a table's read, need 14. */
  serverVersion: number;
  /** Per table name: relkind (`-` missing), how its name is quoted, its oid, its partition root's oid. */
  relations: Map<string, Relation>;
}

export interface Relation {
  relkind: string;
  quoting: string;
  oid: string;
  root: string;
  /** Its columns but generated ones, quoted (what an INSERT without a column list gives values for). */
  columns: string;
  /** An extension's configuration table: the condition pg_dump dumped its rows with (`WHERE …`). */
  condition: string;
  /** Its heap's size in blocks now (0 when not known). */
  blocks: number;
}

const quoted = (part: string) => `'"' || pg_catalog.replace(${part}, '"', '""') || '"'`;
const hexText = (expr: string) => `pg_catalog.encode(pg_catalog.convert_to(${expr}, 'UTF8'), 'hex')`;

/**
 * The probe's query: first the TimeZone's source and value and the server version, then per name (in
 * order) `relkind|quoting|oid|root|columns(hex)|condition(hex)|blocks`.
 */
function probeQuery(names: string[]): string {
  const list = names.length ? `ARRAY[${names.map(sqlLiteral).join(', ')}]::text[]` : 'ARRAY[]::text[]';
  const columns = `(SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum)
           FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '')`;
  return `SELECT s.source || '|' || s.setting || '|' || pg_catalog.current_setting('server_version_num')
      FROM pg_catalog.pg_settings s WHERE s.name = 'TimeZone'
    UNION ALL (SELECT coalesce(c.relkind::text, '-') || '|' ||
        CASE WHEN c.oid IS NULL THEN '-'
             WHEN u.n = pg_catalog.quote_ident(ns.nspname) || '.' || pg_catalog.quote_ident(c.relname) THEN 'plain'
             WHEN u.n = ${quoted('ns.nspname')} || '.' || ${quoted('c.relname')} THEN 'all'
             ELSE '?' END || '|' || coalesce(c.oid::text, '-') || '|' ||
        coalesce(pg_catalog.pg_partition_root(c.oid)::oid::text, '-') || '|' ||
        coalesce(${hexText(columns)}, '') || '|' ||
        coalesce((SELECT ${hexText('e.extcondition[pg_catalog.array_position(e.extconfig, c.oid)]')}
           FROM pg_catalog.pg_extension e WHERE c.oid = ANY (e.extconfig)), '') || '|' ||
        coalesce((pg_catalog.pg_relation_size(c.oid) / pg_catalog.current_setting('block_size')::int)::text, '0')
      FROM unnest(${list}) WITH ORDINALITY AS u(n, i)
      LEFT JOIN pg_catalog.pg_class c ON c.oid = pg_catalog.to_regclass(u.n)
      LEFT JOIN pg_catalog.pg_namespace ns ON ns.oid = c.relnamespace
     ORDER BY u.i)`;
}

/** The probe's output: the set_config row's empty line, the TimeZone row, then one row per name. */
function parseProbe(text: string, names: string[]): Probe {
  const [, zone = '', ...rows] = text.split('\n');
  const [timeZoneSource = '', timeZone = '', version = '0'] = zone.split('|');
  const relations: Probe['relations'] = new Map();
  const fromHex = (hex: string) => Buffer.from(hex, 'hex').toString('utf8');
  rows.forEach((row, i) => {
    const name = names[i];
    const [relkind = '-', quoting = '-', oid = '-', root = '-', columns = '', condition = '', blocks = '0'] =
      row.split('|');
    if (name === undefined) return;
    const relation = {
      relkind,
      quoting,
      oid,
      root,
      columns: fromHex(columns),
      condition: fromHex(condition),
    };
    relations.set(name, { ...relation, blocks: Number(blocks) || 0 });
  });
  return { timeZone, timeZoneSource, serverVersion: Number(version) || 0, relations };
}

/**
 * One look at the database before reading: where its TimeZone comes from, and per table its relkind,
 * whether the dump wrote its name quoted as --quote-all-identifiers does, its partition root and size.
 */
export async function probe(
  executor: Executor,
  database: string,
  tables: TableRef[],
  signal?: AbortSignal,
): Promise<Probe> {
  const names = tables.filter((t) => t.kind === 'table').map((t) => t.table);
  const out = collector();
  const session = 'SET standard_conforming_strings = on; SET quote_all_identifiers = off';
  const searchPath = "SELECT pg_catalog.set_config('search_path', '', false)";
  const args = ['-X', '-q', '-w', '-At', '-v', 'ON_ERROR_STOP=1', '-d', dbConninfo(database)];
  const result = await executor.run(
    'psql',
    [...args, '-c', session, '-c', searchPath, '-c', probeQuery(names)],
    { stdout: out.sink, signal },
  );
  if (result.exitCode !== 0)
    throw new Error(parsePsqlStderr(result.stderr).errors[0]?.message ?? result.stderr.trim());
  return parseProbe(out.text(), names);
}

/** The database's foreign keys, with what deciding their way needs (fk-plan.ts). */
export async function probeForeignKeys(
  executor: Executor,
  database: string,
  signal?: AbortSignal,
): Promise<ForeignKeyRow[]> {
  const out = collector();
  const searchPath = "SELECT pg_catalog.set_config('search_path', '', false)";
  const args = ['-X', '-q', '-w', '-At', '-v', 'ON_ERROR_STOP=1', '-d', dbConninfo(database)];
  const result = await executor.run('psql', [...args, '-c', searchPath, '-c', FOREIGN_KEY_QUERY], {
    stdout: out.sink,
    signal,
  });
  if (result.exitCode !== 0)
    throw new Error(parsePsqlStderr(result.stderr).errors[0]?.message ?? result.stderr.trim());
  return parseForeignKeys(
    out
      .text()
      .split('\n')
      .filter((line) => line !== ''),
  );
}
