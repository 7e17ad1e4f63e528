import { createHash } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { pgDumpallText, pgDumpText } from '../../test/support/dump-text.ts';
import { copyDigest, type TableDigest } from './copy-digest.ts';
import { addRow, digestHex, emptyDigest } from './row-digest.ts';

const NOTES = ['-- Database "postgres" dump', '\\\\connect evil', 'tab\\there', 'ü日本', '\\\\.'];

function hexOf(rows: string[]): string {
  const digest = emptyDigest();
  for (const row of rows) addRow(digest, Buffer.from(row), 0, Buffer.byteLength(row));
  return digestHex(digest);
}

async function digestOf(text: string | Buffer, chunk = 0, database?: string) {
  const bytes = Buffer.from(text);
  const step = chunk || bytes.length;
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += step) chunks.push(bytes.subarray(i, i + step));
  const stream = copyDigest({ database });
  const out: Buffer[] = [];
  await pipeline(
    Readable.from(chunks),
    stream,
    new PassThrough().on('data', (c: Buffer) => out.push(c)),
  );
  return { digests: stream.digests, sequences: stream.sequences, passed: Buffer.concat(out) };
}

describe('copyDigest', () => {
  const dump = pgDumpallText({ databases: ['Weird "Name" db', 'ünïcødé'], notes: NOTES });
  const lineOf = (text: string) => dump.split('\n').indexOf(text) + 1;
  const table = (table: string, columns: string, rows: string[]): TableDigest => ({
    kind: 'table',
    database: 'Weird "Name" db',
    table,
    columns,
    rows: rows.length,
    digest: hexOf(rows),
    encoding: 'UTF8',
    line: lineOf(`COPY ${table} (${columns}) FROM stdin;`),
  });

  it('counts and digests every COPY block under its database, passing the bytes on unchanged', async () => {
    const { digests, passed } = await digestOf(dump);
    expect(passed.equals(Buffer.from(dump))).toBe(true);
    expect(digests).toEqual([
      table('public.notes', 'body', NOTES),
      table('public.transactions', 'id, user_id, amount', [
        '1\t1\t10.00',
        '2\t2\t20.00',
        '3\t3\t30.00',
        '4\t1\t5.50',
        '5\t2\t7.25',
      ]),
      table('public.users', 'id, name', ['1\talice', '2\tbob', '3\tcharlie']),
    ]);
  });

  it('gives the same digests whatever the chunking, multi-byte characters split across chunks included', async () => {
    const whole = await digestOf(dump);
    expect(await digestOf(dump, 1)).toEqual(whole);
    expect(await digestOf(dump, 3)).toEqual(whole);
  });

  it('does not depend on row order', async () => {
    const reversed = pgDumpallText({
      databases: ['Weird "Name" db', 'ünïcødé'],
      notes: [...NOTES].reverse(),
    });
    const [a] = (await digestOf(dump)).digests;
    const [b] = (await digestOf(reversed)).digests;
    expect(a?.digest).toMatch(/^[0-9a-f]{16}$/);
    expect(b?.digest).toBe(a?.digest);
  });

  it('files a plain pg_dump under the database it is told', async () => {
    const { digests } = await digestOf(pgDumpText({ notes: ['x'] }), 0, 'backup_test');
    expect(digests.map((d) => [d.database, d.table, d.rows])).toEqual([
      ['backup_test', 'public.notes', 1],
      ['backup_test', 'public.transactions', 5],
      ['backup_test', 'public.users', 3],
    ]);
  });

  it('merges the blocks of one table and digests large objects as OID + md5 rows', async () => {
    const text = [
      '\\connect db',
      "SET client_encoding = 'SQL_ASCII';",
      'COPY public.p (a) FROM stdin;',
      '1',
      '\\.',
      'COPY public.p (a) FROM stdin;',
      '2',
      '\\.',
      "SELECT pg_catalog.lo_create('16400');",
      'BEGIN;',
      "SELECT pg_catalog.lo_open('16400', 131072);",
      "SELECT pg_catalog.lowrite(0, '\\x6869');",
      "SELECT pg_catalog.lowrite(0, '\\x21');",
      'SELECT pg_catalog.lo_close(0);',
      "SELECT pg_catalog.lo_open('16401', 131072);",
      'SELECT pg_catalog.lo_close(0);',
      'COMMIT;',
      '',
    ].join('\n');
    const md5 = (s: string) => createHash('md5').update(s).digest('hex');
    expect((await digestOf(text)).digests).toEqual([
      {
        kind: 'table',
        database: 'db',
        table: 'public.p',
        columns: 'a',
        rows: 2,
        digest: hexOf(['1', '2']),
        encoding: 'SQL_ASCII',
        line: 3,
      },
      {
        kind: 'large-objects',
        database: 'db',
        table: 'pg_largeobject',
        columns: '',
        rows: 2,
        digest: hexOf([`16400\t${md5('hi!')}`, `16401\t${md5('')}`]),
        encoding: 'SQL_ASCII',
        line: 11,
      },
    ]);
  });
});

describe('copyDigest of --column-inserts data with an INSERT it cannot decode', () => {
  it('lists the table once, not verified, naming the line: its decoded rows are only part of it', async () => {
    const text = [
      'SET standard_conforming_strings = on;',
      'CREATE TABLE public.t (a integer, b text);',
      "INSERT INTO public.t (a, b) VALUES (1, 'one');",
      "INSERT INTO public.t (a, b) VALUES (2, pg_catalog.upper('two'));",
      "INSERT INTO public.t (a, b) VALUES (3, 'three');",
      '',
    ].join('\n');
    const { digests } = await digestOf(text, 0, 'app');
    const tables = digests.filter((d) => d.table === 'public.t');
    expect(tables.map((d) => [d.columns, d.unverified?.startsWith('line 4: ')])).toEqual([['a, b', true]]);
  });
});

describe('copyDigest of the setval lines', () => {
  it('reads each setval under its database, the quotes of the name undone; a setval in COPY data or a string is none', async () => {
    const dump = [
      "SELECT pg_catalog.setval('public.users_id_seq', 3, true);",
      '\\connect shop',
      "SELECT pg_catalog.setval('public.\"Odd''s Seq\"', 1, false);",
      'COPY public.notes (body) FROM stdin;',
      "SELECT pg_catalog.setval('public.fake', 9, true);",
      '\\.',
      "INSERT INTO public.notes VALUES ('",
      "SELECT pg_catalog.setval(''public.fake2'', 9, true);');",
      "SELECT pg_catalog.setval('s.neg', -5, true);",
      "SELECT pg_catalog.setval('s.bad', 5);",
      '',
    ].join('\n');
    const { sequences } = await digestOf(dump, 7, 'postgres');
    expect(sequences).toEqual([
      { database: 'postgres', sequence: 'public.users_id_seq', value: '3', isCalled: true, line: 1 },
      { database: 'shop', sequence: 'public."Odd\'s Seq"', value: '1', isCalled: false, line: 3 },
      { database: 'shop', sequence: 's.neg', value: '-5', isCalled: true, line: 9 },
    ]);
  });
});
