import { chmod, chown, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { psql } from '../cluster.ts';
import { postgresOsUser } from '../live-server.ts';
import { type CorpusCase, type CorpusGroup, honestCase } from './case.ts';
import { pgDumpall, writeCorpusBackup } from './dumps.ts';
import { relocatedInstall } from './relocated-install.ts';
import {
  APP_DATABASE,
  buildSourceCluster,
  type CatalogTable,
  catalogTables,
  machineBinDir,
} from './source-cluster.ts';

// The corpus groups about what a backup asks of the drill's host: tablespace locations, extensions.

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
    const drilled = await honestCase(
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
