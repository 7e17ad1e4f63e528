import { chmod, chown, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Phase } from '../../../lib/report/steps.ts';
import { psql } from '../cluster.ts';
import { type LiveServer, postgresOsUser, startLiveServer } from '../live-server.ts';
import {
  copyRewritingTrigger,
  DUMP_VARIANTS,
  type DumpVariant,
  pgDumpall,
  swallowInsertsRule,
  writeCorpusBackup,
} from './dumps.ts';
import { relocatedInstall } from './relocated-install.ts';
import {
  APP_DATABASE,
  appDatabaseSql,
  applyQuirks,
  buildSourceCluster,
  type CatalogTable,
  catalogTables,
  machineBinDir,
  OPERATOR_CANARY,
  operatorCanarySql,
} from './source-cluster.ts';

// The corpus, as data: each case is one directory holding one real pg_dumpall backup (gzip, the
// CronJob's file name), the CLI arguments to drill it with, and the verdict the truth demands. Built in
// groups, one source cluster per group (each group is what one test file needs; `buildCorpus` builds
// them all, for a benchmark or an adversarial run). Drill a case with drill.ts's `drillCase`.

export interface CorpusCase {
  /** Unique within the corpus; the backup directory's name. */
  name: string;
  /** What the backup is, in a sentence. */
  description: string;
  /** `--backups DIR`: a directory holding this one backup. */
  backups: string;
  /** Further CLI arguments (`--expect FILE`, `--temp-dir DIR`, `--mode canary` …). */
  args: string[];
  /** Environment of the CLI run (a `--target url` case's DATABASE_URL and PGPASSWORD). */
  env: NodeJS.ProcessEnv;
  /** The true verdict. */
  verdict: 'passed' | 'failed';
  /** A passing deep drill: every table the dump carries, from the source's catalog (N = M of these). */
  tables?: CatalogTable[];
  /** A failing drill: the words its failed check must name (the cause), and the check's phase. */
  cause?: { words: string[]; phase: Phase };
  /** Statements an honest restore could not run that the report must list (scope 5). */
  listed?: string[];
  /** The verdict must come before the restore writes the server (precheck failures). */
  beforeRestore?: boolean;
}

export interface CorpusGroup {
  cases: CorpusCase[];
  /** Removes what the group built (backups stay until `root` is removed). */
  cleanup(): Promise<void>;
}

/**
 * The case names of each group, known before anything is built (a test declares one `it` per case at
 * collection time and builds the group in beforeAll).
 */
export const CASES = {
  insertFormats: {
    honest: ['inserts', 'column-inserts', 'rows-per-insert'],
    tampered: ['rule-swallows-inserts', 'trigger-rewrites-copy'],
  },
  sessionQuirks: {
    honest: ['quirks-copy', 'quirks-quote-all-identifiers', 'quirks-inserts'],
    clean: ['quirks-clean', 'quirks-clean-if-exists'],
  },
  expectations: {
    honest: ['expect-honest'],
    tampered: ['expect-amount-changed', 'expect-transaction-moved'],
  },
  liveCanary: { honest: ['live-canary', 'live-canary-copy'] },
  tablespaces: { honest: ['tablespaces'] },
  extension: { tampered: ['extension-missing'] },
} as const;

/** The case of that name (fails the test naming what the group holds if there is none). */
export function caseNamed(group: CorpusGroup, name: string): CorpusCase {
  const found = group.cases.find((c) => c.name === name);
  if (!found)
    throw new Error(`no corpus case ${name}; the group holds ${group.cases.map((c) => c.name).join(', ')}`);
  return found;
}

function honest(
  root: string,
  name: string,
  description: string,
  tables: CatalogTable[],
  extra: Partial<CorpusCase> = {},
) {
  return async (sql: string): Promise<CorpusCase> => ({
    name,
    description,
    backups: await writeCorpusBackup(root, name, sql),
    args: [],
    env: {},
    verdict: 'passed',
    tables,
    ...extra,
  });
}

