/** The lines the dump lexer (dump-lexer.ts) hands out, its hooks, and its modes. */

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

export const KIND_OF_MODE: Record<Mode, LineKind> = {
  sql: 'sql',
  copy: 'copy-data',
  squote: 'string',
  dquote: 'string',
  dollar: 'dollar',
  'block-comment': 'block-comment',
};
