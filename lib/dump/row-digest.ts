import { murmur3x128 } from './line-hash.ts';

/**
 * An order-independent digest of a multiset of COPY text lines: the row count and the sum modulo
 * 2^64 of each line's 64-bit hash. Rows may come back from a restored table in any order; the same
 * rows always give the same digest, and a changed, missing or extra row changes it (unless a sum of
 * 64-bit hashes happens to cancel: about 2^-64 per difference).
 */
export interface RowDigest {
  rows: number;
  /** Low 32 bits of the sum, kept below 2^32. */
  lo: number;
  /** High 32 bits of the sum, unsigned. */
  hi: number;
}

const TWO_32 = 4294967296;
const SEED = 0;
const hashOut = new Uint32Array(4);

export function emptyDigest(): RowDigest {
  return { rows: 0, lo: 0, hi: 0 };
}

/** Adds the line `bytes[start, end)` (without its newline) to the digest. */
export function addRow(digest: RowDigest, bytes: Uint8Array, start: number, end: number): void {
  murmur3x128(bytes, start, end, SEED, hashOut);
  digest.rows++;
  let lo = digest.lo + (hashOut[0] as number);
  let carry = 0;
  if (lo >= TWO_32) {
    lo -= TWO_32;
    carry = 1;
  }
  digest.lo = lo;
  digest.hi = (digest.hi + (hashOut[1] as number) + carry) >>> 0;
}

/** The 64-bit sum as 16 hex digits, for reports and comparisons. */
export function digestHex(digest: RowDigest): string {
  return digest.hi.toString(16).padStart(8, '0') + digest.lo.toString(16).padStart(8, '0');
}

/** Adds digest `part` into `into`: the digest of both multisets of rows together (a table read in parts). */
export function mergeDigest(into: RowDigest, part: RowDigest): void {
  into.rows += part.rows;
  let lo = into.lo + part.lo;
  let carry = 0;
  if (lo >= TWO_32) {
    lo -= TWO_32;
    carry = 1;
  }
  into.lo = lo;
  into.hi = (into.hi + part.hi + carry) >>> 0;
}
