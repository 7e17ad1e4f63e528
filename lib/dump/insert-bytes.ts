/** Bytes, byte classes and the COPY row buffer of the INSERT decoder (insert-statement.ts). */

import { DrillError } from '../errors.ts';
export const SPACE = 32;
export const TAB = 9;
export const NL = 10;
export const CR = 13;
export const QUOTE = 39;
export const DQUOTE = 34;
export const BACKSLASH = 92;
export const COMMA = 44;
export const OPEN = 40;
export const CLOSE = 41;
export const SEMI = 59;
export const DOT = 46;

/** A growable byte buffer for one row. */
export class Bytes {
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
export const STRING_ESCAPES: Record<number, number> = { 98: 8, 102: 12, 110: NL, 114: CR, 116: TAB };

export const isSpace = (b: number | undefined) => b === SPACE || b === NL || b === TAB || b === CR;
export const isDigit = (b: number | undefined) => b !== undefined && b >= 48 && b <= 57;
export const isHex = (b: number | undefined) =>
  b !== undefined && ((b >= 48 && b <= 57) || (b >= 65 && b <= 70) || (b >= 97 && b <= 102));
/** The bytes pg_dump leaves a number unquoted with: `0123456789 +-eE.` (no value has a space). */
export const isNumberByte = (b: number | undefined) =>
  isDigit(b) || b === 43 || b === 45 || b === 101 || b === 69 || b === DOT;

/** The statement is not as pg_dump writes it (the message says where). */
export class Malformed extends DrillError {
  static override readonly code = 'DRILL_INSERT_MALFORMED';
}

export function isWordByte(b: number | undefined): boolean {
  return (
    b !== undefined && ((b >= 97 && b <= 122) || (b >= 65 && b <= 90) || isDigit(b) || b === 95 || b >= 128)
  );
}
