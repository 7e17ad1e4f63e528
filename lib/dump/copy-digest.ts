import { Transform, type TransformCallback } from 'node:stream';
import { parseCopyStatement } from './copy-statement.ts';
import { createDumpLexer, type DumpLine } from './dump-lexer.ts';
import { largeObjectTracker } from './large-objects.ts';
import { addRow, digestHex, emptyDigest, type RowDigest } from './row-digest.ts';

/**
 * What a dump holds for one table (all its COPY blocks in one database, merged: a dump made with
 * --load-via-partition-root writes one block per partition into the root), or for the large objects
 * of one database.
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
  /** Dump line of the (first) COPY statement, or of the first `lo_open`. */
  line: number;
}

export interface CopyDigestOptions {
  /** The database to file COPY blocks under before any `\connect` (a plain pg_dump has none). */
  database?: string;
}

/** A pass-through stream (bytes unchanged) that digests every COPY block it sees. */
export interface CopyDigestStream extends Transform {
  /** Complete once the stream has finished; in dump order (large objects last per database). */
  readonly digests: TableDigest[];
}

/** Keys a table digest: database, table and columns (a NUL never occurs in any of them). */
function keyOf(database: string, table: string, columns: string): string {
  return `${database}\0${table}\0${columns}`;
}

/**
 * Digests the COPY data of a plain pg_dump / pg_dumpall stream while passing its bytes on unchanged:
 * per database and table, the row count and an order-independent digest that deep verification
 * (lib/verify/deep.ts) recomputes from the restored tables with `COPY … TO STDOUT`.
 */
export function copyDigest(options: CopyDigestOptions = {}): CopyDigestStream {
  const fallback = options.database ?? '';
  const tables = new Map<string, { entry: Omit<TableDigest, 'rows' | 'digest'>; digest: RowDigest }>();
  const largeObjects = new Map<string, { line: number; encoding: string; digest: RowDigest }>();
  let encoding = 'UTF8';
  let block: RowDigest | undefined;
  const lo = largeObjectTracker();

  const lexer = createDumpLexer({
    copy(statement, line) {
      const target = parseCopyStatement(statement);
      const database = lexer.database ?? fallback;
      const key = keyOf(database, target?.table ?? statement, target?.columns ?? '');
      let table = tables.get(key);
      if (!table) {
        const entry = {
          kind: 'table' as const,
          database,
          table: target?.table ?? statement,
          columns: target?.columns ?? '',
          encoding,
          line,
        };
        table = { entry, digest: emptyDigest() };
        tables.set(key, table);
      }
      block = table.digest;
    },
    line(line: DumpLine) {
      if (line.kind === 'copy-data') {
        addRow(block as RowDigest, line.bytes, line.start, line.end);
        return;
      }
      if (!line.startsStatement || line.bytes[line.start] !== 83) return;
      const seen = readSetEncoding(line);
      if (seen) encoding = seen;
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
  return Object.defineProperty(stream, 'digests', {
    get(): TableDigest[] {
      const out: TableDigest[] = [...tables.values()].map(({ entry, digest }) => ({
        ...entry,
        rows: digest.rows,
        digest: digestHex(digest),
      }));
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

/** The encoding of a `SET client_encoding = 'X';` line. */
function readSetEncoding(line: DumpLine): string | undefined {
  if (line.end - line.start > 60) return undefined;
  const text = line.bytes.toString('latin1', line.start, line.end);
  return /^SET client_encoding = '([^']+)';$/.exec(text)?.[1];
}
