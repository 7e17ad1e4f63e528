/** CopyOutQuery's message framing, fed the backend's bytes cut at every place (the real server: copy-out.integration.test.ts). */
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { CopyOutQuery } from './copy-out.ts';

function message(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeUInt32BE(4 + body.length, 1);
  return Buffer.concat([head, body]);
}

const ROWS = ['1\talice', '', '2\t\\N', 'x'.repeat(70), `${'long'.repeat(40)}\t\\\\`];
/** What a COPY TO sends: CopyOutResponse, a notice between rows, the rows, CopyDone; then what is pg's. */
const COPY = Buffer.concat([
  message('H', Buffer.from([0, 0, 2, 0, 0, 0, 0])),
  message('d', Buffer.from(`${ROWS[0]}\n`)),
  message('N', Buffer.from('SNOTICE\0\0')),
  ...ROWS.slice(1).map((row) => message('d', Buffer.from(`${row}\n`))),
  message('c', Buffer.alloc(0)),
]);
const AFTER = Buffer.concat([message('C', Buffer.from('COPY 5\0')), message('Z', Buffer.from('I'))]);

/** Feeds `bytes` to a query in chunks cut at `cuts`, as a socket would; returns the rows and what pg got back. */
function feed(bytes: Buffer, cuts: number[]): { rows: string[]; handedBack: Buffer; sent: string[] } {
  const stream = new EventEmitter();
  const handed: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => handed.push(Buffer.from(chunk)));
  const sent: string[] = [];
  const rows: string[] = [];
  const query = new CopyOutQuery('COPY t TO STDOUT', (b, s, e) => rows.push(b.toString('utf8', s, e)));
  query.done.catch(() => {});
  const error = query.submit({ stream, query: (text) => sent.push(text), sendCopyFail: () => {} });
  expect(error).toBeUndefined();
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    // A fresh copy each: a chunk the parser holds must not change under it.
    stream.emit('data', Buffer.from(bytes.subarray(from, cut)));
    from = cut;
  }
  return { rows, handedBack: Buffer.concat(handed), sent };
}

describe('CopyOutQuery framing', () => {
  const all = Buffer.concat([COPY, AFTER]);

  it('reads the rows whole and hands the rest to pg, in one chunk', () => {
    const { rows, handedBack, sent } = feed(all, []);
    expect(sent).toEqual(['COPY t TO STDOUT']);
    expect(rows).toEqual(ROWS);
    expect(handedBack.equals(AFTER)).toBe(true);
  });

  it('the same wherever one cut falls (inside headers, bodies, between messages)', () => {
    for (let cut = 1; cut < all.length; cut++) {
      const { rows, handedBack } = feed(all, [cut]);
      expect(rows, `cut at ${cut}`).toEqual(ROWS);
      expect(handedBack.equals(AFTER), `cut at ${cut}`).toBe(true);
    }
  });

  it('the same when every chunk is one to seven bytes long', () => {
    for (let size = 1; size <= 7; size++) {
      const cuts = Array.from({ length: Math.floor((all.length - 1) / size) }, (_, i) => (i + 1) * size);
      const { rows, handedBack } = feed(all, cuts);
      expect(rows, `chunks of ${size}`).toEqual(ROWS);
      expect(handedBack.equals(AFTER), `chunks of ${size}`).toBe(true);
    }
  });

  it('hands pg an ErrorResponse that comes mid-COPY, from its first byte', () => {
    const error = message('E', Buffer.from('SERROR\0C22012\0Mdivision by zero\0\0'));
    const cutShort = Buffer.concat([COPY.subarray(0, COPY.indexOf(message('d', Buffer.from('\n')))), error]);
    for (let cut = 1; cut < cutShort.length; cut++) {
      const { rows, handedBack } = feed(cutShort, [cut]);
      expect(rows).toEqual(ROWS.slice(0, 1));
      expect(handedBack.equals(error), `cut at ${cut}`).toBe(true);
    }
  });

  it('refuses a socket with other data listeners than pg’s own', () => {
    const stream = new EventEmitter();
    stream.on('data', () => {});
    stream.on('data', () => {});
    const query = new CopyOutQuery('COPY t TO STDOUT', () => {});
    query.done.catch(() => {});
    expect(query.submit({ stream, query: () => {}, sendCopyFail: () => {} })).toBeInstanceOf(Error);
  });
});
