/**
 * MurmurHash3 x86_128 (Austin Appleby, public domain), on 32-bit lanes so that V8 runs it with Math.imul
 * and small integers only: no BigInt, no allocation per call. Every COPY data line of a dump is hashed,
 * so this is the hot loop of a dump scan. Why not node:crypto: a createHash (or crypto.hash) call per
 * line costs about 2 µs whatever the line's length, some 30 MB/s of 73-byte rows; this runs at 10-20
 * times that on the same machine (and zlib.crc32 gives only 32 bits). Checked against SMHasher's
 * verification value in line-hash.test.ts.
 */

const C1 = 0x239b961b;
const C2 = 0xab0e9789;
const C3 = 0x38b34ae5;
const C4 = 0xa1e38b93;

/** The last array hashed and a DataView on it: one view per chunk, not one per line. */
let viewed: Uint8Array | undefined;
let view: DataView | undefined;

/**
 * A DataView on `bytes`, for little-endian 32-bit reads at any offset (a line starts anywhere in its
 * chunk). V8 compiles `getInt32(i, true)` to one load, where assembling a word from four byte reads
 * costs four bounds checks and three shifts: the block loop runs about twice as fast (line-hash.test.ts
 * holds both to SMHasher's value).
 */
function viewOf(bytes: Uint8Array): DataView {
  if (bytes !== viewed || view === undefined) {
    viewed = bytes;
    view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  return view;
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * Hashes `bytes[start, end)` into `out` (four uint32, the 128-bit result in little-endian word order).
 * Reads bytes in place, so a line is hashed straight from the chunk it arrived in.
 */
export function murmur3x128(
  bytes: Uint8Array,
  start: number,
  end: number,
  seed: number,
  out: Uint32Array,
): void {
  const length = end - start;
  const words = viewOf(bytes);
  let h1 = seed >>> 0;
  let h2 = h1;
  let h3 = h1;
  let h4 = h1;
  const blocksEnd = start + (length & ~15);
  let i = start;
  for (; i < blocksEnd; i += 16) {
    let k1 = words.getInt32(i, true);
    let k2 = words.getInt32(i + 4, true);
    let k3 = words.getInt32(i + 8, true);
    let k4 = words.getInt32(i + 12, true);

    k1 = Math.imul(k1, C1);
    k1 = (k1 << 15) | (k1 >>> 17);
    h1 ^= Math.imul(k1, C2);
    h1 = (h1 << 19) | (h1 >>> 13);
    h1 = (h1 + h2) | 0;
    h1 = (Math.imul(h1, 5) + 0x561ccd1b) | 0;

    k2 = Math.imul(k2, C2);
    k2 = (k2 << 16) | (k2 >>> 16);
    h2 ^= Math.imul(k2, C3);
    h2 = (h2 << 17) | (h2 >>> 15);
    h2 = (h2 + h3) | 0;
    h2 = (Math.imul(h2, 5) + 0x0bcaa747) | 0;

    k3 = Math.imul(k3, C3);
    k3 = (k3 << 17) | (k3 >>> 15);
    h3 ^= Math.imul(k3, C4);
    h3 = (h3 << 15) | (h3 >>> 17);
    h3 = (h3 + h4) | 0;
    h3 = (Math.imul(h3, 5) + 0x96cd1c35) | 0;

    k4 = Math.imul(k4, C4);
    k4 = (k4 << 18) | (k4 >>> 14);
    h4 ^= Math.imul(k4, C1);
    h4 = (h4 << 13) | (h4 >>> 19);
    h4 = (h4 + h1) | 0;
    h4 = (Math.imul(h4, 5) + 0x32ac3b17) | 0;
  }

  out[0] = h1;
  out[1] = h2;
  out[2] = h3;
  out[3] = h4;
  mixTail(bytes, i, length & 15, out);
  finish(length, out);
}

/** The last 1 to 15 bytes (at `i`), mixed into the lanes in `h`. */
function mixTail(bytes: Uint8Array, i: number, rest: number, h: Uint32Array): void {
  if (rest > 12) {
    let k4 = 0;
    for (let j = rest - 1; j >= 12; j--) k4 = (k4 << 8) | (bytes[i + j] as number);
    k4 = Math.imul(k4, C4);
    k4 = (k4 << 18) | (k4 >>> 14);
    h[3] = (h[3] as number) ^ Math.imul(k4, C1);
  }
  if (rest > 8) {
    let k3 = 0;
    for (let j = Math.min(rest, 12) - 1; j >= 8; j--) k3 = (k3 << 8) | (bytes[i + j] as number);
    k3 = Math.imul(k3, C3);
    k3 = (k3 << 17) | (k3 >>> 15);
    h[2] = (h[2] as number) ^ Math.imul(k3, C4);
  }
  if (rest > 4) {
    let k2 = 0;
    for (let j = Math.min(rest, 8) - 1; j >= 4; j--) k2 = (k2 << 8) | (bytes[i + j] as number);
    k2 = Math.imul(k2, C2);
    k2 = (k2 << 16) | (k2 >>> 16);
    h[1] = (h[1] as number) ^ Math.imul(k2, C3);
  }
  if (rest > 0) {
    let k1 = 0;
    for (let j = Math.min(rest, 4) - 1; j >= 0; j--) k1 = (k1 << 8) | (bytes[i + j] as number);
    k1 = Math.imul(k1, C1);
    k1 = (k1 << 15) | (k1 >>> 17);
    h[0] = (h[0] as number) ^ Math.imul(k1, C2);
  }
}

/** The length and the final avalanche, in place. */
function finish(length: number, out: Uint32Array): void {
  let h1 = (out[0] as number) ^ length;
  let h2 = (out[1] as number) ^ length;
  let h3 = (out[2] as number) ^ length;
  let h4 = (out[3] as number) ^ length;
  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0;
  h3 = (h3 + h1) | 0;
  h4 = (h4 + h1) | 0;
  h1 = fmix32(h1);
  h2 = fmix32(h2);
  h3 = fmix32(h3);
  h4 = fmix32(h4);
  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0;
  h3 = (h3 + h1) | 0;
  h4 = (h4 + h1) | 0;
  out[0] = h1;
  out[1] = h2;
  out[2] = h3;
  out[3] = h4;
}
