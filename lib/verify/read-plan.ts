import type { TableDigest } from '../dump/copy-digest.ts';
import type { Probe, Relation } from './read-probe.ts';

/** What to read back: a table's COPY as the dump wrote it, or a database's large objects. */
export type TableRef = Pick<TableDigest, 'kind' | 'table' | 'columns' | 'data'>;

/** One statement of a read-back: all of table `index`'s rows, or one block range of them. */
export interface ReadUnit {
  /** Index into the tables read. */
  index: number;
  statement: string;
  /** About how many rows it returns (+1), to balance the sessions. */
  weight: number;
}

/**
 * A table is read in block ranges on several sessions at once only from this size on (a range's
 * statement, session and digest cost next to nothing against 8 MB of rows).
 */
export const MIN_RANGE_BLOCKS = 1024;
/** TID range scans (`WHERE ctid >= … AND ctid < …` read only those blocks) came with PostgreSQL 14. */
const TID_RANGE_SCAN_VERSION = 140000;

/** The statement that reads a table back exactly as pg_dump's COPY (or INSERTs) wrote it. */
export function readStatement(ref: TableRef, relation: Relation | undefined): string {
  if (ref.kind === 'large-objects') {
    return 'COPY (SELECT oid, pg_catalog.md5(pg_catalog.lo_get(oid)) FROM pg_catalog.pg_largeobject_metadata) TO STDOUT;';
  }
  // Created without data: the table itself (ONLY: not its children or partitions) holds no row.
  if (ref.data === 'none') return `COPY (SELECT FROM ONLY ${ref.table}) TO STDOUT;`;
  const columns = ref.columns === '' ? (relation?.columns ?? '') : ref.columns;
  // An extension's configuration table: pg_dump dumped only the rows its condition selects (the
  // extension's own script creates the others).
  if (relation?.condition)
    return `COPY (SELECT ${columns} FROM ONLY ${ref.table} ${relation.condition}) TO STDOUT;`;
  // A partitioned table cannot be COPied TO directly; its rows are its partitions' (a dump made with
  // --load-via-partition-root writes them under the root). Anything else: COPY reads the table ONLY,
  // as pg_dump did, without inheritance children.
  if (relation?.relkind === 'p') return `COPY (SELECT ${columns} FROM ${ref.table}) TO STDOUT;`;
  return `COPY ${ref.table}${ref.columns === '' ? '' : ` (${ref.columns})`} TO STDOUT;`;
}

/**
 * A plain table's rows in `ranges` block ranges, together every row exactly once: the first range
 * open below, the last open above (COPY text of `SELECT cols FROM ONLY t` is COPY's of `t (cols)`).
 */
export function rangeStatements(ref: TableRef, relation: Relation, ranges: number): string[] {
  const columns = ref.columns === '' ? relation.columns : ref.columns;
  const cut = (k: number) => `'(${Math.floor((k * relation.blocks) / ranges)},0)'::pg_catalog.tid`;
  return Array.from({ length: ranges }, (_, k) => {
    const low = k === 0 ? [] : [`ctid >= ${cut(k)}`];
    const high = k === ranges - 1 ? [] : [`ctid < ${cut(k + 1)}`];
    return `COPY (SELECT ${columns} FROM ONLY ${ref.table} WHERE ${[...low, ...high].join(' AND ')}) TO STDOUT;`;
  });
}

/** How many block ranges to read a table in: one unless it is a large plain table and sessions allow. */
function rangesFor(ref: TableRef, relation: Relation | undefined, found: Probe, readers: number): number {
  if (readers < 2 || found.serverVersion < TID_RANGE_SCAN_VERSION) return 1;
  if (ref.kind !== 'table' || ref.data === 'none' || relation?.relkind !== 'r' || relation.condition)
    return 1;
  if ((ref.columns === '' ? relation.columns : ref.columns) === '') return 1;
  return Math.max(1, Math.min(readers, Math.floor(relation.blocks / MIN_RANGE_BLOCKS)));
}

/** The statements that read table `index`: one, or one per block range. */
export function unitsFor(
  ref: TableRef,
  index: number,
  relation: Relation | undefined,
  found: Probe,
  readers: number,
): ReadUnit[] {
  const rows = (ref as { rows?: number }).rows ?? 0;
  const ranges = rangesFor(ref, relation, found, readers);
  const statements =
    ranges === 1 ? [readStatement(ref, relation)] : rangeStatements(ref, relation as Relation, ranges);
  return statements.map((statement) => ({ index, statement, weight: rows / ranges + 1 }));
}

/**
 * Splits the units into up to `readers` groups of about the same weight, each in dump order; empty
 * groups are dropped.
 */
export function balance(units: ReadUnit[], readers: number): ReadUnit[][] {
  const groups = Array.from({ length: Math.max(1, Math.min(readers, units.length)) }, () => ({
    load: 0,
    members: [] as number[],
  }));
  const order = units
    .map((_, u) => u)
    .sort((a, b) => (units[b]?.weight ?? 0) - (units[a]?.weight ?? 0) || a - b);
  for (const u of order) {
    const lightest = groups.reduce((min, g) => (g.load < min.load ? g : min));
    lightest.members.push(u);
    lightest.load += units[u]?.weight ?? 0;
  }
  return groups
    .map((g) => g.members.sort((a, b) => a - b).map((u) => units[u] as ReadUnit))
    .filter((g) => g.length > 0);
}
