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
  const split = new SectionSplit(options);
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, done: TransformCallback) {
      // Past the section nothing more is needed from the input but its end.
      if (split.state !== 'after') split.lexer.write(chunk);
      if (split.state === 'body') for (const piece of split.out.take()) this.push(piece);
      done();
    },
    flush(done: TransformCallback) {
      split.lexer.end();
      if (split.state === 'head' || split.state === 'body') split.end();
      if (split.state === 'before') {
        const error = new DatabaseNotInDumpError(split.wanted, split.found);
        split.settle?.reject(error);
        done(error);
        return;
      }
      done();
    },
    // A source that fails (a read error under the backup) destroys the splitter before its end: the
    // caller waiting for the section head must hear it, not wait forever.
    destroy(error, done) {
      split.settle?.reject(error ?? new Error('the dump stream was closed before the section was read'));
      done(error);
    },
  });
  split.stream = stream;
  return Object.assign(stream, { section: split.section });
}

/** The output: runs of kept input bytes (no copy) and replaced lines, in order. */
class SplitOutput {
  private readonly out: Buffer[] = [];
  // The current run of kept bytes, all within one buffer.
  private run: { bytes: Buffer; start: number; end: number } | undefined;
  flush(): void {
    if (this.run) this.out.push(this.run.bytes.subarray(this.run.start, this.run.end));
    this.run = undefined;
  }
  keep(line: DumpLine): void {
    const to = line.end < line.bytes.length ? line.end + 1 : line.end;
    if (this.run && this.run.bytes === line.bytes && this.run.end === line.start) this.run.end = to;
    else {
      this.flush();
      this.run = { bytes: line.bytes, start: line.start, end: to };
    }
  }
  replace(line: DumpLine, text: string, encoding: BufferEncoding = 'utf8'): void {
    this.flush();
    const newline = line.end < line.bytes.length ? '\n' : '';
    this.out.push(Buffer.from(`${text}${newline}`, encoding));
  }
  take(): Buffer[] {
    return this.out.splice(0);
  }
}

/** The splitter's state: before the section, in its head (up to its \connect), its body, after it. */
class SectionSplit {
  readonly wanted: string;
  readonly rename: { from: string; to: string } | undefined;
  readonly found: string[] = [];
  state: 'before' | 'head' | 'body' | 'after' = 'before';
  firstLine = 0;
  createDatabase: string[] | undefined;
  capturing = false;
  readonly out = new SplitOutput();
  settle: { resolve(s: DatabaseSection): void; reject(e: Error): void } | undefined;
  readonly section: Promise<DatabaseSection>;
  readonly lexer;
  stream: Transform | undefined;

  constructor(options: SplitDatabaseOptions) {
    this.wanted = options.database;
    const latin1 = (text: string) => Buffer.from(text, 'utf8').toString('latin1');
    this.rename =
      options.renameTo === undefined
        ? undefined
        : { from: latin1(this.wanted), to: latin1(options.renameTo) };
    this.section = new Promise<DatabaseSection>((resolve, reject) => {
      this.settle = { resolve, reject };
    });
    // A caller that only pipes (and learns of a missing database from the stream's error) must not
    // crash the process with an unhandled rejection.
    this.section.catch(() => {});
    this.lexer = createDumpLexer({
      section: (name, line) => this.onSection(name, line),
      line: (line) => this.onLine(line),
      chunkDone: () => this.out.flush(),
    });
  }

  headRead(): void {
    this.state = 'body';
    this.settle?.resolve({
      name: this.wanted,
      createDatabase: this.createDatabase?.join('\n'),
      firstLine: this.firstLine,
    });
  }

  end(): void {
    this.out.flush();
    if (this.state === 'head') this.headRead();
    this.state = 'after';
    for (const chunk of this.out.take()) this.stream?.push(chunk);
    // psql may commit now; the rest of the input is still read, to its end, and dropped.
    this.stream?.push(null);
  }

  onSection(name: string, line: number): void {
    this.found.push(name);
    if (this.state === 'before' && name === this.wanted) {
      this.state = 'head';
      this.firstLine = line;
    } else if (this.state === 'head' || this.state === 'body') {
      this.end();
    }
  }

  onLine(line: DumpLine): void {
    if (this.state === 'before' || this.state === 'after') return;
    if (line.kind === 'comment' && line.bytes.toString('latin1', line.start, line.end) === CLUSTER_TRAILER) {
      this.end();
      return;
    }
    if (this.capturing || (line.startsStatement && isCreateDatabase(line))) {
      this.capturing = line.openAfter;
      this.createDatabase = [
        ...(this.createDatabase ?? []),
        line.bytes.toString('utf8', line.start, line.end),
      ];
      this.out.replace(line, '-- pg-restore-drill: CREATE DATABASE left to the caller');
      return;
    }
    if (!this.rewrite(line)) this.out.keep(line);
  }

  /** `\connect`, `\encoding`, BEGIN/COMMIT and a renamed reference become other lines; false: kept. */
  rewrite(line: DumpLine): boolean {
    if (line.kind === 'meta') {
      const { command } = splitMeta(line.bytes.toString('latin1', line.start, line.end));
      if (command !== 'connect' && command !== 'c' && command !== 'encoding') return false;
      this.out.replace(line, `-- pg-restore-drill: \\${command} removed (one database, one transaction)`);
      if (this.state === 'head' && command !== 'encoding') this.headRead();
      return true;
    }
    if (!line.startsStatement) return false;
    const text = line.bytes.toString('latin1', line.start, line.end);
    if (text === 'BEGIN;' || text === 'COMMIT;') {
      this.out.replace(line, `-- pg-restore-drill: ${text} removed (psql -1 holds the transaction)`);
      return true;
    }
    const renamed = this.rename && renameDatabaseReference(text, this.rename.from, this.rename.to);
    if (renamed === undefined) return false;
    this.out.replace(line, renamed, 'latin1');
    return true;
  }
}

function isCreateDatabase(line: DumpLine): boolean {
  return (
    line.bytes[line.start] === 67 &&
    line.bytes.toString('latin1', line.start, line.start + 16).toUpperCase() === 'CREATE DATABASE '
  );
}
