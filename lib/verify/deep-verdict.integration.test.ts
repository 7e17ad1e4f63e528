/**
 * verifyDeep's script and verdict against a real server with the real psql: real pg_dumpall output,
 * restored for real, then a real table dropped, a real column renamed and a real row added.
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { psql, toolOutput } from '../../test/support/cluster.ts';
import { pgTreeWithExtension } from '../../test/support/pg-tree.ts';
import { copyDigest, type TableDigest } from '../dump/copy-digest.ts';
import type { Executor } from '../exec/executor.ts';
import { hostExecutor } from '../exec/host.ts';
import { silentLogger } from '../log.ts';
import { DEFAULT_SEARCH_ROOTS, findPgBinDir } from '../pg/binaries.ts';
import { restorePlainDump } from '../restore/psql-restore.ts';
import { startLocalTarget } from '../targets/local.ts';
import { hostBinDir, type StartedTarget } from '../targets/target.ts';
import { verifyDeep } from './deep.ts';

let tree: string;
let source: StartedTarget;
let target: StartedTarget;
/** Digests of the plain dump, and of one made with --quote-all-identifiers. */
let digests: TableDigest[];
let quotedDigests: TableDigest[];

async function digestsOf(sql: string): Promise<TableDigest[]> {
  const digest = copyDigest();
  await pipeline(Readable.from([Buffer.from(sql)]), digest, async (rows) => {
    for await (const _ of rows);
  });
  return digest.digests;
}

const SOURCE_SQL = [
  "CREATE DATABASE app ENCODING 'LATIN1' LOCALE 'C' TEMPLATE template0",
  "CREATE DATABASE zoned ENCODING 'UTF8' LOCALE 'C' TEMPLATE template0",
  "ALTER DATABASE zoned SET TimeZone = 'Asia/Kolkata'",
  "CREATE DATABASE ext ENCODING 'UTF8' LOCALE 'C' TEMPLATE template0",
];
const APP_SQL = `
  CREATE TABLE public.t (a int, b text);
  INSERT INTO public.t VALUES (1, 'x'), (2, NULL);
  CREATE TABLE public.grown (id int);
  INSERT INTO public.grown VALUES (1), (2);
  CREATE TABLE public."Gone" (a int);
  INSERT INTO public."Gone" VALUES (1);
  CREATE TABLE public.changed (gone int);
  INSERT INTO public.changed VALUES (1);
  SELECT pg_catalog.lo_from_bytea(16400, 'abc');`;
// A timestamptz the dump wrote in the database's own TimeZone: read back in another, it differs.
const ZONED_SQL = `
  CREATE TABLE public.t (id int, at timestamptz);
  INSERT INTO public.t VALUES (1, '2026-01-01 00:00:00+00');`;

// The extension's configuration table: its own row (id 1) and the user's (ids over 10), which alone
// the dump holds.
const EXT_SQL = `
  CREATE EXTENSION drill_config;
  INSERT INTO public.drill_config VALUES (11, 'mine'), (12, 'also mine');`;

beforeAll(async () => {
  // Both servers from a PostgreSQL tree that offers the drill_config extension.
  const { binDir } = await findPgBinDir({ path: process.env.PATH ?? '', versionRoots: DEFAULT_SEARCH_ROOTS });
  tree = await mkdtemp(join(tmpdir(), 'drill-deep-verdict-'));
  await chmod(tree, 0o755); // the server runs as postgres and must reach the tree
  const treeBin = await pgTreeWithExtension(join(tree, 'usr'), binDir);
  const start = () =>
    startLocalTarget({ binDir: treeBin, tempRoot: tmpdir(), baseEnv: process.env, log: silentLogger });
  [source, target] = await Promise.all([start(), start()]);
  for (const sql of SOURCE_SQL) await psql(source.handle, 'postgres', sql);
  await psql(source.handle, 'app', APP_SQL);
  await psql(source.handle, 'zoned', ZONED_SQL);
  await psql(source.handle, 'ext', EXT_SQL);
  const dump = await toolOutput(source.handle, 'pg_dumpall', ['-w']);
  digests = await digestsOf(dump);
  quotedDigests = await digestsOf(
    await toolOutput(source.handle, 'pg_dumpall', ['-w', '--quote-all-identifiers']),
  );
  await restorePlainDump({
    executor: executorOf(target),
    source: Readable.from([gzipSync(dump)]),
    compression: 'gzip',
    kind: 'pg_dumpall',
    database: 'postgres',
    bootstrapRole: target.handle.connection.user,
    timeoutMs: 60_000,
    clock: () => performance.now(),
  });
  // drill_app: app as restored, then harmed for real; app itself stays as the dump has it.
  await psql(target.handle, 'postgres', 'CREATE DATABASE drill_app TEMPLATE app');
  await psql(
    target.handle,
    'drill_app',
    'DROP TABLE public."Gone"; ALTER TABLE public.changed RENAME COLUMN gone TO kept; INSERT INTO public.grown VALUES (3)',
  );
});
afterAll(async () => {
  await Promise.all([source?.stop(), target?.stop()]);
  if (tree) await rm(tree, { recursive: true, force: true });
});

