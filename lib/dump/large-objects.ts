import { createHash, type Hash } from 'node:crypto';
import type { DumpLine } from './dump-lexer.ts';

/**
 * Large objects in a plain dump are not COPY data: pg_dump writes, per object,
 * `SELECT pg_catalog.lo_open('OID', 131072);`, one `SELECT pg_catalog.lowrite(0, '\x…');` per chunk
 * of its bytes, then `SELECT pg_catalog.lo_close(0);`. Each object becomes one row `OID<TAB>md5` (the
 * md5 of its bytes, in hex), the same row `SELECT oid, md5(lo_get(oid))` gives on the restored server,
 * so large objects are counted and digested like a table.
 */
export interface LargeObjectRow {
  /** `OID\tmd5-hex` as bytes. */
  row: Buffer;
  /** Dump line of its `lo_open`. */
  line: number;
}

const OPEN = "SELECT pg_catalog.lo_open('";
const WRITE = 'SELECT pg_catalog.lowrite(0, ';
const CLOSE = 'SELECT pg_catalog.lo_close(0);';

/** Follows lo_open / lowrite / lo_close statements; hand it every line that starts a statement. */
export function largeObjectTracker(): { line(line: DumpLine): LargeObjectRow | undefined } {
  let open: { oid: string; hash: Hash; line: number } | undefined;
  return {
    line(line) {
      const { bytes, start, end } = line;
      if (end - start < CLOSE.length || bytes[start + 7] !== 112) return undefined;
      const head = bytes.toString('latin1', start, start + WRITE.length);
      if (head.startsWith(OPEN)) {
        const oid = /^'(\d+)'/.exec(bytes.toString('latin1', start + OPEN.length - 1, end))?.[1];
        if (oid) open = { oid, hash: createHash('md5'), line: line.number };
      } else if (open && head === WRITE) {
        // `'\x68…'`, or `E'\\x68…'` where standard_conforming_strings is off.
        const quote = bytes.indexOf(39, start + WRITE.length);
        let hex = quote + 1;
        while (bytes[hex] === 92) hex++;
        if (bytes[hex] === 120) hex++;
        const close = bytes.indexOf(39, hex);
        if (quote > 0 && close > hex && close < end)
          open.hash.update(Buffer.from(bytes.toString('latin1', hex, close), 'hex'));
      } else if (open && bytes.toString('latin1', start, start + CLOSE.length) === CLOSE) {
        const row = Buffer.from(`${open.oid}\t${open.hash.digest('hex')}`);
        const done = { row, line: open.line };
        open = undefined;
        return done;
      }
      return undefined;
    },
  };
}
