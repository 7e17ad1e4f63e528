import { Transform, type TransformCallback } from 'node:stream';
import { parseCopyStatement } from './copy-statement.ts';
import { createdTable } from './create-table.ts';
import { createDumpLexer, type DumpLine } from './dump-lexer.ts';
import { decodeInsert, startsInsert } from './insert-statement.ts';
import { largeObjectTracker } from './large-objects.ts';
import { addRow, digestHex, emptyDigest, type RowDigest } from './row-digest.ts';
import { type DumpedSequence, readSetval } from './setval.ts';

/**
 * What a dump holds for one table (all its COPY blocks, or INSERT statements, in one database, merged:
 * a dump made with --load-via-partition-root writes one block per partition into the root), or for the
 * large objects of one database. A table the dump creates without any data is listed too (`data:
 * 'none'`, 0 rows): its restored copy must be empty.
 */
export interface TableDigest {
  kind: 'table' | 'large-objects';
  database: string;
  /** As written in the COPY statement (`public.t`); `pg_largeobject` for large objects. */
  table: string;
  /** The COPY column list as written, without parentheses (`a, b`); empty for large objects. */
  columns: string;
  rows: number;
  /** Sum mod 2^64 of the rows' 64-bit hashes (row-digest.ts), 16 hex digits. */
  digest: string;
  /** The client_encoding the data was written in (the section's `SET client_encoding`). */
  encoding: string;
  /** Dump line of the (first) COPY or INSERT statement, of the CREATE TABLE, or of the first `lo_open`. */
  line: number;
  /**
   * Where the rows came from: absent for COPY blocks (and large objects), `insert` for INSERT
   * statements (pg_dump --inserts, --column-inserts, --rows-per-insert; decoded to COPY text by
   * insert-statement.ts), `none` for a table the dump creates without data.
   */
  data?: 'insert' | 'none';
  /** Why the dump's rows of this table could not all be digested (an INSERT not in pg_dump's form). */
  unverified?: string;
}

export interface CopyDigestOptions {
  /** The database to file COPY blocks under before any `\connect` (a plain pg_dump has none). */
  database?: string;
}

/** A pass-through stream (bytes unchanged) that digests every COPY block and INSERT it sees. */
export interface CopyDigestStream extends Transform {
  /** Complete once the stream has finished; in dump order (large objects last per database). */
  readonly digests: TableDigest[];
  /** Every sequence value the dump sets (its setval lines), in dump order. */
  readonly sequences: DumpedSequence[];
}

/** Keys a table digest: database, table and columns (a NUL never occurs in any of them). */
function keyOf(database: string, table: string, columns: string): string {
  return `${database}\0${table}\0${columns}`;
}

/**
 * Digests the data of a plain pg_dump / pg_dumpall stream (COPY blocks and INSERT statements) while
 * passing its bytes on unchanged: per database and table, the row count and an order-independent digest
 * that deep verification (lib/verify/deep.ts) recomputes from the restored tables with
 * `COPY … TO STDOUT`; and every table the dump creates, so that one without data is known too.
 */