function executorOf(at: StartedTarget): Executor {
  return hostExecutor(hostBinDir(at.handle), at.handle.connection, process.env);
}

/** The real psql of the target, with each call's arguments and script (its stdin) recorded. */
function recordingExecutor() {
  const real = executorOf(target);
  const calls: { args: readonly string[]; script?: string }[] = [];
  const executor: Executor = {
    ...real,
    async run(tool, args, options = {}) {
      if (options.stdin === undefined) {
        calls.push({ args });
        return real.run(tool, args, options);
      }
      const chunks: Buffer[] = [];
      for await (const chunk of options.stdin) chunks.push(Buffer.from(chunk as Buffer));
      const script = Buffer.concat(chunks).toString('utf8');
      calls.push({ args, script });
      return real.run(tool, args, { ...options, stdin: Readable.from([script]) });
    },
  };
  return { executor, calls };
}

const of = (list: TableDigest[], database: string, table?: string) =>
  list.filter((d) => d.database === database && (table === undefined || d.table === table));

describe('verifyDeep against a real restore', () => {
  it('reads every table back with the dump session settings and the same columns, and names what differs', async () => {
    const expected = of(digests, 'app');
    expect(expected.map((d) => [d.table, d.kind, d.encoding]).sort()).toEqual([
      ['pg_largeobject', 'large-objects', 'LATIN1'],
      ['public."Gone"', 'table', 'LATIN1'],
      ['public.changed', 'table', 'LATIN1'],
      ['public.grown', 'table', 'LATIN1'],
      ['public.t', 'table', 'LATIN1'],
    ]);
    const { executor, calls } = recordingExecutor();
    let now = 0;

    const result = await verifyDeep({
      executor,
      expected,
      databaseFor: (name) => `drill_${name}`,
      timeZone: 'Europe/Vienna',
      parallel: 1,
      clock: () => (now += 500),
    });

    const reads: Record<string, string> = {
      'public.t': 'COPY public.t (a, b) TO STDOUT;',
      'public.grown': 'COPY public.grown (id) TO STDOUT;',
      'public.changed': 'COPY public.changed (gone) TO STDOUT;',
      pg_largeobject:
        'COPY (SELECT oid, pg_catalog.md5(pg_catalog.lo_get(oid)) FROM pg_catalog.pg_largeobject_metadata) TO STDOUT;',
    };
    expect(calls.map((c) => c.script ?? c.args.at(-1))).toEqual([
      expect.stringContaining(
        `FROM unnest(ARRAY[${expected
          .filter((d) => d.kind === 'table')
          .map((d) => `'${d.table}'`)
          .join(', ')}]::text[])`,
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
        // The dropped table is not read; every other one is, in the dump's order.
        ...expected
          .filter((d) => d.table !== 'public."Gone"')
          .flatMap((d) => [reads[d.table], "\\echo '\\\\.'"]),
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
    const byTable = Object.fromEntries(
      result.tables.map(({ table, restoredRows, digestMatch, error }) => [
        table,
        { restoredRows, digestMatch, error },
      ]),
    );
    expect(byTable).toEqual({
      'public.t': { restoredRows: 2, digestMatch: true, error: undefined },
      'public.grown': { restoredRows: 3, digestMatch: false, error: undefined },
      'public."Gone"': {
        restoredRows: null,
        digestMatch: false,
        error: 'table public."Gone" does not exist',
      },
      'public.changed': {
        restoredRows: null,
        digestMatch: false,
        error: 'column "gone" of relation "changed" does not exist',
      },
      pg_largeobject: { restoredRows: 1, digestMatch: true, error: undefined },
    });
    const check = (table: string) => result.tables.find((t) => t.table === table);
    const grown = check('public.grown');
    expect(result.verdict).toEqual({
      ok: false,
      summary:
        '1 of 4 table(s) verified; 3 differ from the dump: ' +
        `app (restored as drill_app) public."Gone": dump 1 row(s) digest ${check('public."Gone"')?.dumpDigest}, restored unreadable: table public."Gone" does not exist; ` +
        `app (restored as drill_app) public.changed: dump 1 row(s) digest ${check('public.changed')?.dumpDigest}, restored unreadable: column "gone" of relation "changed" does not exist; ` +
        `app (restored as drill_app) public.grown: dump 2 row(s) digest ${grown?.dumpDigest}, restored 3 row(s) digest ${grown?.restoredDigest}`,
      facts: { tables: result.tables },
    });
    expect(grown?.restoredDigest).not.toEqual(grown?.dumpDigest);
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
    const result = await verifyDeep({
      executor: executorOf(target),
      expected: of(digests, 'app', 'public.t'),
      clock: () => 0,
    });

    expect(result.verdict).toMatchObject({
      ok: true,
      summary: '1 of 1 table(s) verified in 1 database(s), row for row (2 rows)',
    });
    expect(result.tables[0]).toMatchObject({ database: 'app', restoredDatabase: 'app', seconds: 0 });
  });

  it("keeps the database's own TimeZone and quotes as the dump did", async () => {
    const expected = of(quotedDigests, 'zoned');
    expect(expected.map((d) => d.table)).toEqual(['"public"."t"']);
    const { executor, calls } = recordingExecutor();

    const result = await verifyDeep({ executor, expected, clock: () => 0 });

    expect(result.sessions).toEqual([
      { database: 'zoned', timeZone: 'Asia/Kolkata', timeZoneFrom: 'database', quoteAllIdentifiers: true },
    ]);
    expect(calls[1]?.script).toContain('SET quote_all_identifiers = on;');
    expect(calls[1]?.script).not.toContain('SET TimeZone');
    expect(result.verdict).toMatchObject({
      ok: true,
      summary: '1 of 1 table(s) verified in 1 database(s), row for row (1 rows)',
    });
    // The zone matters to the rows' text (so a read in the wrong one would differ), and a
    // --source-time-zone does not override the database's own.
    const inZone = (zone: string) =>
      psql(target.handle, 'zoned', `SET TimeZone = '${zone}'; SELECT at::text FROM public.t`);
    expect([await inZone('Asia/Kolkata'), await inZone('UTC')]).toEqual([
      '2026-01-01 05:30:00+05:30\n',
      '2026-01-01 00:00:00+00\n',
    ]);
    const inUtc = await verifyDeep({
      executor: executorOf(target),
      expected,
      timeZone: 'UTC',
      clock: () => 0,
    });
    expect([inUtc.verdict.ok, inUtc.sessions[0]?.timeZoneFrom]).toEqual([true, 'database']);
  });

  it('fails on tables it could not digest unless allowed, and on nothing to verify', async () => {
    const t = of(digests, 'app', 'public.t');
    const unreadable: TableDigest = {
      ...(t[0] as TableDigest),
      table: 'public.odd',
      columns: '',
      rows: 0,
      data: 'insert',
      unverified: 'line 9: bad',
    };
    const strict = await verifyDeep({
      executor: executorOf(target),
      expected: [...t, unreadable],
      clock: () => 0,
    });
    expect(strict.verdict.ok).toBe(false);
    expect(strict.verdict.summary).toBe(
      '1 of 2 table(s) verified; not verified, their dump data could not be digested: app public.odd (line 9: bad) (--allow-unverified accepts this)',
    );
    const allowed = await verifyDeep({
      executor: executorOf(target),
      expected: [...t, unreadable],
      allowUnverified: true,
      clock: () => 0,
    });
    expect(allowed.verdict).toMatchObject({ ok: true });
    expect(allowed.verdict.summary).toBe(
      '1 of 2 table(s) verified in 1 database(s), row for row (2 rows); not verified (allowed by --allow-unverified): app public.odd (line 9: bad)',
    );
    const nothing = await verifyDeep({ executor: executorOf(target), expected: [], clock: () => 0 });
    expect(nothing.verdict).toMatchObject({
      ok: false,
      summary: 'nothing to verify: the dump creates no table',
    });
  });

  it("reads an extension's configuration table under the condition pg_dump dumped it with", async () => {
    const expected = of(digests, 'ext');
    expect(expected.map((d) => [d.table, d.rows])).toEqual([['public.drill_config', 2]]);
    const { executor, calls } = recordingExecutor();

    const result = await verifyDeep({ executor, expected, clock: () => 0 });

    expect(calls[1]?.script).toContain(
      'COPY (SELECT id, v FROM ONLY public.drill_config WHERE id > 10) TO STDOUT;',
    );
    expect(result.verdict).toMatchObject({
      ok: true,
      summary: '1 of 1 table(s) verified in 1 database(s), row for row (2 rows)',
    });
    // Without the condition the extension's own row would be read too.
    expect(await psql(target.handle, 'ext', 'SELECT count(*) FROM public.drill_config')).toBe('3\n');
  });
});
