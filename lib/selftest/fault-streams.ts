/**
 * Faulted copies of a backup, as streams over the real file's bytes: nothing is copied to disk, and the
 * precheck reads them exactly as it reads the file itself.
 */
import type { Readable } from 'node:stream';
import { Transform } from 'node:stream';

/** A fault applied to a backup's bytes as stored (still compressed). */
export type ByteFault =
  /** The file cut short: only its first `keepBytes` bytes. */
  | { kind: 'truncated'; keepBytes: number }
  /** One bit flipped: byte `offset` XOR `mask`, every other byte as stored. */
  | { kind: 'bit-flipped'; offset: number; mask: number };

/** The faults the self-test applies to a file of `sizeBytes`: cut at its middle, a bit flipped there. */
export function faultsFor(sizeBytes: number): { truncated: ByteFault; flipped: ByteFault } {
  const middle = Math.floor(sizeBytes / 2);
  return {
    truncated: { kind: 'truncated', keepBytes: middle },
    // Mid-file: past a gzip header's unchecked fields (mtime, OS), before its CRC and length trailer.
    flipped: { kind: 'bit-flipped', offset: middle, mask: 0x10 },
  };
}

/** What the fault did, in the operator's words. */
export function describeFault(fault: ByteFault, sizeBytes: number): string {
  return fault.kind === 'truncated'
    ? `cut after ${fault.keepBytes} of its ${sizeBytes} bytes`
    : `bit 0x${fault.mask.toString(16).padStart(2, '0')} of byte ${fault.offset} (of ${sizeBytes}) flipped`;
}

/**
 * `raw` with `fault` applied. A truncated copy ends at the cut: the file is not read past it. Destroying
 * the faulted stream (a reader that stops early) closes the file.
 */
export function faulted(raw: Readable, fault: ByteFault): Readable {
  let at = 0;
  const out = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      const start = at;
      at += chunk.length;
      if (fault.kind === 'truncated') {
        const keep = Math.max(0, Math.min(chunk.length, fault.keepBytes - start));
        if (keep > 0) this.push(chunk.subarray(0, keep));
        if (at >= fault.keepBytes) {
          // The copy ends here, as a shorter file would.
          this.push(null);
          raw.unpipe(out);
          raw.destroy();
        }
        done();
        return;
      }
      if (fault.offset < start || fault.offset >= at) return done(null, chunk);
      const copy = Buffer.from(chunk);
      copy[fault.offset - start] = (copy[fault.offset - start] as number) ^ fault.mask;
      done(null, copy);
    },
  });
  raw.on('error', (error) => out.destroy(error));
  out.on('close', () => raw.destroy());
  raw.pipe(out);
  return out;
}
