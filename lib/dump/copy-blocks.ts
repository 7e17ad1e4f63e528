import { Writable } from 'node:stream';
import { addRow, emptyDigest, type RowDigest } from './row-digest.ts';

/**
 * A sink for COPY text output made of blocks that each end with a line `\.` (as in a dump; deep
 * verification prints one after each `COPY … TO STDOUT`). COPY text never writes that line for data:
 * a backslash in a value is doubled. Calls `onBlock` with each block's digest as it ends, and
 * `onRow` (when given) with each data line and the number of the block it is in (0 first).
 */
export function copyBlocksSink(
  onBlock: (digest: RowDigest) => void,
  onRow?: (block: number, bytes: Buffer, start: number, end: number) => void,
): Writable {
  let pending: Buffer[] = [];
  let block = emptyDigest();
  let blocks = 0;
  const line = (bytes: Buffer, start: number, end: number) => {
    if (end - start === 2 && bytes[start] === 92 && bytes[start + 1] === 46) {
      blocks++;
      onBlock(block);
      block = emptyDigest();
    } else {
      addRow(block, bytes, start, end);
      onRow?.(blocks, bytes, start, end);
    }
  };
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      let start = 0;
      if (pending.length > 0) {
        const nl = chunk.indexOf(10);
        if (nl < 0) {
          // A row longer than a chunk: joined once, when its newline arrives.
          pending.push(chunk);
          done();
          return;
        }
        const joined = Buffer.concat([...pending, chunk.subarray(0, nl)]);
        pending = [];
        line(joined, 0, joined.length);
        start = nl + 1;
      }
      for (let end = chunk.indexOf(10, start); end >= 0; end = chunk.indexOf(10, start)) {
        line(chunk, start, end);
        start = end + 1;
      }
      if (start < chunk.length) pending = [chunk.subarray(start)];
      done();
    },
    final(done) {
      // Output cut short (psql died): a partial last line is not a row, and an unterminated block
      // is not reported, so its table shows as unread.
      done();
    },
  });
}
