import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { copyBlocksSink } from './copy-blocks.ts';
import { addRow, digestHex, emptyDigest, type RowDigest } from './row-digest.ts';

const hexOf = (rows: string[]) => {
  const digest = emptyDigest();
  for (const row of rows) addRow(digest, Buffer.from(row), 0, Buffer.byteLength(row));
  return digestHex(digest);
};

async function blocks(text: string, step: number): Promise<[number, string][]> {
  const bytes = Buffer.from(text);
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += step) chunks.push(bytes.subarray(i, i + step));
  const seen: RowDigest[] = [];
  await pipeline(
    Readable.from(chunks),
    copyBlocksSink((d) => seen.push(d)),
  );
  return seen.map((d) => [d.rows, digestHex(d)]);
}

describe('copyBlocksSink', () => {
  it('digests each block up to its \\. line, whatever the chunking', async () => {
    const text = '1\tü日本\n\\\\.\n\\N\n\\.\n\\.\n2\tb\n\\.\n';
    const expected: [number, string][] = [
      [3, hexOf(['1\tü日本', '\\\\.', '\\N'])],
      [0, '0000000000000000'],
      [1, hexOf(['2\tb'])],
    ];
    expect(await blocks(text, text.length)).toEqual(expected);
    expect(await blocks(text, 1)).toEqual(expected);
    expect(await blocks(text, 4)).toEqual(expected);
  });

  it('reports no block that output cut short left open', async () => {
    expect(await blocks('1\n\\.\n2\n3', 2)).toEqual([[1, hexOf(['1'])]]);
  });
});
