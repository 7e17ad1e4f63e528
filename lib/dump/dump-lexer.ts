import { parseBanner, parseConnect, splitMeta } from './psql-meta.ts';
import {
  BACKSLASH,
  blank,
  DASH,
  DOLLAR,
  DQUOTE,
  dollarTagEnd,
  identByte,
  NL,
  QUOTE,
  SEMICOLON,
  SLASH,
  STAR,
} from './sql-bytes.ts';

/**
 * What a line of a plain dump is, judged by where it starts:
 * - `sql`: SQL outside any string (also blank lines between statements),
 * - `comment`: a `--` line between statements (pg_dump's banners and headers),
 * - `meta`: a psql backslash command (`\connect`, `\restrict`, `\encoding`, …),
 * - `copy-data` / `copy-end`: a row of a `COPY … FROM stdin;` block / its closing `\.`,
 * - `string`: inside a single-quoted literal or quoted identifier that spans lines,
 * - `dollar`: inside a dollar-quoted body (`$$`, `$tag$`),
 * - `block-comment`: inside a `/* … *\/` comment.
 */
export type LineKind =
  | 'sql'
  | 'comment'
  | 'meta'
  | 'copy-data'
  | 'copy-end'
  | 'string'
  | 'dollar'
  | 'block-comment';

/**
 * One line, handed to the hook while it is current. The object is reused for the next line (a 1 GB
 * dump has tens of millions of lines): copy what you keep. `bytes[start, end)` is the line without its
 * newline; `end` is the index of the newline, or the buffer's end for a last line without one.
 */
export interface DumpLine {
  kind: LineKind;
  /** 1-based line number in the dump. */
  number: number;
  bytes: Buffer;
  start: number;
  end: number;
  /** The line begins a statement (its first character outside a comment is the statement's first). */
  startsStatement: boolean;
  /** A statement is still open at the end of the line (it goes on in the next line). */
  openAfter: boolean;
}

export interface DumpLexerHooks {
  /** Every line, in order. */
  line?(line: DumpLine): void;
  /** A pg_dumpall section banner `-- Database "NAME" dump`. */
  section?(name: string, line: number): void;
  /** A `\connect` switched the current database (undefined: kept it). */
  connect?(database: string | undefined, line: number): void;
  /** A `COPY … FROM stdin;` statement ended: the data lines follow. `statement` is its text. */
  copy?(statement: string, line: number): void;
  /** After each chunk: a consumer that batches output flushes here. */
  chunkDone?(): void;
}

export interface DumpLexer {
  /** Feeds the next bytes; lines may span chunks (a multi-byte character too). */
  write(chunk: Buffer): void;
  /** The input ended: handles a last line without a newline. */
  end(): void;
  /** Lines read so far. */
  readonly lines: number;
  /** The database the last `\connect` switched to (undefined before any). */
  readonly database: string | undefined;
  /** The banner name of the pg_dumpall section being read (undefined in the globals part). */
  readonly section: string | undefined;
  /** Where the lexer is between lines: `sql`, `copy`, `string`, `dollar`, `block-comment`. */
  readonly mode: Mode;
}

/** Where the lexer stands between lines. */
export type Mode = 'sql' | 'copy' | 'squote' | 'dquote' | 'dollar' | 'block-comment';

const KIND_OF_MODE: Record<Mode, LineKind> = {
  sql: 'sql',
  copy: 'copy-data',
  squote: 'string',
  dquote: 'string',
  dollar: 'dollar',
  'block-comment': 'block-comment',
};

/**
 * A streaming structure tracker for plain pg_dump / pg_dumpall output. It splits on the newline byte
 * (never part of a multi-byte UTF-8 character), so lines are bytes exactly as read, and decodes only
 * the few lines whose text matters (meta-commands, banners, COPY statements). Inside a COPY block the
 * only test is whether the line is `\.`, so data streams at close to memory speed.
 */
