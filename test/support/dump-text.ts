import { createHash } from 'node:crypto';

// Builds plain pg_dumpall / pg_dump output for tests, line for line as PostgreSQL 15.18 writes it
// (compare a real dump: `pg_dumpall -U postgres`). Deterministic: the same options give the same bytes.

/** `-- Dumped from database version …` as a Debian-packaged 15.18 writes it. */
export const PG15_VERSION = '15.18 (Debian 15.18-0+deb12u1)';

export interface DumpRole {
  name: string;
  /** The role attributes pg_dumpall writes after `WITH`, without the password. */
  attributes?: string;
  /** `COMMENT ON ROLE`, written when given. */
  comment?: string;
}

export interface DumpTextOptions {
  /** `-- Dumped from database version X`; null leaves the line out. */
  dumpedFrom?: string | null;
  /** `-- Dumped by pg_dump version X`; null leaves the line out. */
  dumpedBy?: string | null;
  /** Wrap each part in `\restrict KEY` … `\unrestrict KEY` (pg_dump ≥ 17.6 / 16.10 / 15.14). Default true. */
  restrict?: boolean;
  /** The bootstrap superuser (pg_dumpall: `CREATE ROLE` + `ALTER ROLE … SUPERUSER …`). Default postgres. */
  bootstrapRole?: string;
  /** Further roles (pg_dumpall only), e.g. `{ name: 'app' }`. */
  roles?: DumpRole[];
  /**
   * Databases besides template1 and postgres (pg_dumpall), each created WITH TEMPLATE = template0; the
   * first holds the tables. A name that needs quoting is written as pg_dump quotes it. Default backup_test.
   */
  databases?: string[];
  /**
   * Rows of a one-column table `public.notes`, written verbatim inside its `COPY … FROM stdin;` … `\.`
   * block (COPY text format: a real backslash in the data is doubled). Without it there is no such table.
   */
  notes?: string[];
  /** End with `-- PostgreSQL database cluster dump complete` (pg_dumpall). Default true. */
  clusterTrailer?: boolean;
}

/** How pg_dump writes an identifier: bare when a plain lower-case name, else double-quoted. */
export function dumpIdent(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? name : `"${name.replaceAll('"', '""')}"`;
}

/** A 63-character `\restrict` key, stable per label. */
export function restrictKey(label: string): string {
  return createHash('sha512')
    .update(label)
    .digest('base64')
    .replace(/[^A-Za-z0-9]/g, '')
    .slice(0, 63);
}

/** A SCRAM-SHA-256 verifier shaped like the ones pg_dumpall writes, stable per role. */
export function scramVerifier(role: string): string {
  const b64 = (label: string, bytes: number) =>
    createHash('sha256').update(`${role}:${label}`).digest().subarray(0, bytes).toString('base64');
  return `SCRAM-SHA-256$4096:${b64('salt', 16)}$${b64('stored', 32)}:${b64('server', 32)}`;
}

const SESSION_SETTINGS = [
  'SET statement_timeout = 0;',
  'SET lock_timeout = 0;',
  'SET idle_in_transaction_session_timeout = 0;',
  "SET client_encoding = 'UTF8';",
  'SET standard_conforming_strings = on;',
  "SELECT pg_catalog.set_config('search_path', '', false);",
  'SET check_function_bodies = false;',
  'SET xmloption = content;',
  'SET client_min_messages = warning;',
  'SET row_security = off;',
];

const BOOTSTRAP_ATTRIBUTES = 'SUPERUSER INHERIT CREATEROLE CREATEDB LOGIN REPLICATION BYPASSRLS';
const ROLE_ATTRIBUTES = 'NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB LOGIN NOREPLICATION NOBYPASSRLS';

function comment(...text: string[]): string[] {
  return ['--', ...text.map((t) => `-- ${t}`), '--'];
}

