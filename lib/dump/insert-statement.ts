/**
 * pg_dump's INSERT-format data (`--inserts`, `--column-inserts`, `--rows-per-insert=N`) decoded back to
 * the COPY text lines the same rows give, so that they digest like COPY data (row-digest.ts) and compare
 * with `COPY … TO STDOUT` of the restored table.
 *
 * What pg_dump writes (dumpTableData_insert, PostgreSQL 12 through 18): `INSERT INTO <qualified table>`,
 * then `(<columns>) ` with --column-inserts, `OVERRIDING SYSTEM VALUE ` for identity columns that need
 * it, `VALUES`, and the rows: ` (…);` one per statement, or with --rows-per-insert `\n\t(…),\n\t(…);`.
 * A zero-column table gets `DEFAULT VALUES;`, and --on-conflict-do-nothing ends with
 * ` ON CONFLICT DO NOTHING;`. Each value is one of: `NULL`; `DEFAULT` (a generated column); an
 * unquoted number (integer, float and numeric types whose text is only digits, signs, `e` and `.`);
 * `'NaN'`-style quoted numbers; `B'0101'` (bit types); `true`/`false`; or a string literal of the
 * column's text output, written as the session's standard_conforming_strings dictates.
 */

/** One INSERT statement decoded. */
import { DrillError } from '../errors.ts';

export type DecodedInsert =
  | {
      ok: true;
      /** As written (`public.t`, `"public"."t"`). */
      table: string;
      /**
       * The column list as written without its parentheses and without generated columns (whose values
       * are DEFAULT); empty without --column-inserts (COPY TO without a column list leaves generated
       * columns out just the same).
       */
      columns: string;
      /** Each row as the COPY text line `COPY … TO STDOUT` writes for it (no newline). */
      rows: Buffer[];
    }
  | { ok: false; table: string | undefined; reason: string };

const SPACE = 32;
const TAB = 9;
const NL = 10;
const CR = 13;
const QUOTE = 39;
const DQUOTE = 34;
const BACKSLASH = 92;
const COMMA = 44;
const OPEN = 40;
const CLOSE = 41;
const SEMI = 59;
const DOT = 46;

/** A growable byte buffer for one row. */
class Bytes {
  buf = Buffer.allocUnsafe(256);
  length = 0;
  push(byte: number): void {
    if (this.length === this.buf.length) {
      const bigger = Buffer.allocUnsafe(this.buf.length * 2);
      this.buf.copy(bigger, 0, 0, this.length);
      this.buf = bigger;
    }
    this.buf[this.length++] = byte;
  }
  /** A value's byte, escaped as COPY's text format writes it. */
  pushCopy(byte: number): void {
    if (byte === BACKSLASH) {
      this.push(BACKSLASH);
      this.push(BACKSLASH);
    } else if (byte < 0x20 && COPY_ESCAPES[byte] !== undefined) {
      this.push(BACKSLASH);
      this.push(COPY_ESCAPES[byte] as number);
    } else this.push(byte);
  }
  pushUtf8(code: number): void {
    for (const byte of Buffer.from(String.fromCodePoint(code), 'utf8')) this.pushCopy(byte);
  }
  take(): Buffer {
    const out = Buffer.from(this.buf.subarray(0, this.length));
    this.length = 0;
    return out;
  }
}

/** The control characters COPY text writes as backslash escapes (\b \f \n \r \t \v). */
const COPY_ESCAPES: (number | undefined)[] = [];
COPY_ESCAPES[8] = 98;
COPY_ESCAPES[12] = 102;
COPY_ESCAPES[NL] = 110;
COPY_ESCAPES[CR] = 114;
COPY_ESCAPES[TAB] = 116;
COPY_ESCAPES[11] = 118;

/** The escapes of an E'' string (and of a plain one with standard_conforming_strings off). */
const STRING_ESCAPES: Record<number, number> = { 98: 8, 102: 12, 110: NL, 114: CR, 116: TAB };

const isSpace = (b: number | undefined) => b === SPACE || b === NL || b === TAB || b === CR;
const isDigit = (b: number | undefined) => b !== undefined && b >= 48 && b <= 57;
const isHex = (b: number | undefined) =>
  b !== undefined && ((b >= 48 && b <= 57) || (b >= 65 && b <= 70) || (b >= 97 && b <= 102));