function flags(variant: DumpVariant): string {
  return DUMP_VARIANTS[variant].join(' ') || 'as the CronJob runs it';
}

/**
 * The operator-shaped cluster (own canary columns, mixed-type app database) in the three INSERT
 * formats, each honest; a --inserts dump whose rule swallows one table's rows; a COPY dump whose
 * trigger rewrites one table's rows while they load.
 */
export async function insertFormatGroup(root: string): Promise<CorpusGroup & { tables: CatalogTable[] }> {
  const source = await buildSourceCluster();
  try {
    const tables = await catalogTables(source.handle);
    const cases: CorpusCase[] = [];
    for (const variant of ['inserts', 'column-inserts', 'rows-per-insert'] as const) {
      const sql = await pgDumpall(source.handle, DUMP_VARIANTS[variant]);
      cases.push(await honest(root, variant, `honest pg_dumpall ${flags(variant)}`, tables)(sql));
    }
    const inserts = await pgDumpall(source.handle, DUMP_VARIANTS.inserts);
    cases.push({
      name: 'rule-swallows-inserts',
      description:
        "pg_dumpall --inserts with a rule, created before public.loose's data, that swallows its INSERTs",
      backups: await writeCorpusBackup(
        root,
        'rule-swallows-inserts',
        swallowInsertsRule(inserts, 'public', 'loose'),
      ),
      args: [],
      env: {},
      verdict: 'failed',
      cause: { words: ['public.loose'], phase: 'verify' },
    });
    const copy = await pgDumpall(source.handle);
    cases.push({
      name: 'trigger-rewrites-copy',
      description:
        "pg_dumpall with a BEFORE INSERT trigger, created before app.events's COPY, that rewrites its rows",
      backups: await writeCorpusBackup(
        root,
        'trigger-rewrites-copy',
        copyRewritingTrigger(copy, 'app', 'events', 'note'),
      ),
      args: [],
      env: {},
      verdict: 'failed',
      cause: { words: ['app.events'], phase: 'verify' },
    });
    return { cases, tables, cleanup: async () => {} };
  } finally {
    await source.stop();
  }
}

/**
 * The cluster with the session quirks (reg* columns, `ALTER DATABASE app SET timezone`, the
 * superuser's own search_path) as the CronJob dumps it, with --quote-all-identifiers, --inserts,
 * --clean and --clean --if-exists: every one honest. `dump` is the plain one's text, `searchPath` what
 * the source's superuser sessions resolve names with.
 */
export async function sessionQuirkGroup(
  root: string,
): Promise<CorpusGroup & { tables: CatalogTable[]; dumps: Map<DumpVariant, string>; searchPath: string }> {
  const source = await buildSourceCluster({ quirks: true });
  try {
    const tables = await catalogTables(source.handle);
    const searchPath = (await psql(source.handle, OPERATOR_CANARY.database, 'SHOW search_path')).trim();
    const dumps = new Map<DumpVariant, string>();
    const cases: CorpusCase[] = [];
    const listed: Partial<Record<DumpVariant, string[]>> = {
      clean: ['DROP ROLE postgres', `DROP DATABASE ${APP_DATABASE}`],
      'clean-if-exists': ['DROP ROLE IF EXISTS postgres'],
    };
    for (const variant of ['copy', 'quote-all-identifiers', 'inserts', 'clean', 'clean-if-exists'] as const) {
      const sql = await pgDumpall(source.handle, DUMP_VARIANTS[variant]);
      dumps.set(variant, sql);
      const extra = listed[variant] ? { listed: listed[variant] } : {};
      cases.push(
        await honest(
          root,
          `quirks-${variant}`,
          `honest pg_dumpall ${flags(variant)} of the quirks cluster`,
          tables,
          extra,
        )(sql),
      );
    }
    return { cases, tables, dumps, searchPath, cleanup: async () => {} };
  } finally {
    await source.stop();
  }
}

