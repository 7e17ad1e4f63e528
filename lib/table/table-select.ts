import { Transform, type TransformCallback } from 'node:stream';
import { createDumpLexer, type DumpLine } from '../dump/dump-lexer.ts';
import { splitMeta } from '../dump/psql-meta.ts';
import { TableDrillUnsupportedError, TableNotInDumpError } from './errors.ts';
import { nearNames } from './near-names.ts';
import { type LeftOut, TableClosure, type TocEntry } from './table-closure.ts';
import type { TableName } from './table-name.ts';
import { parseTocHeader, type TocHeader } from './toc-entry.ts';

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

/** Session settings as pg_dump writes them; the tablespace always the scratch database's own. */
function readSetting(text: string): { name: string; text: string } | undefined {
  if (/^(SET|RESET) SESSION AUTHORIZATION/.test(text)) return { name: '', text: '' };
  const set = /^SET (\w+) = /.exec(text);
  if (set?.[1])
    return { name: set[1], text: set[1] === 'default_tablespace' ? "SET default_tablespace = '';" : text };
  const config = /^SELECT pg_catalog\.set_config\('(\w+)'/.exec(text);
  return config?.[1] ? { name: config[1], text } : undefined;
}

/** An entry as the report lists it: `TYPE sales.order_state`, `SCHEMA sales`. */
function showEntry(header: TocHeader): string {
  return `${header.type} ${header.schema === '-' ? '' : `${header.schema}.`}${header.name}`;
}

/** Ownership and privileges are left out: they name roles, which are cluster-wide. */
const DROPPED = /^(ALTER [A-Z ]+ .* OWNER TO .*;$|GRANT |REVOKE |SECURITY LABEL )/;
const CLUSTER_TRAILER = '-- PostgreSQL database cluster dump complete';
const SKIPPED_TYPES = new Set([
  'TABLE DATA',
  'BLOB',
  'BLOBS',
  'BLOB DATA',
  'LARGE OBJECT',
  'ACL',
  'DATABASE PROPERTIES',
]);

/**
 * From a pg_dumpall stream, emits one table's restore for `psql -1 -d <scratch>`: the session settings,
 * the definitions the table names (schema, types, domains, functions, sequences, transitively), the
 * table, its rows (COPY or INSERT, byte for byte), its sequences' positions, then its constraints,
 * indexes and self-referencing foreign keys. Nothing else of the section, no `\connect`, no database-,
 * role- or ownership statement. The input is read to its end; the output ends with the section.
 */
export function tableSelect(wanted: TableName): TableSelectStream {
  const select = new Selection(wanted);
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, done: TransformCallback) {
      try {
        if (select.state !== 'done') select.lexer.write(chunk);
        for (const piece of select.out.splice(0)) this.push(piece);
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
      for (const piece of select.out.splice(0)) this.push(piece);
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
    lineOf: (line: number) => select.lineOf(line),
  });
}

class Selection {
  state: 'before' | 'head' | 'body' | 'done' = 'before';
  readonly out: Buffer[] = [];
  ended = false;
  found = false;
  readonly restored: string[] = [];
  get leftOut(): LeftOut[] {
    return this.#closure.leftOut;
  }
  readonly promise: Promise<TableSelection>;
  settle!: { resolve(s: TableSelection): void; reject(e: Error): void };
  readonly lexer;
  readonly #want: TableName;
  readonly #closure: TableClosure;
  readonly #tables: TableName[] = [];
  #databaseFound = false;
  #createDatabase: string | undefined;
  #restrict: string | undefined;
  #settings = new Map<string, { text: string; line: number }>();
  readonly #sent = new Map<string, string>();
  #entry: (TocEntry & { settings: Map<string, { text: string; line: number }> }) | undefined;
  #mode: 'buffer' | 'stream' | 'skip' = 'skip';
  #index = 0;
  #pending: TocEntry[] = [];
  #boundary = false;
  #outLines = 0;
  #run: { bytes: Buffer; start: number; end: number } | undefined;
  readonly #runs: { out: number; dump: number }[] = [];

