import { Transform, type TransformCallback } from 'node:stream';
import { Selection } from './selection.ts';
import type { LeftOut } from './table-closure.ts';
import type { TableName } from './table-name.ts';

/** What the selection found, once the table's own entries are known (before any byte goes out). */
export interface TableSelection {
  /** The section's CREATE DATABASE (undefined for postgres and template1). */
  createDatabase: string | undefined;
  /** The entries restored before the data, `TYPE name` each, in dump order. */
  included: string[];
  leftOut: LeftOut[];
}

export interface TableSelectStream extends Transform {
  /** Resolves when the table's data begins (or its section ends); rejects when the backup lacks it. */
  readonly selection: Promise<TableSelection>;
  /** Every entry restored, in output order (complete once the stream has ended). */
  readonly restored: string[];
  /** What of the table is not restored, and why (complete once the stream has ended). */
  readonly leftOut: LeftOut[];
  /** psql's input line → the backup's line. */
  lineOf(outputLine: number): number;
}

/**
 * From a pg_dumpall stream, emits one table's restore for `psql -1 -d <scratch>`: the session settings,
 * the definitions the table names (schema, types, domains, functions, sequences, transitively), the
 * table, its rows (COPY or INSERT, byte for byte), its sequences' positions, then its constraints,
 * indexes and self-referencing foreign keys. Nothing else of the section, no `\connect`, no database-,
 * role- or ownership statement. The input is read to its end; the output ends with the section.
 */
export function tableSelect(wanted: TableName, file: string): TableSelectStream {
  const select = new Selection(wanted, file);
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, done: TransformCallback) {
      try {
        if (select.state !== 'done') select.lexer.write(chunk);
        for (const piece of select.output.take()) this.push(piece);
        if (select.ended) this.push(null);
        select.ended = false;
      } catch (error) {
        done(error as Error);
        return;
      }
      done();
    },
    flush(done: TransformCallback) {
      select.lexer.end();
      select.sectionEnd();
      if (!select.found) {
        const error = select.missing();
        select.settle.reject(error);
        done(error);
        return;
      }
      for (const piece of select.output.take()) this.push(piece);
      done();
    },
    destroy(error, done) {
      select.settle.reject(error ?? new Error('the dump stream was closed before the table was read'));
      done(error);
    },
  });
  return Object.assign(stream, {
    selection: select.promise,
    restored: select.restored,
    leftOut: select.leftOut,
    lineOf: (line: number) => select.output.lineOf(line),
  });
}