/** The bytes pg_dump leaves a number unquoted with: `0123456789 +-eE.` (no value has a space). */
const isNumberByte = (b: number | undefined) =>
  isDigit(b) || b === 43 || b === 45 || b === 101 || b === 69 || b === DOT;

/** A statement not in pg_dump's INSERT form; caught below and returned as `ok: false`. */
class Malformed extends DrillError {
  static override readonly code = 'DRILL_INSERT_MALFORMED';
}

/**
 * Decodes one INSERT statement as pg_dump writes it (`bytes` from its `INSERT` up to and including its
 * `;`, any trailing whitespace allowed). `standardStrings`: the dump's `SET standard_conforming_strings`.
 */
export function decodeInsert(bytes: Buffer, standardStrings = true): DecodedInsert {
  let i = 0;
  let table: string | undefined;
  const at = (what: string) => `${what} at byte ${i} of the statement`;
  const expect = (word: string) => {
    if (bytes.toString('latin1', i, i + word.length) !== word) throw new Malformed(at(`expected ${word}`));
    i += word.length;
  };
  const skipSpace = () => {
    while (isSpace(bytes[i])) i++;
  };
  /** An identifier, bare or double-quoted, as written. */
  const identifier = (): string => {
    const start = i;
    if (bytes[i] === DQUOTE) {
      for (i++; i < bytes.length; i++) {
        if (bytes[i] === DQUOTE) {
          if (bytes[i + 1] === DQUOTE) i++;
          else break;
        }
      }
      if (bytes[i] !== DQUOTE) throw new Malformed(at('unterminated quoted identifier'));
      i++;
    } else {
      while (
        i < bytes.length &&
        !isSpace(bytes[i]) &&
        ![DOT, OPEN, CLOSE, COMMA, SEMI, DQUOTE].includes(bytes[i] as number)
      )
        i++;
    }
    if (i === start) throw new Malformed(at('expected a name'));
    return bytes.toString('utf8', start, i);
  };

  try {
    expect('INSERT INTO ');
    const tableStart = i;
    identifier();
    while (bytes[i] === DOT) {
      i++;
      identifier();
    }
    table = bytes.toString('utf8', tableStart, i);
    skipSpace();
    if (bytes.toString('latin1', i, i + 14) === 'DEFAULT VALUES') {
      i += 14;
      end();
      // A zero-column table: COPY writes an empty line per row.
      return { ok: true, table, columns: '', rows: [Buffer.alloc(0)] };
    }
    let names: string[] | undefined;
    if (bytes[i] === OPEN) {
      i++;
      names = [];
      for (;;) {
        skipSpace();
        names.push(identifier());
        skipSpace();
        if (bytes[i] === COMMA) i++;
        else if (bytes[i] === CLOSE) {
          i++;
          break;
        } else throw new Malformed(at('expected , or ) in the column list'));
      }
      skipSpace();
    }
    if (bytes.toString('latin1', i, i + 24) === 'OVERRIDING SYSTEM VALUE ') i += 24;
    expect('VALUES');
    const rows: Buffer[] = [];
    const row = new Bytes();
    let generated: boolean[] | undefined;
    for (;;) {
      skipSpace();
      if (bytes[i] !== OPEN) throw new Malformed(at('expected ( to open a row'));
      i++;
      const isGenerated: boolean[] = [];
      let written = 0;
      for (;;) {
        skipSpace();
        if (bytes[i] === CLOSE && isGenerated.length === 0) throw new Malformed(at('empty row'));
        const before = row.length;
        const kind = value(row, written > 0);
        isGenerated.push(kind === 'default');
        if (kind === 'default') row.length = before;
        else written++;
        skipSpace();
        if (bytes[i] === COMMA) i++;
        else if (bytes[i] === CLOSE) {
          i++;
          break;
        } else throw new Malformed(at('expected , or ) after a value'));
      }
      if (generated === undefined) generated = isGenerated;
      else if (generated.length !== isGenerated.length || generated.some((g, k) => g !== isGenerated[k]))
        throw new Malformed(at('rows of different shapes'));
      if (names !== undefined && names.length !== isGenerated.length)
        throw new Malformed(at(`${isGenerated.length} values for ${names.length} columns`));
      rows.push(row.take());
      skipSpace();
      if (bytes[i] === COMMA) {
        i++;
        continue;
      }
      break;
    }
    if (bytes.toString('latin1', i, i + 23) === 'ON CONFLICT DO NOTHING;') i += 22;
    end();
    const kept = names?.filter((_, k) => !generated?.[k]) ?? [];
    return { ok: true, table, columns: kept.join(', '), rows };
  } catch (error) {
    if (!(error instanceof Malformed)) throw error;
    return { ok: false, table, reason: `not an INSERT as pg_dump writes it: ${error.message}` };
  }

  /** The closing `;` and nothing after it but whitespace. */
  function end(): void {
    if (bytes[i] !== SEMI) throw new Malformed(at('expected ;'));
    i++;
    skipSpace();
    if (i < bytes.length) throw new Malformed(at('text after the ;'));
  }

  /** Appends one value's COPY text (after a tab unless it is the row's first). */
  function value(row: Bytes, tab: boolean): 'value' | 'default' {
    const b = bytes[i];
    const word = (w: string) =>
      bytes.toString('latin1', i, i + w.length) === w && !isWordByte(bytes[i + w.length]);
    if (b === undefined) throw new Malformed(at('statement ended inside a row'));
    if (word('DEFAULT')) {
      i += 7;
      return 'default';
    }
    if (tab) row.push(TAB);
    if (word('NULL')) {
      i += 4;
      row.push(BACKSLASH);
      row.push(78);
    } else if (word('true')) {
      i += 4;
      row.push(116);
    } else if (word('false')) {
      i += 5;
      row.push(102);
    } else if (b === QUOTE) {
      string(row, !standardStrings);
    } else if ((b === 69 || b === 101) && bytes[i + 1] === QUOTE) {
      i++;
      string(row, true);
    } else if ((b === 66 || b === 98) && bytes[i + 1] === QUOTE) {
      // B'0101': bits are only 0 and 1, written as they are.
      i++;
      string(row, false);
    } else if (isNumberByte(b)) {
      while (isNumberByte(bytes[i])) row.push(bytes[i++] as number);
    } else
      throw new Malformed(at(`unexpected value starting with ${JSON.stringify(String.fromCharCode(b))}`));
    return 'value';
  }

  /** A quoted literal at `i` (its opening quote), decoded and escaped for COPY into `row`. */
  function string(row: Bytes, escapes: boolean): void {
    i++;
    for (;;) {
      const c = bytes[i];
      if (c === undefined) throw new Malformed(at('unterminated string'));
      if (c === QUOTE) {
        if (bytes[i + 1] === QUOTE) {
          row.push(QUOTE);
          i += 2;
          continue;
        }
        i++;
        return;
      }
      if (c === BACKSLASH && escapes) {
        backslashEscape(row);
        continue;
      }
      row.pushCopy(c);
      i++;
    }
  }

  /** A backslash escape of an E'' string at `i`. */
  function backslashEscape(row: Bytes): void {
    const c = bytes[i + 1];
    if (c === undefined) throw new Malformed(at('unterminated string'));
    const simple = STRING_ESCAPES[c];
    if (simple !== undefined) {
      row.pushCopy(simple);
      i += 2;
    } else if (c >= 48 && c <= 55) {
      let j = i + 1;
      let code = 0;
      while (j < i + 4 && (bytes[j] as number) >= 48 && (bytes[j] as number) <= 55)
        code = code * 8 + (bytes[j++] as number) - 48;
      row.pushCopy(code & 0xff);
      i = j;
    } else if (c === 120 && isHex(bytes[i + 2])) {
      let j = i + 2;
      const start = j;
      while (j < start + 2 && isHex(bytes[j])) j++;
      row.pushCopy(Number.parseInt(bytes.toString('latin1', start, j), 16));
      i = j;
    } else if (c === 117 || c === 85) {
      const n = c === 117 ? 4 : 8;
      const hex = bytes.toString('latin1', i + 2, i + 2 + n);
      if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== n) throw new Malformed(at('bad unicode escape'));
      row.pushUtf8(Number.parseInt(hex, 16));
      i += 2 + n;
    } else {
      row.pushCopy(c);
      i += 2;
    }
  }
}

function isWordByte(b: number | undefined): boolean {
  return (
    b !== undefined && ((b >= 97 && b <= 122) || (b >= 65 && b <= 90) || isDigit(b) || b === 95 || b >= 128)
  );
}

/** Does this line start an INSERT statement as pg_dump writes it? */
export function startsInsert(bytes: Buffer, start: number): boolean {
  return bytes.toString('latin1', start, start + 12) === 'INSERT INTO ';
}
