import { Transform, type TransformCallback } from 'node:stream';
import { renameDatabaseReference } from './database-statements.ts';
import { createDumpLexer, type DumpLine } from './dump-lexer.ts';
import { DatabaseNotInDumpError } from './errors.ts';
import { splitMeta } from './psql-meta.ts';

/** What the splitter found about the chosen database, once its section's head is read. */
export interface DatabaseSection {
  /** The name as the dump writes it (its banner). */
  name: string;
  /**
   * The section's `CREATE DATABASE …;` as written (renameCreateDatabase gives it a new name), or
   * undefined for template1 and postgres, which pg_dumpall dumps without one (they always exist).
   */
  createDatabase: string | undefined;
  /** Dump line of the first line the splitter emits (the section banner): see originalLine. */
  firstLine: number;
}

export interface SplitDatabaseOptions {
  /** The database whose section to keep, exactly as named (its banner in the dump). */
  database: string;
  /**
   * Restore under this name: the section's database-level statements (ALTER DATABASE … OWNER / SET,
   * COMMENT ON DATABASE, GRANT/REVOKE ON DATABASE, ALTER ROLE … IN DATABASE) are rewritten to name it,
   * so that they never touch the original database.
   */
  renameTo?: string;
}

export interface SplitDatabaseStream extends Transform {
  /**
   * Resolves once the section's head (everything before its first `\connect`) is read, before any of
   * its bytes are emitted: create the database then, and start psql on the output. Rejects with
   * DatabaseNotInDumpError when the dump ends without the section.
   */
  readonly section: Promise<DatabaseSection>;
}

/**
 * The dump line of a line psql reports (`psql:<stdin>:N:`) while reading the splitter's output. The
 * splitter replaces lines, never removes them, so the offset is constant.
 */
export function originalLine(section: Pick<DatabaseSection, 'firstLine'>, outputLine: number): number {
  return section.firstLine + outputLine - 1;
}

const CLUSTER_TRAILER = '-- PostgreSQL database cluster dump complete';

/**
 * From a pg_dumpall stream, emits only one database's section, ready for `psql -1 -d <db>`:
 * - `\connect` (and the `\encoding` pg_dump writes before some) become comments: psql stays on the
 *   database it was started on, in one transaction;
 * - the `CREATE DATABASE` statement becomes comments (the caller creates the database, see `section`);
 * - the `BEGIN;` / `COMMIT;` pg_dump wraps large objects in become comments: under `psql -1` that
 *   COMMIT would end the single transaction early (psql 15.18: warning, then autocommit);
 * - `\restrict` / `\unrestrict` stay: they come in pairs within a section, and psql 15.18 accepts them
 *   under `-1`.
 * Lines are replaced one for one, so originalLine() maps psql's line numbers back to the dump. The
 * output ends when the section does; the input is read to its end all the same.
 */
