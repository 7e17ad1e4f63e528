import type { TableRef } from './read-plan.ts';
import type { Relation } from './read-probe.ts';

/** One key column of a foreign key, as the catalogs have it. */
export interface KeyColumn {
  name: string;
  type: number;
  collation: number;
  /** Its collation is deterministic (equal only when the bytes are), or it has none. */
  deterministic: boolean;
}

/** A foreign key as the read-back's probe sees it (fk-plan's query). */
export interface ForeignKeyRow {
  oid: string;
  name: string;
  childOid: string;
  parentOid: string;
  /** regclass text under search_path '' (schema-qualified). */
  child: string;
  parent: string;
  parentHasChildren: boolean;
  /** The parent is partitioned: its keys are its partitions'. */
  parentPartitioned: boolean;
  /** MATCH FULL: a row with some (not all) key columns NULL is an orphan. */
  matchFull: boolean;
  pairs: { child: KeyColumn; parent: KeyColumn }[];
}

/** How a foreign key is counted: from the rows read back (fields by COPY position), or on the server. */
export type ForeignKeyWay =
  | {
      way: 'stream';
      fk: ForeignKeyRow;
      childIndex: number;
      parentIndex: number;
      childFields: number[];
      parentFields: number[];
      /** A single integer column: keys parsed to numbers. */
      integer: boolean;
    }
  | { way: 'server'; fk: ForeignKeyRow; why: string };

const hex = (expr: string) => `pg_catalog.encode(pg_catalog.convert_to(${expr}, 'UTF8'), 'hex')`;
const column = (a: string) =>
  `${hex(`${a}.attname`)} || ':' || ${a}.atttypid::text || ':' || ${a}.attcollation::oid::text || ':' ||
   coalesce((SELECT pg_catalog.to_jsonb(co) ->> 'collisdeterministic' FROM pg_catalog.pg_collation co
              WHERE co.oid = ${a}.attcollation), 'true')`;

/**
 * A foreign key as it was declared, not one of the copies PostgreSQL makes of it (`conparentid` names
 * the key copied, PostgreSQL 11 on): one for each partition of a partitioned parent (same child), and one
 * on each partition of a partitioned child. The declared key is checked once, over the whole child
 * against the whole parent, which covers every copy: counting the copies too reported one orphan row of
 * a partitioned child once at its root and again at its partition. (to_jsonb: `conparentid` is not there
 * before 11, where there are no copies.)
 */
export const OWN_FOREIGN_KEY = `coalesce((pg_catalog.to_jsonb(c) ->> 'conparentid')::oid, 0) = 0`;

/**
 * One line per foreign key: `oid|name|child oid|parent oid|child|parent|parent has children|parent
 * partitioned|match full|pairs`,
 * names in hex, pairs `child column;parent column` joined by `,`, each `name:type:collation:deterministic`.
 * (to_jsonb reads collisdeterministic where the server has it, PostgreSQL 12 on: before, every
 * collation was deterministic.)
 */
export const FOREIGN_KEY_QUERY = `SELECT c.oid::text || '|' || ${hex('c.conname')} || '|' || c.conrelid::oid::text || '|' ||
       c.confrelid::oid::text || '|' || ${hex('c.conrelid::regclass::text')} || '|' ||
       ${hex('c.confrelid::regclass::text')} || '|' ||
       EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i WHERE i.inhparent = c.confrelid)::text || '|' ||
       (SELECT r.relkind = 'p' FROM pg_catalog.pg_class r WHERE r.oid = c.confrelid)::text || '|' ||
       (c.confmatchtype = 'f')::text || '|' ||
       pg_catalog.string_agg(${column('ca')} || ';' || ${column('pa')}, ',' ORDER BY k.ord)
  FROM pg_catalog.pg_constraint c
 CROSS JOIN LATERAL unnest(c.conkey, c.confkey) WITH ORDINALITY AS k(child_col, parent_col, ord)
  JOIN pg_catalog.pg_attribute ca ON ca.attrelid = c.conrelid AND ca.attnum = k.child_col
  JOIN pg_catalog.pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = k.parent_col
  JOIN pg_catalog.pg_namespace n ON n.oid = c.connamespace
 WHERE c.contype = 'f' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND ${OWN_FOREIGN_KEY}
 GROUP BY c.oid, c.conname, c.conrelid, c.confrelid, c.confmatchtype`;

const fromHex = (text: string) => Buffer.from(text, 'hex').toString('utf8');

function parseColumn(text: string): KeyColumn {
  const [name = '', type = '0', collation = '0', deterministic = 'true'] = text.split(':');
  return {
    name: fromHex(name),
    type: Number(type),
    collation: Number(collation),
    deterministic: deterministic === 'true',
  };
}

/** FOREIGN_KEY_QUERY's lines. */
export function parseForeignKeys(lines: string[]): ForeignKeyRow[] {
  return lines.map((line) => {
    const [
      oid = '',
      name = '',
      childOid = '',
      parentOid = '',
      child = '',
      parent = '',
      children = '',
      partitioned = '',
      full = '',
      pairs = '',
    ] = line.split('|');
    return {
      oid,
      name: fromHex(name),
      childOid,
      parentOid,
      child: fromHex(child),
      parent: fromHex(parent),
      parentHasChildren: children === 'true',
      parentPartitioned: partitioned === 'true',
      matchFull: full === 'true',
      pairs: pairs.split(',').map((pair) => {
        const [c = '', p = ''] = pair.split(';');
        return { child: parseColumn(c), parent: parseColumn(p) };
      }),
    };
  });
}

