import type { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { TableDigest } from '../dump/copy-digest.ts';
import { addRow, digestHex, emptyDigest } from '../dump/row-digest.ts';
import type { Executor, ToolRun } from '../targets/target.ts';
import { verifyDeep } from './deep.ts';

function hexOf(rows: string[]): string {
  const digest = emptyDigest();
  for (const row of rows) addRow(digest, Buffer.from(row), 0, Buffer.byteLength(row));
  return digestHex(digest);
}

async function text(stream: Readable | undefined): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream ?? []) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * A psql stand-in that answers the relkind query from `kinds` and each COPY of the script from
 * `tables` (a COPY of an unknown table fails as psql reports it), echoing the `\.` markers.
 */
function fakePsql(kinds: string[], tables: Record<string, string[]>) {
  const calls: { args: readonly string[]; script?: string }[] = [];
  const executor: Executor = {
    where: 'test',
    readsHostPaths: false,
    toolVersion: async () => undefined,
    async run(_tool, args, options: ToolRun = {}) {
      if (args.includes('-c')) {
        calls.push({ args });
        options.stdout?.end(`${kinds.join('\n')}\n`);
        return { exitCode: 0, signal: null, stderr: '' };
      }
      const script = await text(options.stdin);
      calls.push({ args, script });
      let stderr = '';
      script.split('\n').forEach((line, i) => {
        if (line.startsWith('COPY ')) {
          const rows = tables[line];
          if (rows) for (const row of rows) options.stdout?.write(`${row}\n`);
          else stderr += `psql:<stdin>:${i + 1}: ERROR:  column "gone" does not exist\n`;
        }
        if (line === "\\echo '\\\\.'") options.stdout?.write('\\.\n');
      });
      options.stdout?.end();
      return { exitCode: 0, signal: null, stderr };
    },
  };
  return { executor, calls };
}

const entry = (
  table: string,
  columns: string,
  rows: string[],
  kind: TableDigest['kind'] = 'table',
): TableDigest => ({
  kind,
  database: 'app',
  table,
  columns,
  rows: rows.length,
  digest: hexOf(rows),
  encoding: 'LATIN1',
  line: 1,
});

describe('verifyDeep', () => {
  const expected = [
    entry('public.t', 'a, b', ['1\tx', '2\t\\N']),
    entry('public.parted', 'id', ['1', '2']),
    entry('public."Gone"', 'a', ['1']),
    entry('public.changed', 'gone', ['1']),
    entry('pg_largeobject', '', ['16400\tabc'], 'large-objects'),
  ];

  it('reads every table back with the dump session settings, the same columns, and compares', async () => {
    const { executor, calls } = fakePsql(['r', 'p', '-', 'r'], {
      'COPY public.t (a, b) TO STDOUT;': ['2\t\\N', '1\tx'],
      'COPY (SELECT id FROM public.parted) TO STDOUT;': ['1', '2', '3'],
      'COPY (SELECT oid, pg_catalog.md5(pg_catalog.lo_get(oid)) FROM pg_catalog.pg_largeobject_metadata) TO STDOUT;':
        ['16400\tabc'],
    });
    let now = 0;
    const result = await verifyDeep({
      executor,
      expected,
      databaseFor: (name) => `drill_${name}`,
      timeZone: 'Europe/Vienna',
      clock: () => (now += 500),
    });
    expect(calls.map((c) => (c.args.at(-1) === '-' ? c.script : c.args.at(-1)))).toEqual([
      expect.stringContaining(
        `FROM unnest(ARRAY['public.t', 'public.parted', 'public."Gone"', 'public.changed']::text[])`,
      ),
      [
        'SET standard_conforming_strings = on;',
        'SET DateStyle = ISO;',
        'SET IntervalStyle = postgres;',
        'SET extra_float_digits = 3;',
        "SET TimeZone = 'Europe/Vienna';",
        "SET client_encoding = 'LATIN1';",
        'COPY public.t (a, b) TO STDOUT;',
        "\\echo '\\\\.'",
        'COPY (SELECT id FROM public.parted) TO STDOUT;',
        "\\echo '\\\\.'",
        'COPY public.changed (gone) TO STDOUT;',
        "\\echo '\\\\.'",
        'COPY (SELECT oid, pg_catalog.md5(pg_catalog.lo_get(oid)) FROM pg_catalog.pg_largeobject_metadata) TO STDOUT;',
        "\\echo '\\\\.'",
        '',
      ].join('\n'),
    ]);
    expect(calls[1]?.args).toEqual([
      '-X',
      '-q',
      '-w',
      '-v',
      'ON_ERROR_STOP=0',
      '-d',
      "dbname='drill_app'",
      '-f',
      '-',
    ]);
    expect(
      result.tables.map(({ table, restoredRows, digestMatch, error }) => ({
        table,
        restoredRows,
        digestMatch,
        error,
      })),
    ).toEqual([
      { table: 'public.t', restoredRows: 2, digestMatch: true, error: undefined },
      { table: 'public.parted', restoredRows: 3, digestMatch: false, error: undefined },
      {
        table: 'public."Gone"',
        restoredRows: null,
        digestMatch: false,
        error: 'table public."Gone" does not exist',
      },
      {
        table: 'public.changed',
        restoredRows: null,
        digestMatch: false,
        error: 'column "gone" does not exist',
      },
      { table: 'pg_largeobject', restoredRows: 1, digestMatch: true, error: undefined },
    ]);
    const parted = result.tables[1];
    expect(result.verdict).toEqual({
      ok: false,
      summary: `3 of 5 table(s) differ from the dump: app (restored as drill_app) public.parted: dump 2 row(s) digest ${parted?.dumpDigest}, restored 3 row(s) digest ${parted?.restoredDigest}; app (restored as drill_app) public."Gone": dump 1 row(s), restored unreadable: table public."Gone" does not exist; app (restored as drill_app) public.changed: dump 1 row(s), restored unreadable: column "gone" does not exist`,
      facts: { tables: result.tables },
    });
  });

  it('passes when every table matches', async () => {
    const { executor } = fakePsql(['r'], { 'COPY public.t (a, b) TO STDOUT;': ['1\tx', '2\t\\N'] });
    const result = await verifyDeep({ executor, expected: expected.slice(0, 1), clock: () => 0 });
    expect(result.verdict).toMatchObject({
      ok: true,
      summary: '1 table(s) in 1 database(s) match the dump row for row (2 rows)',
    });
    expect(result.tables[0]).toMatchObject({ database: 'app', restoredDatabase: 'app', seconds: 0 });
  });
});
