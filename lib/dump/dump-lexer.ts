import { Writable } from 'node:stream';
import { type DumpLexer, type DumpLexerHooks, type DumpLine, KIND_OF_MODE, type Mode } from './dump-line.ts';
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

export type { DumpLexer, DumpLexerHooks, DumpLine, LineKind, Mode } from './dump-line.ts';

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

/** A sink that feeds every chunk to the lexer (and ends it): a pipeline's last stage for a dump read only to be lexed. */
export function lexerSink(lexer: { write(chunk: Buffer): void; end(): void }): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      try {
        lexer.write(chunk);
        done();
      } catch (error) {
        done(error as Error);
      }
    },
    final(done) {
      lexer.end();
      done();
    },
  });
}
