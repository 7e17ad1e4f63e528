/**
 * --verify deep on real pg_dumpall variants: INSERT-format data (--inserts, --column-inserts,
 * --rows-per-insert), --quote-all-identifiers, reg* columns and a database with its own TimeZone all
 * PASS with every table verified; tampered dumps whose restore silently loses or alters rows FAIL
 * naming the table, and an orphan foreign key in a database other than the canary's fails too.
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedCanary } from '../lib/drill/seed.ts';
import { copyDigest, type TableDigest } from '../lib/dump/copy-digest.ts';
import type { StartedTarget } from '../lib/targets/target.ts';
import { psql, startTestCluster, toolOutput } from './support/cluster.ts';
import { deepDrill } from './support/run-cli.ts';

/** A database shaped unlike our fixture: its own schema, TimeZone, awkward values and no COPY-friendly names. */
const SHOP = String.raw`
ALTER DATABASE shop SET timezone = 'Asia/Kolkata';
CREATE SCHEMA app;
CREATE TABLE public."user" (id int PRIMARY KEY, "order" text);
INSERT INTO public."user" VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'd');
CREATE TABLE app.items (
  id serial PRIMARY KEY, name text, price numeric, f float8, r real, ok boolean, bits bit(4), vb varbit,
  b bytea, arr text[], j json, jb jsonb, ts timestamptz, iv interval, rc regclass, rt regtype,
  g int GENERATED ALWAYS AS (id * 2) STORED, "Mixed Col" text, "select" int REFERENCES public."user" (id)
);
INSERT INTO app.items (name, price, f, r, ok, bits, vb, b, arr, j, jb, ts, iv, rc, rt, "Mixed Col", "select") VALUES
  (E'tab\there ''q'' back\\slash', -20.00, 'NaN', '-Infinity', true, B'1010', B'1', '\x00ff5c', '{a,"b c",NULL}',
   '{"a": "x\ty"}', '{"k": [1, "\\t"]}', '2024-02-29 12:34:56.789+01', '1 day 02:03:04', 'public.user', 'app.items',
   E'new\nline\r\f\b', 1),
  (NULL, 1e-30, 'Infinity', 0.1, false, NULL, NULL, '', '{}', NULL, NULL, 'infinity', '-1 year', 'pg_class', 'int4',
   'ünïcødé ✓ 日本', NULL),
  ('x', 12345678901234567890.123, 1e308, 3.4e38, NULL, B'0000', B'', NULL, '{"\\", "''"}', 'null', 'null',
   '-infinity', '0', '-', '-', '', 2),
  (E'-- Database "x" dump\n\\connect evil\n\\.', 'NaN', -0.0, 1.5e-45, true, B'1111', B'10101', '\xdeadbeef',
   ARRAY[E'\n', E'\t'], '[]', '{}', '2000-01-01 00:00:00+00', '-3 days -04:05:06.7', 'app.items', 'regclass', ')(', 3);
CREATE TABLE app.ident (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at timestamptz);
INSERT INTO app.ident (at) SELECT timestamptz '2026-03-29 00:30:00+00' + g * interval '37 minutes' FROM generate_series(1, 10) g;
CREATE TABLE app.empty (a int);
CREATE TABLE app.nocols ();
INSERT INTO app.nocols DEFAULT VALUES;
INSERT INTO app.nocols DEFAULT VALUES;
CREATE TABLE app.parted (id int, v text) PARTITION BY RANGE (id);
CREATE TABLE app.parted_low PARTITION OF app.parted FOR VALUES FROM (0) TO (100);
CREATE TABLE app.parted_high PARTITION OF app.parted FOR VALUES FROM (100) TO (1000);
INSERT INTO app.parted SELECT g * 7, 'p' || g FROM generate_series(1, 40) g;
`;

/** The dump variants an operator's nightly job may use; each restores and verifies. */
const VARIANTS: [string, string[]][] = [
  ['copy', []],
  ['inserts', ['--inserts']],
  ['column-inserts', ['--column-inserts']],
  ['rows-per-insert', ['--rows-per-insert=3']],
  ['quote-all-identifiers', ['--quote-all-identifiers']],
  ['column-inserts-quoted', ['--column-inserts', '--quote-all-identifiers']],
  ['inserts-via-partition-root', ['--inserts', '--load-via-partition-root']],
];

let source: StartedTarget;
let scratch: string;
const dumps = new Map<string, string>();
/** Tables (relkind r or p outside the system schemas) of every database pg_dumpall writes. */
let sourceTables: number;

