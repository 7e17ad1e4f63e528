import { tmpdir } from 'node:os';
import { silentLogger } from '../../../lib/log.ts';
import { DEFAULT_SEARCH_ROOTS, findPgBinDir } from '../../../lib/pg/binaries.ts';
import { startLocalTarget } from '../../../lib/targets/local.ts';
import type { StartedTarget, TargetHandle } from '../../../lib/targets/target.ts';
import { psql } from '../cluster.ts';

// Source clusters shaped the way an operator's cluster is, and NOT the way our own fixture
// (lib/verify/canary-fixture.ts) is: the canary was made by hand, with its own column names and column
// order; an application database holds tables of mixed types in two schemas; optionally the session
// quirks pg_dump's output depends on (reg* columns, a per-database time zone, a superuser search_path).

/**
 * The operator's canary, as this corpus builds it. Column names and order are deliberately unlike ours
 * (`users.name`, `transactions.user_id`, `amount`): the text column holding alice, bob and charlie is the
 * SECOND text column (`mail` comes first), so "the first text column" is the wrong guess.
 */
export const OPERATOR_CANARY = {
  database: 'backup_test',
  users: { table: 'public.users', key: 'uid', nameColumn: 'login', names: ['alice', 'bob', 'charlie'] },
  transactions: {
    table: 'public.transactions',
    key: 'tx_id',
    userColumn: 'owner_uid',
    amountColumn: 'sum',
    /** [tx_id, owner login, amount as numeric(12,2) prints it]. */
    rows: [
      [1, 'alice', '100.00'],
      [2, 'bob', '250.50'],
      [3, 'charlie', '75.25'],
      [4, 'alice', '-20.00'],
      [5, 'bob', '-99.99'],
    ] as const,
  },
} as const;

/** The canary database's schema and rows (run in backup_test). */
export function operatorCanarySql(): string {
  const { users, transactions } = OPERATOR_CANARY;
  const userRows = users.names.map((n) => `('${n}@example.org', '${n}')`).join(', ');
  const txRows = transactions.rows
    .map(
      ([id, login, amount]) =>
        `((SELECT uid FROM public.users WHERE login = '${login}'), ${amount}, DATE '2026-01-0${id}')`,
    )
    .join(',\n  ');
  return `
CREATE TABLE public.users (
  uid serial PRIMARY KEY,
  mail text NOT NULL,
  login text NOT NULL UNIQUE,
  joined timestamptz NOT NULL DEFAULT '2025-06-01 08:00:00+00'
);
CREATE TABLE public.transactions (
  tx_id serial PRIMARY KEY,
  owner_uid integer NOT NULL REFERENCES public.users (uid),
  sum numeric(12, 2) NOT NULL,
  booked_on date NOT NULL
);
INSERT INTO public.users (mail, login) VALUES ${userRows};
INSERT INTO public.transactions (owner_uid, sum, booked_on) VALUES
  ${txRows};
`;
}

/** The application database's tables of mixed types, in `public` and a schema `app` (run in app). */
export function appDatabaseSql(): string {
  return String.raw`
CREATE SCHEMA app;
CREATE TYPE app.kind AS ENUM ('created', 'paid', 'shipped');
CREATE TABLE public.inventory (
  id integer PRIMARY KEY,
  label text NOT NULL,
  price numeric(10, 2),
  tags text[],
  meta jsonb,
  stocked timestamptz,
  ratio double precision,
  active boolean,
  code uuid,
  blob bytea
);
INSERT INTO public.inventory
SELECT g, 'item ' || g || CASE WHEN g % 7 = 0 THEN E'\twith tab' WHEN g % 11 = 0 THEN E'\nnewline' ELSE '' END,
       g * 1.25, ARRAY['t' || g % 3, NULL, 'q"uote'], jsonb_build_object('g', g, 'half', g / 2.0),
       timestamptz '2026-03-01 10:00:00+00' + g * interval '37 minutes', g / 3.0, g % 2 = 0,
       md5(g::text)::uuid, decode(md5(g::text), 'hex')
FROM generate_series(1, 60) g;
CREATE TABLE app.events (
  id bigserial PRIMARY KEY,
  item_id integer NOT NULL REFERENCES public.inventory (id),
  at timestamptz NOT NULL,
  kind app.kind NOT NULL,
  took interval,
  note text
);
INSERT INTO app.events (item_id, at, kind, took, note)
SELECT 1 + g % 60, timestamptz '2026-11-30 23:30:00+00' + g * interval '61 seconds',
       (ARRAY['created', 'paid', 'shipped']::app.kind[])[1 + g % 3], g * interval '1.5 seconds',
       CASE WHEN g % 5 = 0 THEN NULL ELSE 'event ' || g END
FROM generate_series(1, 400) g;
CREATE TABLE app.readings (id integer, taken date NOT NULL, value real) PARTITION BY RANGE (taken);
CREATE TABLE app.readings_2025 PARTITION OF app.readings FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE app.readings_2026 PARTITION OF app.readings FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
INSERT INTO app.readings SELECT g, date '2025-10-01' + g, g * 0.1 FROM generate_series(1, 150) g;
CREATE TABLE public.loose (a integer, b text);
INSERT INTO public.loose VALUES (1, 'same'), (1, 'same'), (2, NULL), (NULL, NULL);
CREATE TABLE public.nothing_yet (a integer PRIMARY KEY, b text);
`;
}