export function createDumpLexer(hooks: DumpLexerHooks): DumpLexer {
  let mode: Mode = 'sql';
  let inStatement = false;
  // The statement being read began with COPY: its text is collected up to the `;`.
  let copyText: string | undefined;
  let escapes = false;
  let standardStrings = true;
  let dollarTag: Buffer = Buffer.alloc(0);
  let commentDepth = 0;
  let lineNumber = 0;
  let database: string | undefined;
  let section: string | undefined;
  // The start of a line whose newline has not arrived yet, in the chunks it came in.
  let pending: Buffer[] = [];
  const current: DumpLine = {
    kind: 'sql',
    number: 0,
    bytes: Buffer.alloc(0),
    start: 0,
    end: 0,
    startsStatement: false,
    openAfter: false,
  };

  /** Scans SQL text from `i` to `end` in the current mode; returns true when a statement began here. */
  function scan(b: Buffer, i: number, end: number): boolean {
    let began = false;
    // Where this line's part of a COPY statement's text begins.
    let from = i;
    while (i < end) {
      const c = b[i];
      if (mode === 'sql') {
        if (blank(c)) {
          i++;
          continue;
        }
        if (c === DASH && b[i + 1] === DASH) break;
        if (c === SLASH && b[i + 1] === STAR) {
          mode = 'block-comment';
          commentDepth = 1;
          i += 2;
          continue;
        }
        if (!inStatement) {
          inStatement = true;
          began = true;
          copyText = undefined;
          if ((c === 67 || c === 99) && b.toString('latin1', i, i + 5).toUpperCase() === 'COPY ') {
            copyText = '';
            from = i;
          }
        }
        if (c === QUOTE) {
          const p = b[i - 1];
          escapes = !standardStrings || ((p === 69 || p === 101) && !identByte(b[i - 2]));
          mode = 'squote';
        } else if (c === DQUOTE) {
          mode = 'dquote';
        } else if (c === DOLLAR && !identByte(b[i - 1])) {
          const tagEnd = dollarTagEnd(b, i, end);
          if (tagEnd > 0) {
            dollarTag = Buffer.from(b.subarray(i, tagEnd));
            mode = 'dollar';
            i = tagEnd;
            continue;
          }
        } else if (c === SEMICOLON) {
          inStatement = false;
          if (copyText !== undefined) {
            const text = copyText + b.toString('utf8', from, i + 1);
            copyText = undefined;
            if (/\sFROM\s+stdin\s*;$/i.test(text)) {
              mode = 'copy';
              hooks.copy?.(text, lineNumber);
              return began;
            }
          }
        }
        i++;
      } else if (mode === 'squote' || mode === 'dquote') {
        const q = mode === 'squote' ? QUOTE : DQUOTE;
        if (c === BACKSLASH && escapes && q === QUOTE) i += 2;
        else if (c === q && i + 1 < end && b[i + 1] === q) i += 2;
        else {
          if (c === q) mode = 'sql';
          i++;
        }
      } else if (mode === 'dollar') {
        const n = dollarTag.length;
        if (c === DOLLAR && end - i >= n && b.compare(dollarTag, 0, n, i, i + n) === 0) {
          mode = 'sql';
          i += n;
        } else i++;
      } else if (c === STAR && b[i + 1] === SLASH) {
        i += 2;
        if (--commentDepth === 0) mode = 'sql';
      } else if (c === SLASH && b[i + 1] === STAR) {
        i += 2;
        commentDepth++;
      } else i++;
    }
    // A COPY statement that goes on in the next line keeps its text so far.
    if (copyText !== undefined) copyText += `${b.toString('utf8', from, end)}\n`;
    return began;
  }

  function meta(b: Buffer, start: number, end: number): void {
    const { command, args } = splitMeta(b.toString('utf8', start, end));
    if (command === 'connect' || command === 'c') {
      const target = parseConnect(args);
      if (target !== undefined) database = target;
      hooks.connect?.(target, lineNumber);
    }
  }

  function handle(b: Buffer, start: number, end: number): void {
    lineNumber++;
    const line = current;
    line.number = lineNumber;
    line.bytes = b;
    line.start = start;
    line.end = end;
    line.startsStatement = false;
    if (mode === 'copy') {
      const length = end - start;
      if (
        b[start] === BACKSLASH &&
        b[start + 1] === 46 &&
        (length === 2 || (length === 3 && b[start + 2] === 13))
      ) {
        mode = 'sql';
        line.kind = 'copy-end';
      } else line.kind = 'copy-data';
      line.openAfter = false;
      hooks.line?.(line);
      return;
    }
    const first = b[start];
    if (mode === 'sql' && first === BACKSLASH && end > start) {
      line.kind = 'meta';
      line.openAfter = inStatement;
      meta(b, start, end);
    } else if (mode === 'sql' && !inStatement && first === DASH && b[start + 1] === DASH) {
      line.kind = 'comment';
      line.openAfter = false;
      if (b[start + 3] === 68 && hooks.section) {
        const name = parseBanner(b.toString('utf8', start, end));
        if (name !== undefined) {
          section = name;
          hooks.section(name, lineNumber);
        }
      }
    } else {
      line.kind = KIND_OF_MODE[mode];
      const wasOpen = inStatement;
      if (!inStatement && mode === 'sql' && first === 83) settings(b, start, end);
      line.startsStatement = scan(b, start, end) && !wasOpen;
      // scan() may have moved on to COPY data, which TypeScript's narrowing of `mode` cannot see.
      const after = mode as Mode;
      line.openAfter = inStatement || (after !== 'sql' && after !== 'copy');
    }
    hooks.line?.(line);
  }

  /** `SET standard_conforming_strings = off;` turns backslashes in plain literals into escapes. */
  function settings(b: Buffer, start: number, end: number): void {
    if (end - start > 60 || b.toString('latin1', start, start + 33) !== 'SET standard_conforming_strings =')
      return;
    standardStrings = !/=\s*'?off'?\s*;/.test(b.toString('latin1', start, end));
  }

  return {
    write(chunk: Buffer) {
      let start = 0;
      if (pending.length > 0) {
        const nl = chunk.indexOf(NL);
        if (nl < 0) {
          // A line longer than a chunk: its pieces are joined once, when its newline arrives.
          pending.push(chunk);
          hooks.chunkDone?.();
          return;
        }
        const joined = Buffer.concat([...pending, chunk.subarray(0, nl + 1)]);
        pending = [];
        handle(joined, 0, joined.length - 1);
        start = nl + 1;
      }
      for (let end = chunk.indexOf(NL, start); end >= 0; end = chunk.indexOf(NL, start)) {
        handle(chunk, start, end);
        start = end + 1;
      }
      if (start < chunk.length) pending = [chunk.subarray(start)];
      hooks.chunkDone?.();
    },
    end() {
      if (pending.length > 0) {
        const last = Buffer.concat(pending);
        pending = [];
        handle(last, 0, last.length);
        hooks.chunkDone?.();
      }
    },
    get lines() {
      return lineNumber;
    },
    get database() {
      return database;
    },
    get section() {
      return section;
    },
    get mode() {
      return mode;
    },
  };
}
