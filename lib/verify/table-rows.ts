/**
 * A small table's rows as canonical text: each row as the COPY text line pg_dump would write for it
 * (every column, under pg_dump's session settings), ordered by its key. The same text an expectations
 * file records (`rowsText`) and a dump's COPY block holds, so a snapshot, a recording and a backup
 * compare line for line, and their digest is deep verification's digest.
 */
import { Readable } from 'node:stream';
import pg from 'pg';
import { addRow, digestHex, emptyDigest } from '../dump/row-digest.ts';
import type { Executor } from '../exec/executor.ts';
import { collector } from '../exec/tool-output.ts';
import { parsePsqlStderr } from '../restore/psql-errors.ts';
import type { ReadSettings } from './deep.ts';
import { dumpSessionLines } from './read-session.ts';

/** A table to read: its qualified name, the columns COPY writes, its key columns. */
export interface RowSource {
  table: string;
  columns: string[];
  key: string[];
}

export interface TableRows extends RowSource {
  /** COPY text lines, ordered by the key. */
  lines: string[];
}

/** pg_dump's session (deep-read.ts), with nothing resolved through a search_path. */
function session(settings: ReadSettings): string {
  return dumpSessionLines({ ...settings, quoteAllIdentifiers: false }).join('\n');
}

/** The SQL column list of `columns` (every name quoted), as COPY … TO reads them back. */
export function columnList(columns: readonly string[]): string {
  return columns.map((c) => pg.escapeIdentifier(c)).join(', ');
}

/** Reads the rows of `source` in `database` through psql (`COPY (SELECT …) TO STDOUT`). */
export async function readTableRows(
  executor: Executor,
  database: string,
  source: RowSource,
  settings: ReadSettings,
  signal?: AbortSignal,
): Promise<TableRows> {
  const columns = columnList(source.columns);
  const order = columnList(source.key);
  const script = `${session(settings)}\nCOPY (SELECT ${columns} FROM ${source.table}${order ? ` ORDER BY ${order}` : ''}) TO STDOUT;\n`;
  const out = collector();
  const run = await executor.run(
    'psql',
    [
      '-X',
      '-q',
      '-w',
      '-v',
      'ON_ERROR_STOP=1',
      '-d',
      `dbname='${database.replace(/['\\]/g, '\\$&')}'`,
      '-f',
      '-',
    ],
    { stdin: Readable.from([Buffer.from(script)]), stdout: out.sink, signal },
  );
  if (run.exitCode !== 0) {
    const why = parsePsqlStderr(run.stderr).errors[0]?.message ?? run.stderr.trim();
    throw new Error(`cannot read ${source.table} in ${database}: ${why}`);
  }
  const text = out.text();
  const lines = text === '' ? [] : text.replace(/\n$/, '').split('\n');
  return { ...source, lines };
}

/** The digest deep verification computes for the same rows (order-independent). */
export function linesDigest(lines: readonly string[]): { rows: number; digest: string } {
  const digest = emptyDigest();
  for (const line of lines) {
    const bytes = Buffer.from(line, 'utf8');
    addRow(digest, bytes, 0, bytes.length);
  }
  return { rows: digest.rows, digest: digestHex(digest) };
}

/** A COPY text field as the operator reads it: `\N` is NULL, escapes undone. */
export function copyFieldText(field: string): string {
  if (field === '\\N') return 'NULL';
  return field.replace(
    /\\(.)/g,
    (_, c: string) => ({ t: '\t', n: '\n', r: '\r', b: '\b', f: '\f', v: '\v' })[c] ?? c,
  );
}

export interface RowDifference {
  /** `txn_id=4`, or the whole row for a table without a key. */
  key: string;
  kind: 'missing' | 'unexpected' | 'changed';
  /** For a changed row: each column that differs, with both values. */
  columns?: { column: string; expected: string; found: string }[];
}

export interface RowComparison {
  ok: boolean;
  compared: number;
  differences: RowDifference[];
  /** The column lists differ: the table itself changed shape. */
  columnsDiffer?: { expected: string[]; found: string[] };
}

function keyOf(fields: string[], columns: string[], key: string[]): string {
  const at = key.map((k) => columns.indexOf(k));
  if (key.length === 0 || at.some((i) => i < 0)) return fields.join('\t');
  return key.map((k, i) => `${k}=${copyFieldText(fields[at[i] as number] ?? '')}`).join(', ');
}

/**
 * Compares rows by key, every column: what is missing, what is new, and for each changed row which
 * columns changed from what to what. Rows of a table without a key compare as a multiset of lines.
 */
export function compareRows(
  expected: { columns: string[]; key: string[]; lines: readonly string[] },
  found: { columns: string[]; lines: readonly string[] },
): RowComparison {
  if (expected.columns.join('\0') !== found.columns.join('\0')) {
    return {
      ok: false,
      compared: 0,
      differences: [],
      columnsDiffer: { expected: expected.columns, found: found.columns },
    };
  }
  const { columns, key } = expected;
  const index = (lines: readonly string[]) => {
    const map = new Map<string, string[][]>();
    for (const line of lines) {
      const fields = line.split('\t');
      const k = keyOf(fields, columns, key);
      map.set(k, [...(map.get(k) ?? []), fields]);
    }
    return map;
  };
  const want = index(expected.lines);
  const got = index(found.lines);
  const differences: RowDifference[] = [];
  for (const [k, rows] of want) {
    const other = got.get(k) ?? [];
    rows.forEach((fields, i) => {
      const match = other[i];
      if (!match) {
        differences.push({ key: k, kind: 'missing' });
        return;
      }
      const changed = columns
        .map((column, c) => ({ column, expected: fields[c] ?? '', found: match[c] ?? '' }))
        .filter((d) => d.expected !== d.found)
        .map((d) => ({
          column: d.column,
          expected: copyFieldText(d.expected),
          found: copyFieldText(d.found),
        }));
      if (changed.length > 0) differences.push({ key: k, kind: 'changed', columns: changed });
    });
    for (let i = rows.length; i < other.length; i++) differences.push({ key: k, kind: 'unexpected' });
  }
  for (const [k, rows] of got)
    if (!want.has(k)) for (const _ of rows) differences.push({ key: k, kind: 'unexpected' });
  return { ok: differences.length === 0, compared: expected.lines.length, differences };
}

const SHOWN = 10;

/** One line for the operator: `row txn_id=4: value expected -20.00, found 1000000.00; …`. */
export function describeComparison(
  comparison: RowComparison,
  counts: { expected: number; found: number },
): string {
  if (comparison.columnsDiffer) {
    return `its columns differ: expected [${comparison.columnsDiffer.expected.join(', ')}], found [${comparison.columnsDiffer.found.join(', ')}]`;
  }
  const parts = comparison.differences.slice(0, SHOWN).map((d) => {
    const row = d.key.includes('=')
      ? `row ${d.key}`
      : `row [${d.key.split('\t').map(copyFieldText).join(', ')}]`;
    if (d.kind === 'missing') return `${row} missing`;
    if (d.kind === 'unexpected') return `${row} unexpected`;
    return `${row}: ${(d.columns ?? []).map((c) => `${c.column} expected ${c.expected}, found ${c.found}`).join('; ')}`;
  });
  const more =
    comparison.differences.length > SHOWN ? `; and ${comparison.differences.length - SHOWN} more` : '';
  return `${counts.found} row(s) against ${counts.expected}: ${parts.join('; ')}${more}`;
}