/** The `record` step of the expectations group: writes the expectations file from the source. */
export type Recorder = (
  out: string,
  env: NodeJS.ProcessEnv,
) => Promise<{ code: number | null; stdout: string; stderr: string }>;

/**
 * Expectations recorded once from the honest source (`record`), then three backups drilled with
 * `--expect`: the honest one (PASS); one whose canary transaction 4 reads 1000000.00 instead of -20.00
 * (FAIL naming the table, the key and both values); one whose transaction 5 moved from bob to charlie.
 */
export async function expectationsGroup(
  root: string,
  record: Recorder,
): Promise<
  CorpusGroup & { expectFile: string; recorded: Awaited<ReturnType<Recorder>>; tables: CatalogTable[] }
> {
  const { database: canary, transactions: tx } = OPERATOR_CANARY;
  const source = await buildSourceCluster();
  try {
    const tables = await catalogTables(source.handle);
    const expectFile = join(root, 'expectations.yaml');
    const recorded = await record(expectFile, source.cliEnv);
    const args = ['--expect', expectFile];
    const cases: CorpusCase[] = [];
    cases.push(
      await honest(
        root,
        'expect-honest',
        'honest pg_dumpall drilled against its recorded expectations',
        tables,
        {
          args,
        },
      )(await pgDumpall(source.handle)),
    );
    await psql(
      source.handle,
      canary,
      `UPDATE ${tx.table} SET ${tx.amountColumn} = 1000000.00 WHERE ${tx.key} = 4`,
    );
    cases.push({
      name: 'expect-amount-changed',
      description:
        'pg_dumpall after canary transaction 4 changed from -20.00 to 1000000.00, against the expectations',
      backups: await writeCorpusBackup(root, 'expect-amount-changed', await pgDumpall(source.handle)),
      args,
      env: {},
      verdict: 'failed',
      cause: { words: ['transactions', '4', '-20.00', '1000000.00'], phase: 'verify' },
    });
    await psql(
      source.handle,
      canary,
      `UPDATE ${tx.table} SET ${tx.amountColumn} = -20.00 WHERE ${tx.key} = 4`,
    );
    await psql(
      source.handle,
      canary,
      `UPDATE ${tx.table} SET ${tx.userColumn} = (SELECT uid FROM ${OPERATOR_CANARY.users.table} WHERE login = 'charlie') WHERE ${tx.key} = 5`,
    );
    cases.push({
      name: 'expect-transaction-moved',
      description:
        'pg_dumpall after canary transaction 5 moved from bob to charlie, against the expectations',
      backups: await writeCorpusBackup(root, 'expect-transaction-moved', await pgDumpall(source.handle)),
      args,
      env: {},
      verdict: 'failed',
      cause: { words: ['transactions', '5'], phase: 'verify' },
    });
    return { cases, expectFile, recorded, tables, cleanup: async () => {} };
  } finally {
    await source.stop();
  }
}

/**
 * Canary modes on a live server (not scratch, not started by the drill) whose canary has the operator's
 * own columns and whose superuser has its own search_path (the quirks): its own pg_dumpall, drilled
 * `--target url --mode canary` and `--mode canary-copy` (canary verification). `logins()` reads the
 * live canary's users, to show it is whole after each drill. The server runs until cleanup.
 */
