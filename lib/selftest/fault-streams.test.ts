import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import { describeFault, faulted, faultsFor } from './fault-streams.ts';

/** `bytes` as a file stream would give them: in chunks, and noting whether it was closed. */
function source(bytes: Buffer, chunk = 1000): { stream: Readable; closed: () => boolean } {
  const parts: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += chunk) parts.push(bytes.subarray(at, at + chunk));
  const stream = Readable.from(parts);
  let closed = false;
  stream.once('close', () => {
    closed = true;
  });
  return { stream, closed: () => closed };
}

describe('faulted copies of a backup', () => {
  const bytes = randomBytes(10_007);
  const { truncated, flipped } = faultsFor(bytes.length);

  it('cuts the copy at the middle and closes the file there', async () => {
    const raw = source(bytes);
    const copy = await buffer(faulted(raw.stream, truncated));
    expect(copy.equals(bytes.subarray(0, 5003))).toBe(true);
    await new Promise((resolve) => setImmediate(resolve));
    expect(raw.closed()).toBe(true);
    expect(describeFault(truncated, bytes.length)).toBe('cut after 5003 of its 10007 bytes');
  });

  it('flips exactly one bit in the middle and keeps every other byte', async () => {
    const copy = await buffer(faulted(source(bytes).stream, flipped));
    expect(copy.length).toBe(bytes.length);
    const differing = [...copy.keys()].filter((i) => copy[i] !== bytes[i]);
    expect(differing).toEqual([5003]);
    expect(((copy[5003] as number) ^ (bytes[5003] as number)).toString(2)).toBe('10000');
    expect(describeFault(flipped, bytes.length)).toBe('bit 0x10 of byte 5003 (of 10007) flipped');
  });

  it('closes the file when the reader gives up early', async () => {
    const raw = source(bytes, 100);
    const copy = faulted(raw.stream, flipped);
    for await (const _ of copy) break;
    await new Promise((resolve) => setImmediate(resolve));
    expect(raw.closed()).toBe(true);
  });
});
