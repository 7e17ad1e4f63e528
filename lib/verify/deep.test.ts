import type { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { TableDigest } from '../dump/copy-digest.ts';
import { addRow, digestHex, emptyDigest } from '../dump/row-digest.ts';
import type { Executor, ToolRun } from '../exec/executor.ts';
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
 * A psql stand-in (for the script and the verdict's wording; test/drill-deep.test.ts runs the real
 * thing) that answers the probe with the TimeZone line `zone` and per table `relkind|quoting|oid|root`
 * from `kinds`, and each COPY of the script from `tables` (a COPY of an unknown table fails as psql
 * reports it), echoing the `\.` markers.
 */
function fakePsql(kinds: string[], tables: Record<string, string[]>, zone = 'configuration file|UTC') {
  const calls: { args: readonly string[]; script?: string }[] = [];
  const executor: Executor = {
    where: 'test',
    readsHostPaths: false,
    toolVersion: async () => undefined,
    async run(_tool, args, options: ToolRun = {}) {
      if (args.includes('-c')) {
        calls.push({ args });
        options.stdout?.end(`\n${[zone, ...kinds].join('\n')}\n`);
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
    const { executor, calls } = fakePsql(['r|plain|1|-', 'p|plain|2|2', '-|-|-|-', 'r|plain|4|-'], {
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
      parallel: 1,
      clock: () => (now += 500),
    });
    expect(calls.map((c) => (c.args.at(-1) === '-' ? c.script : c.args.at(-1)))).toEqual([
      expect.stringContaining(
        `FROM unnest(ARRAY['public.t', 'public.parted', 'public."Gone"', 'public.changed']::text[])`,
      ),
      [
        'SET standard_conforming_strings = on;',
        "SELECT pg_catalog.set_config('search_path', '', false) AS drill_search_path \\gset",
        'SET DateStyle = ISO;',
        'SET IntervalStyle = postgres;',
        'SET extra_float_digits = 3;',
        'SET row_security = off;',
        'SET quote_all_identifiers = off;',
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
      summary: `1 of 4 table(s) verified; 3 differ from the dump: app (restored as drill_app) public.parted: dump 2 row(s) digest ${parted?.dumpDigest}, restored 3 row(s) digest ${parted?.restoredDigest}; app (restored as drill_app) public."Gone": dump 1 row(s) digest ${result.tables[2]?.dumpDigest}, restored unreadable: table public."Gone" does not exist; app (restored as drill_app) public.changed: dump 1 row(s) digest ${result.tables[3]?.dumpDigest}, restored unreadable: column "gone" does not exist`,
      facts: { tables: result.tables },
    });
    expect(result.sessions).toEqual([
      {
        database: 'app',
        timeZone: 'Europe/Vienna',
        timeZoneFrom: '--source-time-zone',
        quoteAllIdentifiers: false,
      },
    ]);
  });

  it('passes when every table matches', async () => {
    const { executor } = fakePsql(['r|plain|1|-'], { 'COPY public.t (a, b) TO STDOUT;': ['1\tx', '2\t\\N'] });
    const result = await verifyDeep({ executor, expected: expected.slice(0, 1), clock: () => 0 });
    expect(result.verdict).toMatchObject({
      ok: true,
      summary: '1 of 1 table(s) verified in 1 database(s), row for row (2 rows)',
    });
    expect(result.tables[0]).toMatchObject({ database: 'app', restoredDatabase: 'app', seconds: 0 });
  });

  it("keeps the database's own TimeZone and quotes as the dump did", async () => {
    const { executor, calls } = fakePsql(
      ['r|all|1|-'],
      { 'COPY public.t (a, b) TO STDOUT;': ['1\tx', '2\t\\N'] },
      'database|Asia/Kolkata',
    );
    const result = await verifyDeep({ executor, expected: expected.slice(0, 1), clock: () => 0 });
    expect(result.sessions).toEqual([
      { database: 'app', timeZone: 'Asia/Kolkata', timeZoneFrom: 'database', quoteAllIdentifiers: true },
    ]);
    expect(calls[1]?.script).toContain('SET quote_all_identifiers = on;');
    expect(calls[1]?.script).not.toContain('SET TimeZone');
  });

  it('fails on tables it could not digest unless allowed, and on nothing to verify', async () => {
    const unreadable = { ...entry('public.odd', '', []), data: 'insert' as const, unverified: 'line 9: bad' };
    const tables = { 'COPY public.t (a, b) TO STDOUT;': ['1\tx', '2\t\\N'] };
    const strict = await verifyDeep({
      executor: fakePsql(['r|plain|1|-'], tables).executor,
      expected: [expected[0] as TableDigest, unreadable],
      clock: () => 0,
    });
    expect(strict.verdict.ok).toBe(false);
    expect(strict.verdict.summary).toBe(
      '1 of 2 table(s) verified; not verified, their dump data could not be digested: app public.odd (line 9: bad) (--allow-unverified accepts this)',
    );
    const allowed = await verifyDeep({
      executor: fakePsql(['r|plain|1|-'], tables).executor,
      expected: [expected[0] as TableDigest, unreadable],
      allowUnverified: true,
      clock: () => 0,
    });
    expect(allowed.verdict).toMatchObject({ ok: true });
    expect(allowed.verdict.summary).toBe(
      '1 of 2 table(s) verified in 1 database(s), row for row (2 rows); not verified (allowed by --allow-unverified): app public.odd (line 9: bad)',
    );
    const nothing = await verifyDeep({ executor: fakePsql([], {}).executor, expected: [], clock: () => 0 });
    expect(nothing.verdict).toMatchObject({
      ok: false,
      summary: 'nothing to verify: the dump creates no table',
    });
  });

  it("reads an extension's configuration table under the condition pg_dump dumped it with", async () => {
    const condition = Buffer.from('WHERE id > 10').toString('hex');
    const { executor, calls } = fakePsql([`r|plain|1|-||${condition}`], {
      'COPY (SELECT a, b FROM ONLY public.t WHERE id > 10) TO STDOUT;': ['1\tx', '2\t\\N'],
    });
    const result = await verifyDeep({ executor, expected: expected.slice(0, 1), clock: () => 0 });
    expect(calls[1]?.script).toContain('COPY (SELECT a, b FROM ONLY public.t WHERE id > 10) TO STDOUT;');
    expect(result.verdict.ok).toBe(true);
  });
});