export async function liveCanaryGroup(
  root: string,
): Promise<CorpusGroup & { live: LiveServer; logins(): Promise<string[]> }> {
  const live = await startLiveServer();
  try {
    await psql(live.handle, 'postgres', `CREATE DATABASE ${OPERATOR_CANARY.database}`);
    await psql(live.handle, OPERATOR_CANARY.database, operatorCanarySql());
    await psql(live.handle, 'postgres', `CREATE DATABASE ${APP_DATABASE}`);
    await psql(live.handle, APP_DATABASE, appDatabaseSql());
    await applyQuirks(live.handle);
    const dump = await pgDumpall(live.handle);
    const cases: CorpusCase[] = [];
    for (const mode of ['canary', 'canary-copy'] as const) {
      const name = `live-${mode}`;
      cases.push({
        name,
        description: `the live server's own pg_dumpall, drilled --mode ${mode} on it`,
        backups: await writeCorpusBackup(root, name, dump),
        args: ['--target', 'url', '--mode', mode, '--verify', 'canary'],
        env: live.cliEnv,
        verdict: 'passed',
      });
    }
    const logins = async () =>
      (
        await psql(
          live.handle,
          OPERATOR_CANARY.database,
          `SELECT ${OPERATOR_CANARY.users.nameColumn} FROM ${OPERATOR_CANARY.users.table} ORDER BY 1`,
        )
      )
        .split('\n')
        .filter(Boolean);
    return { cases, live, logins, cleanup: () => live.stop() };
  } catch (error) {
    await live.stop();
    throw error;
  }
}

/** A directory the source's server (the postgres OS user, when the tests run as root) may take. */
async function serverDir(path: string): Promise<void> {
  await mkdir(path, { recursive: true });
  if (process.getuid?.() === 0) {
    const { uid, gid } = await postgresOsUser();
    await chown(path, uid, gid);
  }
}

/**
 * Tablespaces: a source with three, whose dump is drilled on a host where one location is an existing
 * empty directory (mode 755: the one a careless restore takes over), one is gone, and one still holds
 * the (stopped) source's own tablespace — at /tmp's top level. The drill runs with `--temp-dir`
 * `tempDir`; `watched` are the paths outside it that must not change; `root` must be traversable by
 * the postgres OS user.
 */
export async function tablespaceGroup(root: string): Promise<
  CorpusGroup & {
    dump: string;
    tables: CatalogTable[];
    locations: { inUse: string; gone: string; empty: string };
    parent: string;
    tempDir: string;
  }
