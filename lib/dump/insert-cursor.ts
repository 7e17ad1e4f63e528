import {
  BACKSLASH,
  type Bytes,
  CLOSE,
  COMMA,
  DOT,
  DQUOTE,
  isHex,
  isNumberByte,
  isSpace,
  isWordByte,
  Malformed,
  OPEN,
  QUOTE,
  SEMI,
  STRING_ESCAPES,
  TAB,
} from './insert-bytes.ts';

/** A read position in one INSERT statement, with the readers of its parts (names, values, strings). */
export class InsertCursor {
  i = 0;
  readonly bytes: Buffer;
  /** The dump's `SET standard_conforming_strings`. */
  readonly standardStrings: boolean;
  constructor(bytes: Buffer, standardStrings: boolean) {
    this.bytes = bytes;
    this.standardStrings = standardStrings;
  }

  at(what: string): string {
    return `${what} at byte ${this.i} of the statement`;
  }
  fail(what: string): never {
    throw new Malformed(this.at(what));
  }
  /** The text `word` comes next (the cursor moves past it). */
  looksAt(word: string): boolean {
    return this.bytes.toString('latin1', this.i, this.i + word.length) === word;
  }
  expect(word: string): void {
    if (!this.looksAt(word)) this.fail(`expected ${word}`);
    this.i += word.length;
  }
  skipSpace(): void {
    while (isSpace(this.bytes[this.i])) this.i++;
  }
  /** Past a `,` (true) or a closing `)` (false); anything else is malformed. */
  commaOrClose(where: string): boolean {
    const b = this.bytes[this.i];
    if (b !== COMMA && b !== CLOSE) this.fail(`expected , or ) ${where}`);
    this.i++;
    return b === COMMA;
  }

  /** An identifier, bare or double-quoted, as written. */
  identifier(): string {
    const { bytes } = this;
    const start = this.i;
    if (bytes[this.i] === DQUOTE) {
      for (this.i++; this.i < bytes.length; this.i++) {
        if (bytes[this.i] === DQUOTE) {
          if (bytes[this.i + 1] === DQUOTE) this.i++;
          else break;
        }
      }
      if (bytes[this.i] !== DQUOTE) this.fail('unterminated quoted identifier');
      this.i++;
    } else {
      while (
        this.i < bytes.length &&
        !isSpace(bytes[this.i]) &&
        ![DOT, OPEN, CLOSE, COMMA, SEMI, DQUOTE].includes(bytes[this.i] as number)
      )
        this.i++;
    }
    if (this.i === start) this.fail('expected a name');
    return bytes.toString('utf8', start, this.i);
  }

  /** The closing `;` and nothing after it but whitespace. */
  end(): void {
    if (this.bytes[this.i] !== SEMI) this.fail('expected ;');
    this.i++;
    this.skipSpace();
    if (this.i < this.bytes.length) this.fail('text after the ;');
  }

  /** A keyword value (`DEFAULT`, `NULL`, `true`, `false`) at the cursor, not the start of a longer word. */
  private word(w: string): boolean {
    return this.looksAt(w) && !isWordByte(this.bytes[this.i + w.length]);
  }

  /** Appends one value's COPY text (after a tab unless it is the row's first). */
  value(row: Bytes, tab: boolean): 'value' | 'default' {
    const { bytes } = this;
    const b = bytes[this.i];
    if (b === undefined) this.fail('statement ended inside a row');
    if (this.word('DEFAULT')) {
      this.i += 7;
      return 'default';
    }
    if (tab) row.push(TAB);
    if (this.word('NULL')) {
      this.i += 4;
      row.push(BACKSLASH);
      row.push(78);
    } else if (this.word('true')) {
      this.i += 4;
      row.push(116);
    } else if (this.word('false')) {
      this.i += 5;
      row.push(102);
    } else if (b === QUOTE) {
      this.string(row, !this.standardStrings);
    } else if ((b === 69 || b === 101) && bytes[this.i + 1] === QUOTE) {
      this.i++;
      this.string(row, true);
    } else if ((b === 66 || b === 98) && bytes[this.i + 1] === QUOTE) {
      // B'0101': bits are only 0 and 1, written as they are.
      this.i++;
      this.string(row, false);
    } else if (isNumberByte(b)) {
      while (isNumberByte(bytes[this.i])) row.push(bytes[this.i++] as number);
    } else this.fail(`unexpected value starting with ${JSON.stringify(String.fromCharCode(b))}`);
    return 'value';
  }

  /** A quoted literal at the cursor (its opening quote), decoded and escaped for COPY into `row`. */
  private string(row: Bytes, escapes: boolean): void {
    const { bytes } = this;
    this.i++;
    for (;;) {
      const c = bytes[this.i];
      if (c === undefined) this.fail('unterminated string');
      if (c === QUOTE) {
        if (bytes[this.i + 1] === QUOTE) {
          row.push(QUOTE);
          this.i += 2;
          continue;
        }
        this.i++;
        return;
      }
      if (c === BACKSLASH && escapes) {
        this.backslashEscape(row);
        continue;
      }
      row.pushCopy(c);
      this.i++;
    }
  }

  /** A backslash escape of an E'' string at the cursor. */
  private backslashEscape(row: Bytes): void {
    const { bytes, i } = this;
    const c = bytes[i + 1];
    if (c === undefined) this.fail('unterminated string');
    const simple = STRING_ESCAPES[c];
    if (simple !== undefined) {
      row.pushCopy(simple);
      this.i += 2;
    } else if (c >= 48 && c <= 55) {
      let j = i + 1;
      let code = 0;
      while (j < i + 4 && (bytes[j] as number) >= 48 && (bytes[j] as number) <= 55)
        code = code * 8 + (bytes[j++] as number) - 48;
      row.pushCopy(code & 0xff);
      this.i = j;
    } else if (c === 120 && isHex(bytes[i + 2])) {
      let j = i + 2;
      while (j < i + 4 && isHex(bytes[j])) j++;
      row.pushCopy(Number.parseInt(bytes.toString('latin1', i + 2, j), 16));
      this.i = j;
    } else if (c === 117 || c === 85) {
      const n = c === 117 ? 4 : 8;
      const hex = bytes.toString('latin1', i + 2, i + 2 + n);
      if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== n) this.fail('bad unicode escape');
      row.pushUtf8(Number.parseInt(hex, 16));
      this.i += 2 + n;
    } else {
      row.pushCopy(c);
      this.i += 2;
    }
  }
}
