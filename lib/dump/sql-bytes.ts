/** Byte-level pieces of SQL lexing: every byte that matters to the structure of a dump is ASCII. */

export const NL = 10;
export const BACKSLASH = 92;
export const DASH = 45;
export const QUOTE = 39;
export const DQUOTE = 34;
export const DOLLAR = 36;
export const SEMICOLON = 59;
export const SLASH = 47;
export const STAR = 42;

/** Letters, digits, `_`, `$` and every byte of a multi-byte character: what continues an identifier. */
export function identByte(b: number | undefined): boolean {
  if (b === undefined) return false;
  return (
    (b >= 97 && b <= 122) || (b >= 65 && b <= 90) || (b >= 48 && b <= 57) || b === 95 || b === 36 || b >= 128
  );
}

export function blank(b: number | undefined): boolean {
  return b === 32 || b === 9 || b === 13 || b === 12;
}

/** The end (exclusive) of a dollar-quote opener `$tag$` at `i`, or 0: `$1` and `a$b` are no quotes. */
export function dollarTagEnd(b: Buffer, i: number, end: number): number {
  let j = i + 1;
  const first = b[j];
  if (first !== undefined && first >= 48 && first <= 57) return 0;
  while (j < end && b[j] !== DOLLAR && identByte(b[j])) j++;
  return j < end && b[j] === DOLLAR ? j + 1 : 0;
}
