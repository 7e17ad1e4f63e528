import { describe, expect, it } from 'vitest';
import { decodeInsert } from './insert-statement.ts';

// Statements and COPY rows as pg_dump / pg_dumpall 15.18 wrote them for the same table (app.items of
// test/drill-deep-variants.test.ts: NULLs, quotes, backslashes, tabs, newlines, a CR, unicode, bytea,
// arrays, json, NaN and Infinity, bit strings, reg* values, a generated column written as DEFAULT).

/** `pg_dumpall --rows-per-insert=3`. */
const MULTI_ROW =
  "INSERT INTO app.items VALUES\n\t(1, 'tab\there ''q'' back\\slash', -20.00, 'NaN', '-Infinity', true, B'1010', B'1', '\\x00ff5c', '{a,\"b c\",NULL}', '{\"a\": \"x\\ty\"}', '{\"k\": [1, \"\\\\t\"]}', '2024-02-29 17:04:56.789+05:30', '1 day 02:03:04', 'app.items', 'app.items', DEFAULT, 'new\nline\r\f\bv', 1),\n\t(2, NULL, 0.000000000000000000000000000001, 'Infinity', 0.1, false, NULL, NULL, '\\x', '{}', NULL, NULL, 'infinity', '-1 years', 'pg_class', 'integer', DEFAULT, 'ünïcødé ✓', NULL),\n\t(3, 'x', 12345678901234567890.123, 1e+308, 3.4e+38, NULL, B'0000', B'', NULL, NULL, 'null', 'null', '-infinity', '00:00:00', '-', '-', DEFAULT, '', 0);";
/** The same table's rows in the COPY block of a plain `pg_dumpall`. */
const COPY_ROWS: string[] = [
  '1\ttab\\there \'q\' back\\\\slash\t-20.00\tNaN\t-Infinity\tt\t1010\t1\t\\\\x00ff5c\t{a,"b c",NULL}\t{"a": "x\\\\ty"}\t{"k": [1, "\\\\\\\\t"]}\t2024-02-29 17:04:56.789+05:30\t1 day 02:03:04\tapp.items\tapp.items\tnew\\nline\\r\\f\\bv\t1',
  '2\t\\N\t0.000000000000000000000000000001\tInfinity\t0.1\tf\t\\N\t\\N\t\\\\x\t{}\t\\N\t\\N\tinfinity\t-1 years\tpg_class\tinteger\tünïcødé ✓\t\\N',
  '3\tx\t12345678901234567890.123\t1e+308\t3.4e+38\t\\N\t0000\t\t\\N\t\\N\tnull\tnull\t-infinity\t00:00:00\t-\t-\t\t0',
];
/** `pg_dumpall --column-inserts`. */
const COLUMN_INSERT = 'INSERT INTO public."user" (id, "order") VALUES (1, \'a\');';
/** `pg_dump --inserts` of a database with `standard_conforming_strings = off`: backslashes doubled. */
const STRINGS_OFF =
  "INSERT INTO app.items VALUES (1, 'tab\there ''q'' back\\\\slash', -20.00, 'NaN', '-Infinity', true, B'1010', B'1', '\\\\x00ff5c', '{a,\"b c\",NULL}', '{\"a\": \"x\\\\ty\"}', '{\"k\": [1, \"\\\\\\\\t\"]}', '2024-02-29 17:04:56.789+05:30', '1 day 02:03:04', 'app.items', 'app.items', DEFAULT, 'new\nline\r\f\bv', 1);";

const text = (rows: Buffer[]) => rows.map((r) => r.toString('utf8'));

describe('decodeInsert', () => {
  it('gives the COPY text lines of a multi-row INSERT, generated columns left out', () => {
    const decoded = decodeInsert(Buffer.from(MULTI_ROW));
    expect(decoded.ok && { ...decoded, rows: text(decoded.rows) }).toEqual({
      ok: true,
      table: 'app.items',
      columns: '',
      rows: COPY_ROWS,
    });
  });

  it('keeps the column list of --column-inserts', () => {
    expect(decodeInsert(Buffer.from(COLUMN_INSERT))).toEqual({
      ok: true,
      table: 'public."user"',
      columns: 'id, "order"',
      rows: [Buffer.from('1\ta')],
    });
  });

  it('reads backslash escapes when the dump says standard_conforming_strings = off', () => {
    const decoded = decodeInsert(Buffer.from(STRINGS_OFF), false);
    expect(decoded.ok && text(decoded.rows)).toEqual([COPY_ROWS[0]]);
    // Read as if the strings were standard, the doubled backslashes would stay: a different row.
    const misread = decodeInsert(Buffer.from(STRINGS_OFF), true);
    expect(misread.ok && text(misread.rows)).not.toEqual([COPY_ROWS[0]]);
  });

  it.each([
    ['INSERT INTO app.nocols DEFAULT VALUES;', 'app.nocols', '', ['']],
    [
      'INSERT INTO "app"."ident" ("id", "at") OVERRIDING SYSTEM VALUE VALUES (1, \'2026-03-29 01:07:00+00\');',
      '"app"."ident"',
      '"id", "at"',
      ['1\t2026-03-29 01:07:00+00'],
    ],
    [
      "INSERT INTO public.t VALUES (1, E'a\\tb\\\\c\\047\\x41\\u00e9') ON CONFLICT DO NOTHING;",
      'public.t',
      '',
      ["1\ta\\tb\\\\c'Aé"],
    ],
    [
      'INSERT INTO public.t (a, g, b) VALUES (NULL, DEFAULT, -1.5e-10);',
      'public.t',
      'a, b',
      ['\\N\t-1.5e-10'],
    ],
  ])('%s', (statement, table, columns, rows) => {
    const decoded = decodeInsert(Buffer.from(statement));
    expect(
      decoded.ok && { table: decoded.table, columns: decoded.columns, rows: text(decoded.rows) },
    ).toEqual({
      table,
      columns,
      rows,
    });
  });

  it.each([
    ['INSERT INTO public.t SELECT 1;', 'public.t', 'expected VALUES at byte 21 of the statement'],
    [
      'INSERT INTO public.t VALUES (1, now());',
      'public.t',
      'unexpected value starting with "n" at byte 32 of the statement',
    ],
    [
      "INSERT INTO public.t VALUES (1, 'x'::text);",
      'public.t',
      'expected , or ) after a value at byte 35 of the statement',
    ],
    [
      'INSERT INTO public.t VALUES (1), (1, 2);',
      'public.t',
      'rows of different shapes at byte 39 of the statement',
    ],
    [
      'INSERT INTO public.t VALUES (1); SELECT 1;',
      'public.t',
      'text after the ; at byte 33 of the statement',
    ],
  ])('%s is not decoded', (statement, table, why) => {
    expect(decodeInsert(Buffer.from(statement))).toEqual({
      ok: false,
      table,
      reason: `not an INSERT as pg_dump writes it: ${why}`,
    });
  });
});