> {
  const inUse = await mkdtemp(join(tmpdir(), 'corpus-tablespace-in-use-'));
  const parent = join(root, 'tablespace-locations');
  const gone = join(parent, 'gone');
  const empty = join(parent, 'empty');
  const tempDir = join(root, 'drill-temp');
  const cleanup = () => rm(inUse, { recursive: true, force: true });
  try {
    await chmod(inUse, 0o700);
    for (const dir of [inUse, gone, empty]) await serverDir(dir);
    await mkdir(tempDir, { recursive: true });
    await chmod(tempDir, 0o755);
    const source = await buildSourceCluster({ tempRoot: root });
    let dump: string;
    let tables: CatalogTable[];
    try {
      // pg_dumpall writes them in this (oid) order. One statement per psql call: CREATE TABLESPACE
      // cannot run inside a transaction block.
      for (const [name, location] of [
        ['empty_space', empty],
        ['gone_space', gone],
        ['in_use_space', inUse],
      ]) {
        await psql(source.handle, 'postgres', `CREATE TABLESPACE ${name} LOCATION '${location}'`);
      }
      await psql(
        source.handle,
        APP_DATABASE,
        `CREATE TABLE public.hot_rows (id integer PRIMARY KEY, v text) TABLESPACE in_use_space;
         INSERT INTO public.hot_rows SELECT g, 'hot ' || g FROM generate_series(1, 50) g;
         CREATE TABLE public.gone_rows (id integer, v text) TABLESPACE gone_space;
         INSERT INTO public.gone_rows SELECT g, 'gone ' || g FROM generate_series(1, 20) g;
         CREATE TABLE public.empty_rows (id integer, v text) TABLESPACE empty_space;
         INSERT INTO public.empty_rows VALUES (1, 'one');
         CREATE INDEX hot_rows_v ON public.hot_rows (v) TABLESPACE empty_space;`,
      );
      tables = await catalogTables(source.handle);
      dump = await pgDumpall(source.handle);
      await psql(
        source.handle,
        APP_DATABASE,
        'DROP TABLE public.gone_rows, public.empty_rows; DROP INDEX public.hot_rows_v',
      );
      await psql(source.handle, 'postgres', 'DROP TABLESPACE gone_space');
      await psql(source.handle, 'postgres', 'DROP TABLESPACE empty_space');
    } finally {
      await source.stop();
    }
    await rm(gone, { recursive: true });
    await chmod(empty, 0o755);
    const drilled = await honest(
      root,
      'tablespaces',
      'honest pg_dumpall of a cluster with three tablespaces',
      tables,
      {
        args: ['--temp-dir', tempDir],
      },
    )(dump);
    return { cases: [drilled], dump, tables, locations: { inUse, gone, empty }, parent, tempDir, cleanup };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

/** The SQL-only extension only the extension group's source has. */
export const MISSING_EXTENSION = 'corpus_ledger';

/**
 * An extension the target lacks: the source runs from a relocated copy of the machine's PostgreSQL
 * with a SQL-only extension added, an app table uses it; the drill's target runs from the machine's
 * own binaries (`--pg-bindir`), which lack it. `root` must be traversable by the postgres OS user.
 */
export async function extensionGroup(
  root: string,
): Promise<CorpusGroup & { dump: string; targetBinDir: string }> {
  const targetBinDir = await machineBinDir();
  const install = await relocatedInstall(targetBinDir, root, [
    {
      name: MISSING_EXTENSION,
      script:
        "CREATE FUNCTION ledger_total(numeric[]) RETURNS numeric LANGUAGE sql IMMUTABLE AS 'SELECT sum(x) FROM unnest($1) AS x';\n",
    },
  ]);
  try {
    const source = await buildSourceCluster({ binDir: install.binDir, tempRoot: root });
    let dump: string;
    try {
      await psql(
        source.handle,
        APP_DATABASE,
        `CREATE EXTENSION ${MISSING_EXTENSION}; CREATE TABLE public.ledger (id integer PRIMARY KEY, parts numeric[], total numeric GENERATED ALWAYS AS (public.ledger_total(parts)) STORED); INSERT INTO public.ledger (id, parts) VALUES (1, '{1.5,2.5}'), (2, '{}')`,
      );
      dump = await pgDumpall(source.handle);
    } finally {
      await source.stop();
    }
    const extension: CorpusCase = {
      name: 'extension-missing',
      description: `pg_dumpall of a cluster using extension ${MISSING_EXTENSION}, which the target lacks`,
      backups: await writeCorpusBackup(root, 'extension-missing', dump),
      args: ['--pg-bindir', targetBinDir],
      env: {},
      verdict: 'failed',
      cause: { words: [MISSING_EXTENSION], phase: 'precheck' },
      beforeRestore: true,
    };
    return { cases: [extension], dump, targetBinDir, cleanup: async () => {} };
  } finally {
    // The copied install is only needed while the source runs.
    await install.remove();
  }
}

/**
 * The whole corpus under `root` (made traversable for the postgres OS user): every group's cases, the
 * live server of the canary-mode cases running until cleanup. Without `record`, the expectations group
 * is left out.
 */
export async function buildCorpus(root: string, record?: Recorder): Promise<CorpusGroup> {
  await chmod(root, 0o755);
  const groups: CorpusGroup[] = [];
  try {
    groups.push(await insertFormatGroup(root));
    groups.push(await sessionQuirkGroup(root));
    if (record) groups.push(await expectationsGroup(root, record));
    groups.push(await tablespaceGroup(root));
    groups.push(await extensionGroup(root));
    groups.push(await liveCanaryGroup(root));
  } catch (error) {
    for (const group of groups) await group.cleanup();
    throw error;
  }
  return {
    cases: groups.flatMap((g) => g.cases),
    cleanup: async () => {
      for (const group of groups) await group.cleanup();
    },
  };
}