/** reg* columns in an application table: pg_dump writes them schema-qualified (search_path ''). */
export function regColumnsSql(): string {
  return `
CREATE FUNCTION public.touch(integer) RETURNS integer LANGUAGE sql IMMUTABLE AS 'SELECT $1 + 1';
CREATE TABLE public.catalog_refs (
  id integer PRIMARY KEY,
  rel regclass NOT NULL,
  typ regtype NOT NULL,
  fn regproc NOT NULL
);
INSERT INTO public.catalog_refs VALUES
  (1, 'public.inventory', 'app.kind', 'public.touch'),
  (2, 'app.events', 'integer', 'pg_catalog.now'),
  (3, 'public.loose', 'timestamp with time zone', 'public.touch');
`;
}

/** The database of the application tables; with quirks it carries its own TimeZone. */
export const APP_DATABASE = 'app';
/** The per-database time zone of the quirks shape: pg_dump writes timestamptz values in it. */
export const APP_TIME_ZONE = 'Asia/Kolkata';

export interface SourceShape {
  /** reg* columns, `ALTER DATABASE app SET timezone`, `ALTER ROLE postgres SET search_path = admin, pg_catalog`. */
  quirks?: boolean;
  /** PostgreSQL bin directory for the source (default: the machine's, as the drill finds it). */
  binDir?: string;
  /** Parent of the source's temp directory (default: the system temp directory). */
  tempRoot?: string;
}

/** A running source cluster with the operator's canary and an application database. */
export interface SourceCluster {
  started: StartedTarget;
  handle: TargetHandle;
  /** `postgres://postgres@127.0.0.1:PORT/postgres` and its password: the env of a `--target url` CLI run. */
  cliEnv: { DATABASE_URL: string; PGPASSWORD: string };
  stop(): Promise<void>;
}

/** The machine's PostgreSQL bin directory, as the drill itself finds it. */
export async function machineBinDir(): Promise<string> {
  return (await findPgBinDir({ path: process.env.PATH ?? '', versionRoots: DEFAULT_SEARCH_ROOTS })).binDir;
}

/** Starts a throwaway source cluster and builds the shape in it. */
export async function buildSourceCluster(shape: SourceShape = {}): Promise<SourceCluster> {
  const binDir = shape.binDir ?? (await machineBinDir());
  const started = await startLocalTarget({
    binDir,
    tempRoot: shape.tempRoot ?? tmpdir(),
    baseEnv: process.env,
    log: silentLogger,
  });
  const handle = started.handle;
  try {
    await psql(handle, 'postgres', `CREATE DATABASE ${OPERATOR_CANARY.database}`);
    await psql(handle, OPERATOR_CANARY.database, operatorCanarySql());
    await psql(handle, 'postgres', `CREATE DATABASE ${APP_DATABASE}`);
    await psql(handle, APP_DATABASE, appDatabaseSql());
    if (shape.quirks) await applyQuirks(handle);
  } catch (error) {
    await started.stop();
    throw error;
  }
  const { port, password } = handle.connection;
  return {
    started,
    handle,
    cliEnv: { DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/postgres`, PGPASSWORD: password ?? '' },
    stop: () => started.stop(),
  };
}

/**
 * The session quirks: reg* columns; `ALTER DATABASE app SET timezone` (pg_dump writes timestamptz in
 * it, no `--source-time-zone` can match every database); the superuser's search_path set to a schema
 * `admin` (present, with a table of its own, in every database) so unqualified names miss `public`.
 */
export async function applyQuirks(handle: TargetHandle): Promise<void> {
  await psql(handle, APP_DATABASE, regColumnsSql());
  await psql(handle, 'postgres', `ALTER DATABASE ${APP_DATABASE} SET timezone = '${APP_TIME_ZONE}'`);
  for (const db of ['postgres', OPERATOR_CANARY.database, APP_DATABASE]) {
    await psql(
      handle,
      db,
      "CREATE SCHEMA admin; CREATE TABLE admin.audit (at timestamptz PRIMARY KEY, what text); INSERT INTO admin.audit VALUES ('2026-11-01 00:00:00+00', 'created by hand')",
    );
  }
  await psql(handle, 'postgres', 'ALTER ROLE postgres SET search_path = admin, pg_catalog');
}

/** A table the dump carries data for: `schema.table` in a database. */
export interface CatalogTable {
  database: string;
  table: string;
}

/**
 * Every table pg_dumpall creates, from the source's own catalog: ordinary tables, partitions and
 * partitioned parents (relkind r and p: a parent holds no rows of its own, and the dump creates it
 * without data, so it must come back empty of them; docs/how-it-works.md: M is "every table the dump
 * creates or fills") outside the system schemas and outside extensions, in every database pg_dumpall
 * dumps (all but template0). This is the M of "N of M tables verified".
 */
export async function catalogTables(handle: TargetHandle): Promise<CatalogTable[]> {
  const databases = (
    await psql(
      handle,
      'postgres',
      "SELECT datname FROM pg_catalog.pg_database WHERE datname <> 'template0' ORDER BY 1",
    )
  )
    .split('\n')
    .filter(Boolean);
  const tables: CatalogTable[] = [];
  for (const database of databases) {
    const out = await psql(
      handle,
      database,
      `SELECT pg_catalog.format('%s.%s', n.nspname, c.relname)
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND n.nspname NOT LIKE 'pg\\_toast%'
          AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                           WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                             AND d.objid = c.oid AND d.deptype = 'e')
        ORDER BY 1`,
    );
    for (const table of out.split('\n').filter(Boolean)) tables.push({ database, table });
  }
  return tables;
}