export function splitDatabase(options: SplitDatabaseOptions): SplitDatabaseStream {
  const wanted = options.database;
  const latin1 = (text: string) => Buffer.from(text, 'utf8').toString('latin1');
  const rename =
    options.renameTo === undefined ? undefined : { from: latin1(wanted), to: latin1(options.renameTo) };
  const found: string[] = [];
  let state: 'before' | 'head' | 'body' | 'after' = 'before';
  let firstLine = 0;
  let createDatabase: string[] | undefined;
  let capturing = false;
  const out: Buffer[] = [];
  // The current run of kept bytes, all within one buffer.
  let run: { bytes: Buffer; start: number; end: number } | undefined;

  let settle: { resolve(s: DatabaseSection): void; reject(e: Error): void } | undefined;
  const section = new Promise<DatabaseSection>((resolve, reject) => {
    settle = { resolve, reject };
  });
  // A caller that only pipes (and learns of a missing database from the stream's error) must not
  // crash the process with an unhandled rejection.
  section.catch(() => {});

  const flushRun = () => {
    if (run) out.push(run.bytes.subarray(run.start, run.end));
    run = undefined;
  };
  const keep = (line: DumpLine) => {
    const to = line.end < line.bytes.length ? line.end + 1 : line.end;
    if (run && run.bytes === line.bytes && run.end === line.start) run.end = to;
    else {
      flushRun();
      run = { bytes: line.bytes, start: line.start, end: to };
    }
  };
  const replace = (line: DumpLine, text: string, encoding: BufferEncoding = 'utf8') => {
    flushRun();
    const newline = line.end < line.bytes.length ? '\n' : '';
    out.push(Buffer.from(`${text}${newline}`, encoding));
  };
  const headRead = () => {
    state = 'body';
    settle?.resolve({ name: wanted, createDatabase: createDatabase?.join('\n'), firstLine });
  };

  const lexer = createDumpLexer({
    section(name, line) {
      found.push(name);
      if (state === 'before' && name === wanted) {
        state = 'head';
        firstLine = line;
      } else if (state === 'head' || state === 'body') {
        end();
      }
    },
    line(line) {
      if (state === 'before' || state === 'after') return;
      if (
        line.kind === 'comment' &&
        line.bytes.toString('latin1', line.start, line.end) === CLUSTER_TRAILER
      ) {
        end();
        return;
      }
      if (capturing || (line.startsStatement && isCreateDatabase(line))) {
        capturing = line.openAfter;
        createDatabase = [...(createDatabase ?? []), line.bytes.toString('utf8', line.start, line.end)];
        replace(line, '-- pg-restore-drill: CREATE DATABASE left to the caller');
        return;
      }
      if (line.kind === 'meta') {
        const { command } = splitMeta(line.bytes.toString('latin1', line.start, line.end));
        if (command === 'connect' || command === 'c' || command === 'encoding') {
          replace(line, `-- pg-restore-drill: \\${command} removed (one database, one transaction)`);
          if (state === 'head' && command !== 'encoding') headRead();
          return;
        }
      } else if (line.startsStatement) {
        const text = line.bytes.toString('latin1', line.start, line.end);
        if (text === 'BEGIN;' || text === 'COMMIT;') {
          replace(line, `-- pg-restore-drill: ${text} removed (psql -1 holds the transaction)`);
          return;
        }
        const renamed = rename && renameDatabaseReference(text, rename.from, rename.to);
        if (renamed !== undefined) {
          replace(line, renamed, 'latin1');
          return;
        }
      }
      keep(line);
    },
    chunkDone() {
      flushRun();
    },
  });

  let stream: Transform;
  const end = () => {
    flushRun();
    if (state === 'head') headRead();
    state = 'after';
    for (const chunk of out.splice(0)) stream.push(chunk);
    // psql may commit now; the rest of the input is still read, to its end, and dropped.
    stream.push(null);
  };

  stream = new Transform({
    transform(chunk: Buffer, _encoding, done: TransformCallback) {
      // Past the section nothing more is needed from the input but its end.
      if (state !== 'after') lexer.write(chunk);
      if (state === 'body') for (const piece of out.splice(0)) this.push(piece);
      done();
    },
    flush(done: TransformCallback) {
      lexer.end();
      if (state === 'head' || state === 'body') end();
      if (state === 'before') {
        const error = new DatabaseNotInDumpError(wanted, found);
        settle?.reject(error);
        done(error);
        return;
      }
      done();
    },
    // A source that fails (a read error under the backup) destroys the splitter before its end: the
    // caller waiting for the section head must hear it, not wait forever.
    destroy(error, done) {
      settle?.reject(error ?? new Error('the dump stream was closed before the section was read'));
      done(error);
    },
  });
  return Object.assign(stream, { section });
}

function isCreateDatabase(line: DumpLine): boolean {
  return (
    line.bytes[line.start] === 67 &&
    line.bytes.toString('latin1', line.start, line.start + 16).toUpperCase() === 'CREATE DATABASE '
  );
}
