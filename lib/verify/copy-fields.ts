/**
 * Fields of a COPY text line, read straight from its bytes: a field is the bytes between tabs (a tab
 * inside a value is written `\t`, so a raw tab always separates), NULL is `\N`.
 */

const TAB = 9;
const BACKSLASH = 92;
const N = 78;
const MINUS = 45;
const ZERO = 48;
/** Up to 15 digits always fit a double exactly (2^53 has 16). */
const MAX_EXACT_DIGITS = 15;

/**
 * Finds the fields `wanted` (ascending field numbers, 0-based) of the line `bytes[start, end)`; writes
 * field wanted[i]'s bounds to out[2i], out[2i+1]. False when the line has fewer fields.
 */
export function fieldsAt(
  bytes: Uint8Array,
  start: number,
  end: number,
  wanted: readonly number[],
  out: Int32Array,
): boolean {
  let field = 0;
  let from = start;
  let w = 0;
  let next = wanted[0] as number;
  for (let at = start; at <= end; at++) {
    if (at < end && bytes[at] !== TAB) continue;
    if (field === next) {
      out[2 * w] = from;
      out[2 * w + 1] = at;
      if (++w === wanted.length) return true;
      next = wanted[w] as number;
    }
    field++;
    from = at + 1;
  }
  return false;
}

/** The field `bytes[start, end)` is `\N` (NULL). */
export function isNull(bytes: Uint8Array, start: number, end: number): boolean {
  return end - start === 2 && bytes[start] === BACKSLASH && bytes[start + 1] === N;
}

/**
 * An integer field as a number when it is one of at most 15 digits (with an optional minus): exact,
 * and equal for equal integers. NaN otherwise (a key beyond that is kept as its text, see keyText).
 */
export function parseInteger(bytes: Uint8Array, start: number, end: number): number {
  let at = start;
  const negative = bytes[at] === MINUS;
  if (negative) at++;
  const digits = end - at;
  if (digits < 1 || digits > MAX_EXACT_DIGITS) return Number.NaN;
  let value = 0;
  for (; at < end; at++) {
    const d = (bytes[at] as number) - ZERO;
    if (d < 0 || d > 9) return Number.NaN;
    value = value * 10 + d;
  }
  return negative ? -value : value;
}

/** A field's bytes as a string, one character per byte (equal bytes, equal strings). */
export function keyText(bytes: Buffer, start: number, end: number): string {
  return bytes.toString('latin1', start, end);
}