const INTEGERS = new Set([21, 23, 20]);
const OID = 26;
const UUID = 2950;
const BOOL = 16;
const TEXTS = new Set([25, 1043]);
const TYPE_NAMES: Record<number, string> = {
  21: 'int2',
  23: 'int4',
  20: 'int8',
  26: 'oid',
  2950: 'uuid',
  16: 'bool',
  25: 'text',
  1043: 'varchar',
};

/** Why a key column pair's COPY text is not equal exactly when its values are, or undefined when it is. */
export function keyTypeProblem(child: KeyColumn, parent: KeyColumn): string | undefined {
  if (INTEGERS.has(child.type) && INTEGERS.has(parent.type)) return undefined;
  if (child.type === parent.type && (child.type === OID || child.type === UUID || child.type === BOOL))
    return undefined;
  if (TEXTS.has(child.type) && TEXTS.has(parent.type)) {
    if (child.collation !== parent.collation)
      return `${child.name} and ${parent.name} have different collations`;
    if (!child.deterministic || !parent.deterministic)
      return `${child.name} has a nondeterministic collation (equal values, different bytes)`;
    return undefined;
  }
  const name = (c: KeyColumn) => TYPE_NAMES[c.type] ?? `type ${c.type}`;
  return `key ${child.name} (${name(child)}) -> ${parent.name} (${name(parent)}): not a type whose COPY text is canonical for its equality (integers, oid, uuid, bool, text/varchar)`;
}

/** Unquotes a COPY column list (`a, "B c", "d""e"`). */
export function columnNames(list: string): string[] {
  const names: string[] = [];
  const pattern = /\s*(?:"((?:[^"]|"")*)"|([^",\s]+))\s*(?:,|$)/gy;
  for (let m = pattern.exec(list); m !== null && m[0] !== ''; m = pattern.exec(list))
    names.push(m[1] !== undefined ? m[1].replaceAll('""', '"') : (m[2] as string));
  return names;
}

/** The table read in full whose oid is `oid`: its index and COPY column names, or why there is none. */
function readInFull(
  oid: string,
  table: string,
  tables: readonly TableRef[],
  relations: ReadonlyMap<string, Relation>,
): { index: number; columns: string[] } | string {
  const found = tables.flatMap((ref, index) => {
    const relation = ref.kind === 'table' ? relations.get(ref.table) : undefined;
    return relation?.oid === oid ? [{ ref, index, relation }] : [];
  });
  if (found.length !== 1) return `${table} is not read back by this deep run`;
  const { ref, index, relation } = found[0] as (typeof found)[number];
  if (relation.relkind !== 'r')
    return `${table} is not a plain table (relkind ${relation.relkind}): its rows are not read back as one table`;
  if (ref.data === 'none') return `${table} is created without data of its own: not read back in full`;
  if (relation.condition)
    return `${table} is an extension configuration table: only its dumped rows are read back`;
  return { index, columns: columnNames(ref.columns === '' ? relation.columns : ref.columns) };
}

/**
 * Decides per foreign key whether its orphans are counted from the rows the read-back streams: child
 * and parent are plain tables read back in full (the parent without inheritance children, as RI reads
 * ONLY the parent), every key column pair has a COPY text canonical for its equality, and the columns
 * are in the COPY column lists. Anything else is counted on the server, and says why.
 */
export function planForeignKeys(
  fks: readonly ForeignKeyRow[],
  tables: readonly TableRef[],
  relations: ReadonlyMap<string, Relation>,
): ForeignKeyWay[] {
  return fks.map((fk): ForeignKeyWay => {
    const server = (why: string): ForeignKeyWay => ({ way: 'server', fk, why });
    if (fk.parentPartitioned) return server(`${fk.parent} is partitioned: its keys are its partitions'`);
    if (fk.parentHasChildren) return server(`${fk.parent} has inheritance children`);
    if (fk.matchFull && fk.pairs.length > 1)
      return server('MATCH FULL over several columns: a row with only some key columns NULL is an orphan');
    for (const { child, parent } of fk.pairs) {
      const problem = keyTypeProblem(child, parent);
      if (problem) return server(problem);
    }
    const child = readInFull(fk.childOid, fk.child, tables, relations);
    if (typeof child === 'string') return server(child);
    const parent = readInFull(fk.parentOid, fk.parent, tables, relations);
    if (typeof parent === 'string') return server(parent);
    const childFields = fk.pairs.map((p) => child.columns.indexOf(p.child.name));
    const parentFields = fk.pairs.map((p) => parent.columns.indexOf(p.parent.name));
    if (childFields.includes(-1) || parentFields.includes(-1))
      return server('a key column is not in the COPY column list the read-back reads');
    const single = fk.pairs.length === 1 ? (fk.pairs[0] as ForeignKeyRow['pairs'][number]) : undefined;
    const integer =
      single !== undefined &&
      ((INTEGERS.has(single.child.type) && INTEGERS.has(single.parent.type)) ||
        (single.child.type === OID && single.parent.type === OID));
    return {
      way: 'stream',
      fk,
      childIndex: child.index,
      parentIndex: parent.index,
      childFields,
      parentFields,
      integer,
    };
  });
}