  constructor(wanted: TableName) {
    // The dump's bytes are read as latin1 (byte for byte); the wanted names are compared so too.
    const latin1 = (s: string) => Buffer.from(s, 'utf8').toString('latin1');
    this.#want = {
      database: latin1(wanted.database),
      schema: latin1(wanted.schema),
      table: latin1(wanted.table),
    };
    this.#closure = new TableClosure(this.#want);
    this.promise = new Promise((resolve, reject) => {
      this.settle = { resolve, reject };
    });
    this.promise.catch(() => {});
    this.lexer = createDumpLexer({
      section: (name) => this.#onSection(name),
      line: (l) => this.#onLine(l),
      chunkDone: () => this.#flushRun(),
    });
  }

  lineOf(outputLine: number): number {
    let run = this.#runs[0];
    for (const r of this.#runs) if (r.out <= outputLine) run = r;
    return run ? run.dump + (outputLine - run.out) : outputLine;
  }

  missing(): Error {
    const utf8 = (s: string) => Buffer.from(s, 'latin1').toString('utf8');
    const back = (t: TableName) => ({
      database: utf8(t.database),
      schema: utf8(t.schema),
      table: utf8(t.table),
    });
    const wanted = back(this.#want);
    return new TableNotInDumpError(
      'the backup',
      wanted,
      nearNames(wanted, this.#tables.map(back)),
      this.#databaseFound,
    );
  }

  #onSection(name: string): void {
    if (this.state === 'head' || this.state === 'body') this.sectionEnd();
    else if (this.state === 'before' && name === this.#want.database) {
      this.state = 'head';
      this.#databaseFound = true;
    }
  }

  /** The section ended: what is pending goes out, then the output ends (the input is still read). */
  sectionEnd(): void {
    if (this.state !== 'head' && this.state !== 'body') return;
    this.#finishEntry();
    if (!this.found) {
      this.state = 'before';
      this.#databaseFound = true;
      return;
    }
    this.#startData();
    if (this.#restrict) this.#emit(`\\unrestrict ${this.#restrict}`, 0);
    this.state = 'done';
    this.ended = true;
  }

  #onLine(line: DumpLine): void {
    if (line.kind === 'comment') return this.#onComment(line);
    if (this.state === 'before' || this.state === 'done') return;
    const text = () => line.bytes.toString('latin1', line.start, line.end);
    if (line.kind === 'meta') return this.#onMeta(text(), line.number);
    if (this.state === 'head') {
      if (line.startsStatement && text().startsWith('CREATE DATABASE ')) this.#createDatabase = text();
      return;
    }
    if (this.#mode === 'stream' && (line.kind === 'copy-data' || line.kind === 'copy-end')) {
      this.#keep(line);
      return;
    }
    if (line.kind === 'sql' && line.startsStatement && !line.openAfter) {
      const setting = readSetting(text());
      if (setting) {
        if (setting.name)
          this.#settings = new Map(this.#settings).set(setting.name, {
            text: setting.text,
            line: line.number,
          });
        return;
      }
      if (DROPPED.test(text())) return;
    }
    if (line.kind === 'sql' && line.start === line.end && !line.openAfter) return;
    if (this.#mode === 'stream') this.#keep(line);
    else if (this.#mode === 'buffer') this.#entry?.lines.push({ text: text(), line: line.number });
  }

  #onMeta(text: string, line: number): void {
    const { command, args } = splitMeta(text);
    if (command === 'connect' || command === 'c') this.state = 'body';
    else if (command === 'restrict' && this.#restrict === undefined && this.state === 'body') {
      this.#restrict = args;
      this.#emit(text, line);
    }
  }

  #onComment(line: DumpLine): void {
    const text = line.bytes.toString('latin1', line.start, line.end);
    if (text === CLUSTER_TRAILER) return this.sectionEnd();
    const header = parseTocHeader(text);
    if (!header) return;
    if (header.type === 'TABLE' && this.lexer.section !== undefined)
      this.#tables.push({ database: this.lexer.section, schema: header.schema, table: header.name });
    if (this.state !== 'body') return;
    this.#finishEntry();
    this.#startEntry(header, line.number);
  }

  #startEntry(header: TocHeader, line: number): void {
    const { schema, table } = this.#want;
    const ours = header.schema === schema && header.name === table;
    this.#entry = { index: this.#index++, header, line, lines: [], settings: this.#settings };
    if (header.type === 'TABLE DATA' && ours && this.found) {
      this.#startData();
      this.#mode = 'stream';
      this.#sendSettings(this.#entry.settings);
      this.restored.push(showEntry(header));
      return;
    }
    if (header.type === 'ACL' && ours)
      this.#closure.leftOut.push({
        type: 'ACL',
        name: header.name,
        why: 'grants name roles, which are cluster-wide: privileges are not restored',
      });
    this.#mode = SKIPPED_TYPES.has(header.type) ? 'skip' : 'buffer';
  }

  #finishEntry(): void {
    const entry = this.#entry;
    this.#entry = undefined;
    if (!entry || this.#mode !== 'buffer') return;
    this.#closure.add(entry);
    if (entry.header.type === 'TABLE' && this.#closure.attaches(entry)) {
      this.found = true;
      if (/\)\s*PARTITION BY /.test(entry.lines.map((l) => l.text).join('\n'))) {
        this.settle.reject(
          new TableDrillUnsupportedError(
            this.#want,
            `${this.#want.schema}.${this.#want.table} is a partitioned table: its rows are in its partitions. Drill a partition with --table (each is a table of its own).`,
          ),
        );
      }
    }
    if (!this.#boundary) this.#pending.push(entry);
    else if (this.#wanted(entry)) this.#send(this.#closure.include(entry));
  }

  #wanted(entry: TocEntry): boolean {
    return this.#closure.attaches(entry) || this.#closure.followsSequence(entry);
  }

  /** The table's data begins (or its section ended without any): everything it needs goes out first. */
  #startData(): void {
    if (this.#boundary) return;
    this.#boundary = true;
    const pending = this.#pending;
    this.#pending = [];
    const roots = pending.filter((e) => this.#closure.attaches(e));
    for (const root of roots) this.#closure.include(root);
    for (const e of pending) if (this.#closure.followsSequence(e)) this.#closure.include(e);
    this.#send([...this.#closure.included].sort((a, b) => a.index - b.index));
    this.settle.resolve({
      createDatabase: this.#createDatabase,
      included: this.restored.slice(),
      leftOut: this.#closure.leftOut,
    });
  }

  #send(entries: TocEntry[]): void {
    for (const entry of entries) {
      const shown = showEntry(entry.header);
      if (this.restored.includes(shown)) continue;
      this.restored.push(shown);
      this.#sendSettings(
        (entry as TocEntry & { settings?: Map<string, { text: string; line: number }> }).settings,
      );
      for (const l of entry.lines) this.#emit(l.text, l.line);
    }
  }

  #sendSettings(settings: Map<string, { text: string; line: number }> | undefined): void {
    for (const [name, setting] of settings ?? []) {
      if (this.#sent.get(name) === setting.text) continue;
      this.#sent.set(name, setting.text);
      this.#emit(setting.text, setting.line);
    }
  }

  #emit(text: string, dumpLine: number): void {
    this.#flushRun();
    this.#mapLine(dumpLine);
    this.out.push(Buffer.from(`${text}\n`, 'latin1'));
  }

  /** A line of the table's data, byte for byte: runs of lines within one chunk go out as one slice. */
  #keep(line: DumpLine): void {
    this.#mapLine(line.number);
    if (line.end >= line.bytes.length) {
      this.#emitBytes(Buffer.concat([line.bytes.subarray(line.start, line.end), Buffer.from('\n')]));
      return;
    }
    const run = this.#run;
    if (run && run.bytes === line.bytes && run.end === line.start) run.end = line.end + 1;
    else {
      this.#flushRun();
      this.#run = { bytes: line.bytes, start: line.start, end: line.end + 1 };
    }
  }

  #emitBytes(bytes: Buffer): void {
    this.#flushRun();
    this.out.push(bytes);
  }

  #flushRun(): void {
    if (this.#run) this.out.push(this.#run.bytes.subarray(this.#run.start, this.#run.end));
    this.#run = undefined;
  }

  #mapLine(dumpLine: number): void {
    this.#outLines++;
    const last = this.#runs[this.#runs.length - 1];
    if (!last || last.dump + (this.#outLines - last.out) !== dumpLine)
      this.#runs.push({ out: this.#outLines, dump: dumpLine });
  }
}