function sqlString(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

function settings(options: DumpTextOptions): string[] {
  const major = Number(/^\d+/.exec(options.dumpedBy ?? '')?.[0] ?? 0);
  // pg_dump 17 and later also switch off transaction_timeout.
  if (major < 17) return SESSION_SETTINGS;
  return [...SESSION_SETTINGS.slice(0, 3), 'SET transaction_timeout = 0;', ...SESSION_SETTINGS.slice(3)];
}

/** The opening of one pg_dump run: banner, `\restrict`, version lines, session settings. */
function pgDumpHead(options: DumpTextOptions, key: string | undefined): string[] {
  const versions = [
    ...(options.dumpedFrom === null
      ? []
      : [`-- Dumped from database version ${options.dumpedFrom ?? PG15_VERSION}`]),
    ...(options.dumpedBy === null
      ? []
      : [`-- Dumped by pg_dump version ${options.dumpedBy ?? PG15_VERSION}`]),
  ];
  return [
    ...comment('PostgreSQL database dump'),
    '',
    ...(key ? [`\\restrict ${key}`, ''] : []),
    ...(versions.length ? [...versions, ''] : []),
    ...settings(options),
    '',
  ];
}

function pgDumpTail(key: string | undefined): string[] {
  return [...comment('PostgreSQL database dump complete'), '', ...(key ? [`\\unrestrict ${key}`, ''] : [])];
}

function table(name: string, columns: string[], rows: string[]): string[] {
  return [
    ...comment(`Data for Name: ${name}; Type: TABLE DATA; Schema: public; Owner: postgres`),
    '',
    `COPY public.${name} (${columns.join(', ')}) FROM stdin;`,
    ...rows,
    '\\.',
    '',
    '',
  ];
}

/** The schema and data of the canary database, as in a real backup of it. */
function tables(options: DumpTextOptions): string[] {
  const notes = options.notes;
  const create = (name: string, columns: string[]) => [
    ...comment(`Name: ${name}; Type: TABLE; Schema: public; Owner: postgres`),
    '',
    `CREATE TABLE public.${name} (`,
    ...columns.map((c, i) => `    ${c}${i < columns.length - 1 ? ',' : ''}`),
    ');',
    '',
    '',
    `ALTER TABLE public.${name} OWNER TO postgres;`,
    '',
  ];
  const sequence = (table: string) => [
    ...comment(`Name: ${table}_id_seq; Type: SEQUENCE; Schema: public; Owner: postgres`),
    '',
    `CREATE SEQUENCE public.${table}_id_seq`,
    '    AS integer',
    '    START WITH 1',
    '    INCREMENT BY 1',
    '    NO MINVALUE',
    '    NO MAXVALUE',
    '    CACHE 1;',
    '',
    '',
    `ALTER TABLE public.${table}_id_seq OWNER TO postgres;`,
    '',
    ...comment(`Name: ${table}_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: postgres`),
    '',
    `ALTER SEQUENCE public.${table}_id_seq OWNED BY public.${table}.id;`,
    '',
    '',
  ];
  const idDefault = (table: string) => [
    ...comment(`Name: ${table} id; Type: DEFAULT; Schema: public; Owner: postgres`),
    '',
    `ALTER TABLE ONLY public.${table} ALTER COLUMN id SET DEFAULT nextval('public.${table}_id_seq'::regclass);`,
    '',
    '',
  ];
  const setval = (table: string, value: number) => [
    ...comment(`Name: ${table}_id_seq; Type: SEQUENCE SET; Schema: public; Owner: postgres`),
    '',
    `SELECT pg_catalog.setval('public.${table}_id_seq', ${value}, true);`,
    '',
    '',
  ];
  const constraint = (table: string, name: string, kind: string, definition: string) => [
    ...comment(`Name: ${table} ${name}; Type: ${kind}; Schema: public; Owner: postgres`),
    '',
    `ALTER TABLE ONLY public.${table}`,
    `    ADD CONSTRAINT ${name} ${definition};`,
    '',
    '',
  ];
  return [
    "SET default_tablespace = '';",
    '',
    'SET default_table_access_method = heap;',
    '',
    ...(notes ? create('notes', ['body text']) : []),
    ...create('transactions', [
      'id integer NOT NULL',
      'user_id integer NOT NULL',
      'amount numeric(12,2) NOT NULL',
    ]),
    ...sequence('transactions'),
    ...create('users', ['id integer NOT NULL', 'name text NOT NULL']),
    ...sequence('users'),
    ...idDefault('transactions'),
    ...idDefault('users'),
    ...(notes ? table('notes', ['body'], notes) : []),
    ...table(
      'transactions',
      ['id', 'user_id', 'amount'],
      ['1\t1\t10.00', '2\t2\t20.00', '3\t3\t30.00', '4\t1\t5.50', '5\t2\t7.25'],
    ),
    ...table('users', ['id', 'name'], ['1\talice', '2\tbob', '3\tcharlie']),
    ...setval('transactions', 5),
    ...setval('users', 3),
    ...constraint('transactions', 'transactions_pkey', 'CONSTRAINT', 'PRIMARY KEY (id)'),
    ...constraint('users', 'users_name_key', 'CONSTRAINT', 'UNIQUE (name)'),
    ...constraint('users', 'users_pkey', 'CONSTRAINT', 'PRIMARY KEY (id)'),
    ...constraint(
      'transactions',
      'transactions_user_id_fkey',
      'FK CONSTRAINT',
      'FOREIGN KEY (user_id) REFERENCES public.users(id)',
    ),
  ];
}

/**
 * `\connect` as pg_dump's appendPsqlMetaConnect writes it: the identifier for names of letters, digits,
 * `_` and `.`; otherwise a quoted connection string `-reuse-previous=on "dbname='…'"`.
 */
function connect(db: string): string {
  if (/^[A-Za-z0-9_.]+$/.test(db)) return `\\connect ${dumpIdent(db)}`;
  const connstr = `dbname='${db.replace(/['\\]/g, '\\$&')}'`;
  return `\\connect -reuse-previous=on "${connstr.replaceAll('"', '""')}"`;
}

/** One database's part of a pg_dumpall: its banner, then what `pg_dump [--create]` writes for it. */
function databaseSection(db: string, options: DumpTextOptions, withTables: boolean): string[] {
  const restrict = options.restrict ?? true;
  const key = restrict ? restrictKey(`database:${db}`) : undefined;
  const header = [...comment(`Database "${db}" dump`), ''];
  const body = withTables ? tables(options) : [];
  if (db === 'template1' || db === 'postgres') {
    return [...header, connect(db), '', ...pgDumpHead(options, key), ...body, ...pgDumpTail(key)];
  }
  const ident = dumpIdent(db);
  return [
    ...header,
    ...pgDumpHead(options, key),
    ...comment(`Name: ${db}; Type: DATABASE; Schema: -; Owner: postgres`),
    '',
    `CREATE DATABASE ${ident} WITH TEMPLATE = template0 ENCODING = 'UTF8' LOCALE_PROVIDER = libc LOCALE = 'C.UTF-8';`,
    '',
    '',
    `ALTER DATABASE ${ident} OWNER TO postgres;`,
    '',
    ...(key ? [`\\unrestrict ${key}`] : []),
    connect(db),
    ...(key ? [`\\restrict ${key}`] : []),
    '',
    ...settings(options),
    '',
    ...body,
    ...pgDumpTail(key),
  ];
}

function roleLines(role: DumpRole, bootstrap: boolean): string[] {
  const ident = dumpIdent(role.name);
  const attributes = role.attributes ?? (bootstrap ? BOOTSTRAP_ATTRIBUTES : ROLE_ATTRIBUTES);
  return [
    `CREATE ROLE ${ident};`,
    `ALTER ROLE ${ident} WITH ${attributes} PASSWORD ${sqlString(scramVerifier(role.name))};`,
    ...(role.comment === undefined ? [] : [`COMMENT ON ROLE ${ident} IS ${sqlString(role.comment)};`]),
  ];
}

/** A whole-cluster `pg_dumpall` plain dump, as PostgreSQL 15.18 writes it (with `\restrict`). */
export function pgDumpallText(options: DumpTextOptions = {}): string {
  const restrict = options.restrict ?? true;
  const key = restrict ? restrictKey('globals') : undefined;
  const bootstrap = options.bootstrapRole ?? 'postgres';
  // pg_dumpall lists roles and databases by name in C order; template1 always comes first.
  const roles = [{ name: bootstrap }, ...(options.roles ?? [])].sort((a, b) =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
  );
  const own = options.databases ?? ['backup_test'];
  const databases = ['postgres', ...own].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const lines = [
    ...comment('PostgreSQL database cluster dump'),
    '',
    ...(key ? [`\\restrict ${key}`, ''] : []),
    'SET default_transaction_read_only = off;',
    '',
    "SET client_encoding = 'UTF8';",
    'SET standard_conforming_strings = on;',
    '',
    ...comment('Roles'),
    '',
    ...roles.flatMap((r) => roleLines(r, r.name === bootstrap)),
    '',
    ...comment('User Configurations'),
    // Empty settings and membership sections leave these blank lines behind.
    '',
    '',
    '',
    '',
    '',
    '',
    '',
    '',
    ...(key ? [`\\unrestrict ${key}`, ''] : []),
    ...comment('Databases'),
    '',
    ...databaseSection('template1', options, false),
    ...databases.flatMap((db) => databaseSection(db, options, db === own[0])),
    ...(options.clusterTrailer === false
      ? []
      : [...comment('PostgreSQL database cluster dump complete'), '']),
  ];
  return `${lines.join('\n')}\n`;
}

/** A one-database `pg_dump` plain dump (no `--create`) of the canary database. */
export function pgDumpText(options: DumpTextOptions = {}): string {
  const key = (options.restrict ?? true) ? restrictKey('pg_dump') : undefined;
  return `${[...pgDumpHead(options, key), ...tables(options), ...pgDumpTail(key)].join('\n')}\n`;
}
