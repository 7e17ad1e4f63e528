import { Writable } from 'node:stream';
import { executorFor } from '../../lib/targets/attach.ts';
import type { TargetHandle } from '../../lib/targets/target.ts';
import { psql } from './cluster.ts';

/**
 * Databases with awkward names and content, for tests that split, digest and verify real pg_dumpall
 * output: names that need quoting (and `\connect -reuse-previous=on "dbname='…'"`), text that looks
 * like psql commands and section banners inside COPY data, dollar-quoted bodies and multi-line string
 * constants, every COPY corner (NULL, tabs, newlines, backslashes, bytea, arrays, enums, generated
 * columns, an empty table, partitions), large objects, and a SQL_ASCII database with non-UTF-8 bytes.
 */
export const AWKWARD_DATABASES = [
  'Weird "Name" db',
  'ünïcødé',
  "back\\slash 'q'",
  'plain_db',
  'latin_bytes',
] as const;

const ident = (name: string) => `"${name.replaceAll('"', '""')}"`;

/** Tables and rows every awkward database gets (plus the database's own extras). */
const COMMON = String.raw`
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE texts (id int PRIMARY KEY, body text);
INSERT INTO texts VALUES
  (1, E'tab\there'), (2, E'new\nline'), (3, E'back\\slash'), (4, NULL), (5, ''),
  (6, '\.'), (7, E'x\n\\.\ny'), (8, E'\\connect evil'), (9, E'-- Database "x" dump'),
  (10, 'ünïcødé ✓ 日本'), (11, E'\r carriage'), (12, E'trailing\\');
CREATE TABLE kinds (
  id int, b bytea, arr text[], m mood, ts timestamptz, f float8, r real, n numeric, iv interval, j jsonb,
  g int GENERATED ALWAYS AS (id * 2) STORED
);
INSERT INTO kinds VALUES
  (1, '\x00ff10', '{a,"b c",NULL,"d\"e"}', 'ok', '2024-02-29 12:34:56.789+01', 0.1, 0.1, 1e-30, '1 day 02:03:04', '{"k": [1, "\\t"]}'),
  (2, NULL, '{}', NULL, NULL, 'NaN', '-Infinity', NULL, NULL, NULL),
  (3, '', ARRAY[E'\n', E'\\'], 'sad', 'infinity', 1e308, 3.4e38, 12345678901234567890.123, '-1 year', 'null');
CREATE TABLE no_pk (a int, b text);
INSERT INTO no_pk VALUES (1, 'same'), (1, 'same'), (2, NULL), (NULL, NULL);
CREATE TABLE empty_table (a int);
CREATE TABLE measurements (id int, at date, v text) PARTITION BY RANGE (at);
CREATE TABLE measurements_2023 PARTITION OF measurements FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
CREATE TABLE measurements_2024 PARTITION OF measurements FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
INSERT INTO measurements SELECT g, date '2023-06-01' + g * 3, 'm' || g FROM generate_series(1, 100) g;
CREATE TABLE "Odd ""Table"" name" ("Col A" int, "col.b" text);
INSERT INTO "Odd ""Table"" name" VALUES (1, 'x');
CREATE FUNCTION tricky() RETURNS text LANGUAGE sql AS $$
SELECT '
\connect postgres
-- Database "x" dump
\.
'
$$;
CREATE FUNCTION tagged() RETURNS text LANGUAGE plpgsql AS $body$
BEGIN
  RETURN $x$
\connect evil
$x$ || E'\'' || $$;$$;
END
$body$;
COMMENT ON TABLE texts IS 'multi
line
-- Database "y" dump
\connect q';
SELECT lo_from_bytea(0, 'hello large object');
SELECT lo_from_bytea(0, '');
SELECT lo_from_bytea(0, decode(repeat('ab', 20000), 'hex'));
`;

/** Creates the awkward databases in the cluster (each with its tables, rows and large objects). */
export async function createAwkwardDatabases(target: TargetHandle): Promise<void> {
  for (const name of AWKWARD_DATABASES) {
    const extra =
      name === 'latin_bytes' ? " ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0" : '';
    await psql(target, 'postgres', `CREATE DATABASE ${ident(name)}${extra}`);
    if (name === 'latin_bytes') {
      // Bytes that are not UTF-8 (Latin-1 é, a lone 0xff): a SQL_ASCII database stores them as they are.
      await psql(
        target,
        name,
        String.raw`CREATE TABLE raw (id int, body text); INSERT INTO raw VALUES (1, convert_from('\xe974e9'::bytea, 'SQL_ASCII')), (2, convert_from('\xff'::bytea, 'SQL_ASCII'));`,
      );
      continue;
    }
    await psql(target, name, COMMON);
  }
  await psql(
    target,
    'plain_db',
    "ALTER DATABASE plain_db SET search_path = public, pg_catalog; COMMENT ON DATABASE plain_db IS 'plain\nand simple'",
  );
}

/**
 * The cluster's pg_dumpall as bytes. cluster.ts's dumpAll decodes the output as UTF-8, which replaces
 * the SQL_ASCII database's non-UTF-8 bytes; a byte-exact dump is what these tests are about.
 */
export async function dumpAllBytes(target: TargetHandle): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk);
      done();
    },
  });
  const result = await (await executorFor(target, process.env)).run('pg_dumpall', ['-w'], { stdout: sink });
  if (result.exitCode !== 0) throw new Error(`pg_dumpall failed: ${result.stderr}`);
  return Buffer.concat(chunks);
}
