import { setImmediate, setTimeout } from 'node:timers/promises';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { bufferReleaser } from './buffer-release.ts';

const MIB = 1024 * 1024;

/** Off-heap bytes held by this thread's ArrayBuffers, once the sweeper has run. */
async function arrayBufferBytes(): Promise<number> {
  await setImmediate();
  await setTimeout(100);
  return process.memoryUsage().arrayBuffers;
}

describe('bufferReleaser', () => {
  it('frees the dead Buffers of the bytes it was told of, a few thresholds behind at most', async () => {
    const release = bufferReleaser(4 * MIB);
    const before = await arrayBufferBytes();
    // 64 MiB of 256 KiB Buffers, each dropped at once, as gunzip's chunks are once psql has them: almost
    // nothing on the JS heap, so V8 itself has little reason to collect before the releaser does (the
    // feed without it held 20-30 MB of them at a time).
    let peak = 0;
    for (let i = 0; i < 256; i++) {
      Buffer.allocUnsafe(256 * 1024).fill(i);
      release(256 * 1024);
      peak = Math.max(peak, process.memoryUsage().arrayBuffers - before);
    }
    // Freed behind each collection by V8's sweeper, on its own threads: a threshold or two may wait.
    expect(peak).toBeLessThan(12 * MIB);
  });

  it('leaves no `gc` global to the contexts made after it', () => {
    bufferReleaser();
    expect(runInNewContext('typeof gc')).toBe(typeof globalThis.gc);
  });
});
