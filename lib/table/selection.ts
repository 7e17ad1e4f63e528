import type { DumpLine } from '../dump/dump-lexer.ts';
import { createDumpLexer } from '../dump/dump-lexer.ts';
import { splitMeta } from '../dump/psql-meta.ts';
import { TableDrillUnsupportedError, TableNotInDumpError } from './errors.ts';
import { nearNames } from './near-names.ts';
import { SelectOutput } from './select-output.ts';
import { type LeftOut, TableClosure, type TocEntry } from './table-closure.ts';
import type { TableName } from './table-name.ts';
import type { TableSelection } from './table-select.ts';
import {
  CLUSTER_TRAILER,
  DROPPED,
  parseTocHeader,
  readSetting,
  SKIPPED_TYPES,
  showEntry,
  type TocHeader,
} from './toc-entry.ts';

/**
 * The table selection's state over the dump (tableSelect is its stream): which section it is in, the
 * entry being read, what the table needs (TableClosure), and when its data begins.
 */
export class Selection {
  state: 'before' | 'head' | 'body' | 'done' = 'before';
  readonly output = new SelectOutput();
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
  readonly #file: string;
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

  constructor(wanted: TableName, file: string) {
    this.#file = file;
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
      chunkDone: () => this.output.flush(),
    });
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
      this.#file,
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
    if (this.#restrict) this.output.write(`\\unrestrict ${this.#restrict}`, 0);
    this.state = 'done';
    this.ended = true;
  }

  #onLine(line: DumpLine): void {
    if (line.kind === 'comment') {
      this.#onComment(line);
      return;
    }
    if (this.state === 'before' || this.state === 'done') return;
    const text = () => line.bytes.toString('latin1', line.start, line.end);
    if (line.kind === 'meta') {
      this.#onMeta(text(), line.number);
      return;
    }
    if (this.state === 'head') {
      if (line.startsStatement && text().startsWith('CREATE DATABASE ')) this.#createDatabase = text();
      return;
    }
    if (this.#mode === 'stream' && (line.kind === 'copy-data' || line.kind === 'copy-end')) {
      this.output.keep(line);
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
    if (this.#mode === 'stream') this.output.keep(line);
    else if (this.#mode === 'buffer') this.#entry?.lines.push({ text: text(), line: line.number });
  }

  #onMeta(text: string, line: number): void {
    const { command, args } = splitMeta(text);
    if (command === 'connect' || command === 'c') this.state = 'body';
    else if (command === 'restrict' && this.#restrict === undefined && this.state === 'body') {
      this.#restrict = args;
      this.output.write(text, line);
    }
  }

  #onComment(line: DumpLine): void {
    const text = line.bytes.toString('latin1', line.start, line.end);
    if (text === CLUSTER_TRAILER) {
      this.sectionEnd();
      return;
    }
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
    if (header.type === 'ACL' && header.schema === schema && header.name === `TABLE ${table}`)
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
      for (const l of entry.lines) this.output.write(l.text, l.line);
    }
  }

  #sendSettings(settings: Map<string, { text: string; line: number }> | undefined): void {
    for (const [name, setting] of settings ?? []) {
      if (this.#sent.get(name) === setting.text) continue;
      this.#sent.set(name, setting.text);
      this.output.write(setting.text, setting.line);
    }
  }
}
