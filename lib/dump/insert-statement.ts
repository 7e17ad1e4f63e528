/**
 * pg_dump's INSERT-format data (`--inserts`, `--column-inserts`, `--rows-per-insert=N`) decoded back to
 * the COPY text lines the same rows give, so that they digest like COPY data (row-digest.ts) and compare
 * with `COPY … TO STDOUT` of the restored table.
 *
 * What pg_dump writes (dumpTableData_insert, PostgreSQL 12 through 18): `INSERT INTO <qualified table>`,
 * then `(<columns>) ` with --column-inserts, `OVERRIDING SYSTEM VALUE ` for identity columns that need
 * it, `VALUES`, and the rows: ` (…);` one per statement, or with --rows-per-insert `\n\t(…),\n\t(…);`.
 * A zero-column table gets `DEFAULT VALUES;`, and --on-conflict-do-nothing ends with
 * ` ON CONFLICT DO NOTHING;`. Each value is one of: `NULL`; `DEFAULT` (a generated column); an
 * unquoted number (integer, float and numeric types whose text is only digits, signs, `e` and `.`);
 * `'NaN'`-style quoted numbers; `B'0101'` (bit types); `true`/`false`; or a string literal of the
 * column's text output, written as the session's standard_conforming_strings dictates.
 */
import { Bytes, CLOSE, COMMA, DOT, Malformed, OPEN } from './insert-bytes.ts';
import { InsertCursor } from './insert-cursor.ts';

/** One INSERT statement decoded. */
export type DecodedInsert =
  | {
      ok: true;
      /** As written (`public.t`, `"public"."t"`). */
      table: string;
      /**
       * The column list as written without its parentheses and without generated columns (whose values
       * are DEFAULT); empty without --column-inserts (COPY TO without a column list leaves generated
       * columns out just the same).
       */
      columns: string;
      /** Each row as the COPY text line `COPY … TO STDOUT` writes for it (no newline). */
      rows: Buffer[];
    }
  | { ok: false; table: string | undefined; reason: string };

/**
 * Decodes one INSERT statement as pg_dump writes it (`bytes` from its `INSERT` up to and including its
 * `;`, any trailing whitespace allowed). `standardStrings`: the dump's `SET standard_conforming_strings`.
 */
export function decodeInsert(bytes: Buffer, standardStrings = true): DecodedInsert {
  const c = new InsertCursor(bytes, standardStrings);
  let table: string | undefined;
  try {
    c.expect('INSERT INTO ');
    table = tableName(c);
    c.skipSpace();
    if (c.looksAt('DEFAULT VALUES')) {
      c.i += 14;
      c.end();
      // A zero-column table: COPY writes an empty line per row.
      return { ok: true, table, columns: '', rows: [Buffer.alloc(0)] };
    }
    const names = columnList(c);
    if (c.looksAt('OVERRIDING SYSTEM VALUE ')) c.i += 24;
    c.expect('VALUES');
    const { rows, generated } = valueRows(c, names);
    if (c.looksAt('ON CONFLICT DO NOTHING;')) c.i += 22;
    c.end();
    const kept = names?.filter((_, k) => !generated?.[k]) ?? [];
    return { ok: true, table, columns: kept.join(', '), rows };
  } catch (error) {
    if (!(error instanceof Malformed)) throw error;
    return { ok: false, table, reason: `not an INSERT as pg_dump writes it: ${error.message}` };
  }
}

/** The qualified table name as written. */
function tableName(c: InsertCursor): string {
  const start = c.i;
  c.identifier();
  while (c.bytes[c.i] === DOT) {
    c.i++;
    c.identifier();
  }
  return c.bytes.toString('utf8', start, c.i);
}

/** `(a, "B")` of --column-inserts, or undefined without one. */
function columnList(c: InsertCursor): string[] | undefined {
  if (c.bytes[c.i] !== OPEN) return undefined;
  c.i++;
  const names: string[] = [];
  do {
    c.skipSpace();
    names.push(c.identifier());
    c.skipSpace();
  } while (c.commaOrClose('in the column list'));
  c.skipSpace();
  return names;
}

/** One row `(v, v, …)` into `row`; per value whether it was DEFAULT (a generated column). */
function valueRow(c: InsertCursor, row: Bytes): boolean[] {
  c.skipSpace();
  if (c.bytes[c.i] !== OPEN) c.fail('expected ( to open a row');
  c.i++;
  const isGenerated: boolean[] = [];
  let written = 0;
  do {
    c.skipSpace();
    if (c.bytes[c.i] === CLOSE && isGenerated.length === 0) c.fail('empty row');
    const before = row.length;
    const kind = c.value(row, written > 0);
    isGenerated.push(kind === 'default');
    if (kind === 'default') row.length = before;
    else written++;
    c.skipSpace();
  } while (c.commaOrClose('after a value'));
  return isGenerated;
}

/** Every row of the VALUES list, each as its COPY line; all rows must have one shape. */
function valueRows(c: InsertCursor, names: string[] | undefined): { rows: Buffer[]; generated?: boolean[] } {
  const rows: Buffer[] = [];
  const row = new Bytes();
  let generated: boolean[] | undefined;
  for (;;) {
    const isGenerated = valueRow(c, row);
    if (generated === undefined) generated = isGenerated;
    else if (generated.length !== isGenerated.length || generated.some((g, k) => g !== isGenerated[k]))
      c.fail('rows of different shapes');
    if (names !== undefined && names.length !== isGenerated.length)
      c.fail(`${isGenerated.length} values for ${names.length} columns`);
    rows.push(row.take());
    c.skipSpace();
    if (c.bytes[c.i] !== COMMA) return { rows, ...(generated ? { generated } : {}) };
    c.i++;
  }
}

/** Does this line start an INSERT statement as pg_dump writes it? */
export function startsInsert(bytes: Buffer, start: number): boolean {
  return bytes.toString('latin1', start, start + 12) === 'INSERT INTO ';
}