async function digestsOf(text: string): Promise<TableDigest[]> {
  const digest = copyDigest();
  await pipeline(Readable.from([Buffer.from(text)]), digest, new PassThrough().resume());
  return digest.digests;
}

beforeAll(async () => {
  source = await startTestCluster();
  await seedCanary(source.handle, 'backup_test');
  await psql(source.handle, 'postgres', 'CREATE DATABASE shop');
  await psql(source.handle, 'shop', SHOP);
  for (const [name, flags] of VARIANTS)
    dumps.set(name, await toolOutput(source.handle, 'pg_dumpall', ['-w', ...flags]));
  let count = 0;
  for (const database of ['template1', 'postgres', 'backup_test', 'shop']) {
    const n = await psql(
      source.handle,
      database,
      "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'",
    );
    count += Number(n.trim());
  }
  sourceTables = count;
  // The canary's users and transactions, and shop's eight (a partitioned table and its two partitions).
  expect(sourceTables).toBe(10);
  scratch = await mkdtemp(join(tmpdir(), 'drill-deep-variants-'));
  await chmod(scratch, 0o777);
}, 180_000);
afterAll(async () => {
  await source?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

async function drill(name: string, text: string, extra: string[] = []) {
  const run = await deepDrill(scratch, name, text, ['--target', 'local', '--temp-dir', scratch, ...extra]);
  const step = (id: string) => run.report.checks.find((c) => c.id === id);
  return {
    ...run,
    deep: step('verify-every-table-matches-the-backup'),
    constraints: step('verify-foreign-keys-and-sequences-in-every-database'),
  };
}

/** Inserts `sql` into the dump just before the data of `table` (its `-- Data for Name: …` header). */
function insertBeforeDataOf(text: string, dataOf: string, sql: string): string {
  const at = text.indexOf(`\n--\n-- Data for Name: ${dataOf}; Type: TABLE DATA;`);
  if (at < 0) throw new Error(`no data section for ${dataOf}`);
  return `${text.slice(0, at)}\n${sql}\n${text.slice(at)}`;
}

describe('the INSERT decoder on real pg_dump output', () => {
  it('gives every table the digest its COPY data has, whatever the INSERT flags', async () => {
    const key = (d: TableDigest) => `${d.database} ${d.table.replaceAll('"', '')}`;
    const content = (digests: TableDigest[]) =>
      Object.fromEntries(
        digests.filter((d) => d.kind === 'table' && d.rows > 0).map((d) => [key(d), [d.rows, d.digest]]),
      );
    const copy = content(await digestsOf(dumps.get('copy') ?? ''));
    expect(Object.keys(copy).length).toBeGreaterThan(6);
    for (const name of ['inserts', 'column-inserts', 'rows-per-insert']) {
      const digests = await digestsOf(dumps.get(name) ?? '');
      expect(digests.filter((d) => d.unverified !== undefined)).toEqual([]);
      expect(content(digests), name).toEqual(copy);
    }
  });
});

describe('--verify deep on real dump variants', () => {
  it.each(VARIANTS.map(([name]) => name))('%s: passes with every table verified', async (name) => {
    const { code, stdout, deep, constraints, report } = await drill(name, dumps.get(name) ?? '');
    expect(deep?.status, stdout).toBe('passed');
    expect(deep?.message).toMatch(
      new RegExp(`^${sourceTables} of ${sourceTables} table\\(s\\) verified in `),
    );
    expect(constraints?.status, constraints?.message).toBe('passed');
    expect(deep?.message.includes('; 2 partition(s) loaded through their root')).toBe(
      name.endsWith('partition-root'),
    );
    expect(constraints?.message).toMatch(
      /^2 foreign key\(s\) validated without orphans .* in 2 database\(s\)$/,
    );
    expect(report.deep?.sessions?.find((s) => s.database === 'shop')).toEqual({
      database: 'shop',
      timeZone: 'Asia/Kolkata',
      timeZoneFrom: 'database',
      quoteAllIdentifiers: name.includes('quote'),
    });
    expect(code, stdout).toBe(0);
  });

  it('fails naming the table and both counts when a rule in the dump swallows its INSERTs', async () => {
    const text = insertBeforeDataOf(
      dumps.get('rows-per-insert') ?? '',
      'items',
      'CREATE RULE swallow AS ON INSERT TO app.items DO INSTEAD NOTHING;',
    );
    const { code, deep } = await drill('rule', text);
    expect(code).toBe(1);
    expect(deep?.status).toBe('failed');
    expect(deep?.message).toMatch(
      /^\d+ of \d+ table\(s\) verified; 1 differ from the dump: shop app\.items: dump 4 row\(s\) digest [0-9a-f]{16}, restored 0 row\(s\) digest 0{16}$/,
    );
  });

  it('fails naming a table created without data that the restore fills', async () => {
    const text = insertBeforeDataOf(
      dumps.get('inserts') ?? '',
      'items',
      'CREATE RULE spill AS ON INSERT TO app.items DO ALSO INSERT INTO app.empty VALUES (1);',
    );
    const { code, deep } = await drill('spill', text);
    expect(code).toBe(1);
    expect(deep?.message).toMatch(
      /1 differ from the dump: shop app\.empty: the dump creates it without data \(0 rows\), restored 4 row\(s\) digest [0-9a-f]{16}$/,
    );
  });

  it('fails naming the table when a trigger alters rows during COPY', async () => {
    const trigger = `CREATE FUNCTION public.meddle() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN NEW.name := 'meddled'; RETURN NEW; END$$;
CREATE TRIGGER meddle BEFORE INSERT ON app.items FOR EACH ROW EXECUTE FUNCTION public.meddle();`;
    const { code, deep, report } = await drill(
      'trigger',
      insertBeforeDataOf(dumps.get('copy') ?? '', 'items', trigger),
    );
    expect(code).toBe(1);
    expect(deep?.message).toMatch(
      /1 differ from the dump: shop app\.items: dump 4 row\(s\) digest [0-9a-f]{16}, restored 4 row\(s\) digest [0-9a-f]{16}$/,
    );
    expect(report.deep?.tables.filter((t) => !t.verified).map((t) => t.table)).toEqual(['app.items']);
  });

  it("fails, or with --allow-unverified lists, a table whose INSERTs are not in pg_dump's form", async () => {
    const text = (dumps.get('inserts') ?? '').replace(
      /INSERT INTO public\."user" VALUES \(4, 'd'\);/,
      `INSERT INTO public."user" SELECT 4, 'd';`,
    );
    const strict = await drill('odd-insert', text);
    expect(strict.code).toBe(1);
    expect(strict.deep?.message).toMatch(
      new RegExp(
        `^${sourceTables - 1} of ${sourceTables} table\\(s\\) verified; not verified, their dump data could not be digested: shop public\\."user" \\(line \\d+: not an INSERT as pg_dump writes it: expected VALUES at byte 26 of the statement\\) \\(--allow-unverified accepts this\\)$`,
      ),
    );
    const allowed = await drill('odd-insert-allowed', text, ['--allow-unverified']);
    expect(allowed.deep?.status).toBe('passed');
    expect(allowed.deep?.message).toMatch(
      new RegExp(`^${sourceTables - 1} of ${sourceTables} table\\(s\\) verified in `),
    );
  });

  it("fails on an orphan foreign key in a database other than the canary's", async () => {
    await psql(source.handle, 'postgres', 'CREATE DATABASE ledger');
    await psql(
      source.handle,
      'ledger',
      `CREATE TABLE accounts (id int PRIMARY KEY);
       CREATE TABLE entries (id int PRIMARY KEY, account int);
       INSERT INTO accounts VALUES (1), (2);
       INSERT INTO entries VALUES (1, 1), (2, 2), (3, 99);
       ALTER TABLE entries ADD CONSTRAINT entries_account_fkey FOREIGN KEY (account) REFERENCES accounts NOT VALID;`,
    );
    try {
      const text = await toolOutput(source.handle, 'pg_dumpall', ['-w']);
      const { code, deep, constraints } = await drill('orphan', text);
      expect(code).toBe(1);
      expect(deep?.status).toBe('passed');
      expect(constraints?.status).toBe('failed');
      expect(constraints?.message).toBe(
        'ledger: public.entries.entries_account_fkey: 1 orphan row(s) (a NOT VALID key, as the backup declares it: the source may hold them too)',
      );
    } finally {
      await psql(source.handle, 'postgres', 'DROP DATABASE ledger');
    }
  });

  it('fails saying there is nothing to verify when the dump creates no table', async () => {
    const text = await toolOutput(source.handle, 'pg_dumpall', [
      '-w',
      '--exclude-database=backup_test',
      '--exclude-database=shop',
    ]);
    const { code, deep, constraints } = await drill('no-tables', text, ['--canary', 'none']);
    expect(code).toBe(1);
    expect([deep?.status, deep?.message]).toEqual(['failed', 'nothing to verify: the dump creates no table']);
    expect([constraints?.status, constraints?.message]).toEqual([
      'failed',
      'nothing to check: the dump creates no table, so no foreign key or sequence',
    ]);
  });
});