export function copyDigest(options: CopyDigestOptions = {}): CopyDigestStream {
  const fallback = options.database ?? '';
  const tables = new Map<string, { entry: Omit<TableDigest, 'rows' | 'digest'>; digest: RowDigest }>();
  /** CREATE TABLEs per `database\0table`, in dump order. */
  const created = new Map<string, { database: string; table: string; line: number; encoding: string }>();
  const largeObjects = new Map<string, { line: number; encoding: string; digest: RowDigest }>();
  let encoding = 'UTF8';
  let block: RowDigest | undefined;
  let standardStrings = true;
  // The lines of an INSERT statement that spans lines (a string with a newline, --rows-per-insert).
  let insert: { line: number; parts: Buffer[] } | undefined;
  const lo = largeObjectTracker();
  const sequences: DumpedSequence[] = [];

  function tableEntry(database: string, table: string, columns: string, line: number, data?: 'insert') {
    const key = keyOf(database, table, columns);
    let found = tables.get(key);
    if (!found) {
      const entry = {
        kind: 'table' as const,
        database,
        table,
        columns,
        encoding,
        line,
        ...(data ? { data } : {}),
      };
      found = { entry, digest: emptyDigest() };
      tables.set(key, found);
    }
    return found;
  }

  /** Digests one whole INSERT statement, or marks its table as not verified. */
  function insertDone(bytes: Buffer, line: number): void {
    const database = lexer.database ?? fallback;
    const decoded = decodeInsert(bytes, standardStrings);
    if (!decoded.ok) {
      const table = tableEntry(database, decoded.table ?? '(unreadable INSERT)', '', line, 'insert');
      table.entry.unverified ??= `line ${line}: ${decoded.reason}`;
      return;
    }
    const table = tableEntry(database, decoded.table, decoded.columns, line, 'insert');
    for (const row of decoded.rows) addRow(table.digest, row, 0, row.length);
  }

  const lexer = createDumpLexer({
    copy(statement, line) {
      const target = parseCopyStatement(statement);
      const database = lexer.database ?? fallback;
      block = tableEntry(database, target?.table ?? statement, target?.columns ?? '', line).digest;
    },
    line(line: DumpLine) {
      if (line.kind === 'copy-data') {
        addRow(block as RowDigest, line.bytes, line.start, line.end);
        return;
      }
      if (insert) {
        insert.parts.push(Buffer.from(line.bytes.subarray(line.start, line.end)), NEWLINE);
        if (!line.openAfter) {
          insertDone(Buffer.concat(insert.parts), insert.line);
          insert = undefined;
        }
        return;
      }
      if (!line.startsStatement) return;
      const first = line.bytes[line.start];
      if (first === 73 && startsInsert(line.bytes, line.start)) {
        if (line.openAfter)
          insert = {
            line: line.number,
            parts: [Buffer.from(line.bytes.subarray(line.start, line.end)), NEWLINE],
          };
        else insertDone(line.bytes.subarray(line.start, line.end), line.number);
        return;
      }
      if (first === 67) {
        const table = createdTable(
          line.bytes.toString('utf8', line.start, Math.min(line.end, line.start + 4096)),
        );
        const database = lexer.database ?? fallback;
        if (table !== undefined && !created.has(keyOf(database, table, '')))
          created.set(keyOf(database, table, ''), { database, table, line: line.number, encoding });
        return;
      }
      if (first !== 83) return;
      const setval = readSetval(line);
      if (setval) {
        sequences.push({ database: lexer.database ?? fallback, ...setval });
        return;
      }
      const seen = readSetEncoding(line);
      if (seen) encoding = seen;
      const strings = readStandardStrings(line);
      if (strings !== undefined) standardStrings = strings;
      const finished = lo.line(line);
      if (finished) {
        const database = lexer.database ?? fallback;
        let objects = largeObjects.get(database);
        if (!objects) {
          objects = { line: finished.line, encoding, digest: emptyDigest() };
          largeObjects.set(database, objects);
        }
        addRow(objects.digest, finished.row, 0, finished.row.length);
      }
    },
  });

  const stream = new Transform({
    transform(chunk: Buffer, _encoding, done: TransformCallback) {
      try {
        lexer.write(chunk);
      } catch (error) {
        done(error as Error);
        return;
      }
      done(null, chunk);
    },
    flush(done: TransformCallback) {
      lexer.end();
      done();
    },
  });
  Object.defineProperty(stream, 'sequences', { get: () => [...sequences] });
  return Object.defineProperty(stream, 'digests', {
    get(): TableDigest[] {
      let out: TableDigest[] = [...tables.values()].map(({ entry, digest }) => ({
        ...entry,
        rows: digest.rows,
        digest: digestHex(digest),
      }));
      // An INSERT that could not be decoded was filed without its column list: its table is not
      // verified as a whole (the rows decoded under the column list are only part of it).
      const undecoded = new Map(
        out.filter((t) => t.unverified && t.columns === '').map((t) => [keyOf(t.database, t.table, ''), t]),
      );
      if (undecoded.size > 0) {
        out = out.flatMap((t) => {
          const failed = undecoded.get(keyOf(t.database, t.table, ''));
          if (!failed || failed === t) return [t];
          failed.line = Math.min(failed.line, t.line);
          failed.columns = t.columns;
          return [];
        });
      }
      const withData = new Set(out.map((t) => keyOf(t.database, t.table, '')));
      for (const [key, table] of created) {
        if (withData.has(key)) continue;
        out.push({
          kind: 'table',
          ...table,
          columns: '',
          rows: 0,
          digest: digestHex(emptyDigest()),
          data: 'none',
        });
      }
      for (const [database, objects] of largeObjects) {
        out.push({
          kind: 'large-objects',
          database,
          table: 'pg_largeobject',
          columns: '',
          rows: objects.digest.rows,
          digest: digestHex(objects.digest),
          encoding: objects.encoding,
          line: objects.line,
        });
      }
      return out;
    },
  }) as CopyDigestStream;
}

const NEWLINE = Buffer.from('\n');

/** `SET standard_conforming_strings = on|off;`: how the dump's plain string literals read. */
function readStandardStrings(line: DumpLine): boolean | undefined {
  if (line.end - line.start > 60) return undefined;
  const text = line.bytes.toString('latin1', line.start, line.end);
  const m = /^SET standard_conforming_strings = '?(on|off)'?;$/.exec(text);
  return m ? m[1] === 'on' : undefined;
}

/** The encoding of a `SET client_encoding = 'X';` line. */
function readSetEncoding(line: DumpLine): string | undefined {
  if (line.end - line.start > 60) return undefined;
  const text = line.bytes.toString('latin1', line.start, line.end);
  return /^SET client_encoding = '([^']+)';$/.exec(text)?.[1];
}
