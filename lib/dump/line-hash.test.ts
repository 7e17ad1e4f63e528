import { describe, expect, it } from 'vitest';
import { murmur3x128 } from './line-hash.ts';
import { addRow, digestHex, emptyDigest } from './row-digest.ts';

describe('murmur3x128', () => {
  it("passes SMHasher's verification test for MurmurHash3_x86_128 (0xB3ECE62A)", () => {
    // Hash {}, {0}, {0,1}, … {0..254} with seed 256 - length, then hash the 256 results with seed 0.
    const key = Uint8Array.from({ length: 256 }, (_, i) => i);
    const hashes = new Uint8Array(16 * 256);
    const out = new Uint32Array(4);
    for (let i = 0; i < 256; i++) {
      murmur3x128(key, 0, i, 256 - i, out);
      out.forEach((word, w) => {
        for (let b = 0; b < 4; b++) hashes[i * 16 + w * 4 + b] = (word >>> (8 * b)) & 0xff;
      });
    }
    murmur3x128(hashes, 0, hashes.length, 0, out);
    expect(out[0]?.toString(16)).toBe('b3ece62a');
  });

  it('hashes a range in place, wherever it sits in the buffer', () => {
    const a = new Uint32Array(4);
    const b = new Uint32Array(4);
    murmur3x128(Buffer.from('1\talice'), 0, 7, 0, a);
    murmur3x128(Buffer.from('xx\n1\talice\nyy'), 3, 10, 0, b);
    expect([...b]).toEqual([...a]);
  });

  it('reads words at any offset of any view, buffer after buffer (one DataView per buffer)', () => {
    const line = '42\t1700\tsku-00042\tshipped\t12.50\t3\t2026-01-02 03:04:05+00\t\\N';
    const alone = new Uint32Array(4);
    murmur3x128(Buffer.from(line), 0, line.length, 7, alone);
    const got: string[] = [];
    const slab = Buffer.alloc(4096, 0x78);
    for (let offset = 0; offset < 8; offset++) {
      // A view into a larger allocation (as a chunk of a pipe read is), then another array between.
      const view = new Uint8Array(slab.buffer, slab.byteOffset + 100 + offset, line.length + 9);
      view.set(Buffer.from(line), 5);
      const out = new Uint32Array(4);
      murmur3x128(view, 5, 5 + line.length, 7, out);
      got.push([...out].join());
      murmur3x128(Buffer.from(`x${line}`), 1, 1 + line.length, 7, out);
      got.push([...out].join());
    }
    expect(got).toEqual(Array.from({ length: 16 }, () => [...alone].join()));
  });
});

describe('row digest', () => {
  const digestOf = (rows: string[]) => {
    const digest = emptyDigest();
    for (const row of rows) addRow(digest, Buffer.from(row), 0, Buffer.byteLength(row));
    return { rows: digest.rows, hex: digestHex(digest) };
  };

  it('is the same for the same rows in any order, and differs for other rows', () => {
    const rows = ['1\talice', '2\tbob', '3\tcharlie', '3\tcharlie', '4\t\\N'];
    const digest = digestOf(rows);
    expect(digestOf([...rows].reverse())).toEqual(digest);
    expect(digest.rows).toBe(5);
    expect(digest.hex).toMatch(/^[0-9a-f]{16}$/);
    expect(digestOf(rows.slice(0, 4)).hex).not.toBe(digest.hex);
    expect(digestOf([...rows.slice(0, 4), '4\t\\\\N']).hex).not.toBe(digest.hex);
    // A duplicate row counts: a multiset, not a set.
    expect(digestOf([...rows, '2\tbob']).hex).not.toBe(digest.hex);
    expect(digestOf([])).toEqual({ rows: 0, hex: '0000000000000000' });
  });
});
