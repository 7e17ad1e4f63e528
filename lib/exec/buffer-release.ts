import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * How many bytes streamed between the drill and its tools may pass between two collections of V8's
 * young generation. A restore allocates a fresh off-heap Buffer for every 64 KiB read from the file and
 * every 256 KiB gunzip writes, a deep read one for every read of its sessions' sockets (copy-out.ts),
 * tens of MB a second, while allocating little on the JS heap: V8 collects the young generation only
 * when that heap fills (with 1 MB semi-spaces, every half second or so of a restore), and only a
 * collection frees the dead Buffers. Measured at 100 MB and 1 GB of SQL, 20–30 MB of them waited at a
 * time, and peak RSS stayed that much higher; a minor GC (under 1 ms) every 2 MiB holds them to a few
 * MB. Peak RSS of a 100 MB `--verify deep` drill, two runs each: 141–145 MiB at 4 MiB, 140–141 at 2,
 * 137–138 at 1; the feed's CPU on 1 GB the same at each within the noise (docs/benchmarks.md, "Memory").
 */
export const RELEASE_EVERY_BYTES = 2 * 1024 * 1024;

type MinorGc = () => void;

let collector: MinorGc | null | undefined;

/**
 * V8's own `gc`, taken from a context made while `--expose-gc` is on (the way jest's leak detector gets
 * it), then the flag is put back, so no other context (vitest's, the spec's) sees a `gc` global. Null
 * where V8 refuses: the drill then runs as before, with V8's own timing.
 */
function minorGc(): MinorGc | null {
  if (collector !== undefined) return collector;
  const exposed = typeof globalThis.gc === 'function';
  try {
    if (!exposed) setFlagsFromString('--expose-gc');
    const gc = exposed ? globalThis.gc : (runInNewContext('gc') as unknown);
    collector = typeof gc === 'function' ? () => void gc({ type: 'minor' }) : null;
  } catch {
    collector = null;
  } finally {
    // Put back even when the context could not be made: no later context may get a `gc` global.
    if (!exposed) setFlagsFromString('--no-expose-gc');
  }
  return collector;
}

/**
 * Counts the bytes a stream stage passes and collects the young generation of this thread's heap (the
 * one the stream's Buffers live in) every `everyBytes`: dead Buffers are freed within a few MB of
 * their use instead of tens. Returns the function to tell each chunk's size.
 */
export function bufferReleaser(everyBytes = RELEASE_EVERY_BYTES): (bytes: number) => void {
  const gc = minorGc();
  let since = 0;
  return (bytes) => {
    since += bytes;
    if (since < everyBytes || !gc) return;
    since = 0;
    gc();
  };
}
