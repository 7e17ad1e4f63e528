import type { RowsExpectation, TableExpectation } from './expectations.ts';
import { type Json, show, type Validator } from './validator.ts';

const TOLERANCE = /^(\d+(?:\.\d+)?)%$/;

/** One table's entry: rows (a count or a range), digest or tolerance, key, columns, rowsText. */
export function tableExpectation(v: Validator, value: Json, path: string): TableExpectation {
  const t = v.object(value, path);
  v.known(t, path, ['rows', 'digest', 'tolerance', 'key', 'columns', 'rowsText']);
  const out: TableExpectation = { rows: rowsOf(v, t, path) };
  if (t.digest !== undefined) out.digest = digestOf(v, t.digest, `${path}.digest`);
  if (t.tolerance !== undefined) {
    out.tolerance = toleranceOf(v, t.tolerance, `${path}.tolerance`);
    if (out.digest !== undefined)
      v.fail(`${path}.tolerance`, 'a tolerance replaces the digest (changing rows change it): drop one');
  }
  rowFields(v, t, path, out);
  return out;
}

/** `rows`: an exact count, or a range `{ min, max }` (min required) that stands instead of a digest. */
function rowsOf(v: Validator, t: Record<string, Json>, path: string): RowsExpectation {
  let rows: RowsExpectation;
  if (typeof t.rows === 'object' && t.rows !== null && !Array.isArray(t.rows)) {
    const range = t.rows as Record<string, Json>;
    v.known(range, `${path}.rows`, ['min', 'max']);
    const min = range.min === undefined ? undefined : v.count(range.min, `${path}.rows.min`);
    const max = range.max === undefined ? undefined : v.count(range.max, `${path}.rows.max`);
    // A range without a lower bound would pass a table the backup silently emptied: min is required
    // (min: 0 says so explicitly, for a table that may legitimately be empty).
    if (min === undefined)
      v.fail(
        `${path}.rows`,
        `a range needs its min (a table the backup lost would pass without one), e.g. { min: 1000, max: 5000 }; write min: 0 only if the table may be empty`,
      );
    if (min !== undefined && max !== undefined && min > max)
      v.fail(`${path}.rows`, `min ${min} is above max ${max}`);
    rows = { ...(min === undefined ? {} : { min }), ...(max === undefined ? {} : { max }) };
    if (t.digest !== undefined || t.tolerance !== undefined)
      v.fail(`${path}.rows`, 'a range of rows is a tolerance: drop the digest and tolerance keys');
  } else {
    rows = v.count(t.rows, `${path}.rows`);
  }
  return rows;
}

/** A digest as `record` writes it. */
function digestOf(v: Validator, value: Json, path: string): string {
  const digest = v.string(value, path);
  if (!/^[0-9a-f]{16}$/.test(digest))
    v.fail(path, `must be 16 lower-case hex digits as \`record\` writes them, got ${show(digest)}`);
  return digest;
}

/** A tolerance above 0% and below 100%. */
function toleranceOf(v: Validator, value: Json, path: string): string {
  const tolerance = v.string(value, path);
  if (!TOLERANCE.test(tolerance)) v.fail(path, `must be a percentage like "5%", got ${show(tolerance)}`);
  // 100% or more would accept a table that lost every row; 0% is an exact count (drop the tolerance).
  const fraction = toleranceFraction(tolerance);
  if (!(fraction > 0 && fraction < 1))
    v.fail(
      path,
      `must be above 0% and below 100% (${show(tolerance)} ${fraction >= 1 ? 'would accept a table that lost every row' : 'is an exact count: give rows alone'})`,
    );
  return tolerance;
}

/** key, columns and rowsText: the canary tables' row texts, checked against rows and each other. */
function rowFields(v: Validator, t: Record<string, Json>, path: string, out: TableExpectation): void {
  const rows = out.rows;
  const names = (key: string) =>
    v.array(t[key], `${path}.${key}`).map((c, i) => v.string(c, `${path}.${key}[${i}]`));
  if (t.key !== undefined) out.key = names('key');
  if (t.columns !== undefined) out.columns = names('columns');
  if (t.rowsText !== undefined) {
    out.rowsText = names('rowsText');
    if (typeof rows === 'number' && out.rowsText.length !== rows)
      v.fail(`${path}.rowsText`, `holds ${out.rowsText.length} row(s) but rows says ${rows}`);
    if (out.key && !out.columns)
      v.fail(`${path}.columns`, 'is needed with key and rowsText: it names the fields of each row');
    for (const k of out.key ?? [])
      if (out.columns && !out.columns.includes(k))
        v.fail(`${path}.key`, `names ${show(k)}, which is not one of columns [${out.columns.join(', ')}]`);
  }
}

/** Parses a tolerance like `5%` into a fraction (0.05). */
export function toleranceFraction(tolerance: string): number {
  return Number(TOLERANCE.exec(tolerance)?.[1] ?? Number.NaN) / 100;
}
