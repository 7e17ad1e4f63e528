/**
 * Corpus (issue #10): what a backup asks of the host. A source with tablespaces — one whose directory
 * still holds the source's own tablespace, one whose directory is gone, one whose directory exists
 * empty — PASSES a `--verify deep` drill, and nothing outside the drill's --temp-dir was created or
 * changed (the tablespace directories, their parents, /tmp's top level and the temp dir itself,
 * snapshotted before and after). A source with an extension the target lacks FAILS in precheck,
 * naming the extension, before any server is written.
 */
import { chmod, chown, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { psql, startTestCluster } from '../support/cluster.ts';
import { drillSql } from '../support/corpus/drill.ts';
import { pgDumpall } from '../support/corpus/dumps.ts';
import {
  diffSnapshots,
  type FsSnapshot,
  snapshot,
  tablespaceFootprints,
} from '../support/corpus/fs-snapshot.ts';
import { expectEveryTableVerified, expectHonestPass, explain } from '../support/corpus/honest.ts';
import { type RelocatedInstall, relocatedInstall } from '../support/corpus/relocated-install.ts';
import {
  APP_DATABASE,
  buildSourceCluster,
  type CatalogTable,
  catalogTables,
  machineBinDir,
  type SourceCluster,
} from '../support/corpus/source-cluster.ts';
import { failedNaming, restoreNotRun } from '../support/corpus/verdicts.ts';
import { postgresOsUser } from '../support/live-server.ts';

let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'corpus-host-'));
  // The servers run as the postgres OS user when the tests run as root: they must reach in.
  await chmod(root, 0o755);
});
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

/** A directory the source's server (the postgres OS user, under root) may take as a tablespace. */
async function serverDir(path: string): Promise<void> {
  await mkdir(path, { recursive: true });
  if (process.getuid?.() === 0) {
    const { uid, gid } = await postgresOsUser();
    await chown(path, uid, gid);
  }
}

describe('corpus: a backup with tablespaces', () => {
  let source: SourceCluster;
  let tables: CatalogTable[];
  let dump: string;
  /** At /tmp's top level, holding the (stopped) source's own tablespace: PG_15_… and its files. */
  let inUse: string;
  /** Parent of the other two locations. */
  let parent: string;
  let gone: string;
  let empty: string;
  let tempDir: string;

  beforeAll(async () => {
    inUse = await mkdtemp(join(tmpdir(), 'corpus-tablespace-in-use-'));
    await chmod(inUse, 0o700);
    await serverDir(inUse);
    parent = join(root, 'tablespaces');
    gone = join(parent, 'gone');
    empty = join(parent, 'empty');
    await serverDir(gone);
    await serverDir(empty);
    tempDir = join(root, 'drill-temp');
    await mkdir(tempDir);
    await chmod(tempDir, 0o755);

    source = await buildSourceCluster({ tempRoot: root });
    // pg_dumpall writes them in this (oid) order: an existing empty directory (the one a careless
    // restore takes over), a missing one, the source's own. One statement per psql call: CREATE
    // TABLESPACE cannot run inside a transaction block.
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
    // The drill host as the operator's can be: the source's tablespace directory still in use by its
    // (now stopped) server, one location gone, one an existing empty directory (mode 755).
    await psql(
      source.handle,
      APP_DATABASE,
      'DROP TABLE public.gone_rows, public.empty_rows; DROP INDEX public.hot_rows_v',
    );
    await psql(source.handle, 'postgres', 'DROP TABLESPACE gone_space');
    await psql(source.handle, 'postgres', 'DROP TABLESPACE empty_space');
    await source.stop();
    await rm(gone, { recursive: true });
    await chmod(empty, 0o755);
  });
  afterAll(async () => {
    await source?.stop();
    if (inUse) await rm(inUse, { recursive: true, force: true });
  });

  it('the dump names the three locations', () => {
    for (const location of [inUse, gone, empty]) expect(dump).toContain(`LOCATION '${location}'`);
    expect(tables.map((t) => t.table)).toEqual(
      expect.arrayContaining(['public.hot_rows', 'public.gone_rows', 'public.empty_rows']),
    );
  });

  it('PASSES, every table verified, and nothing outside the drill temp dir was created or changed', async () => {
    const watched = async () => {
      const parts: FsSnapshot[] = [
        await snapshot(inUse),
        await snapshot(parent),
        await snapshot(root, 1),
        await snapshot(tempDir, Number.POSITIVE_INFINITY, { rootMtime: false }),
      ];
      return new Map(parts.flatMap((part) => [...part]));
    };
    const tmpBefore = await snapshot(tmpdir(), 1);
    const before = await watched();
    const result = await drillSql(root, 'tablespace-backup', dump, ['--temp-dir', tempDir]);
    const after = await watched();
    const tmpAfter = await snapshot(tmpdir(), 1);

    // The drill's own backup and report directories are the only new entries of `root`.
    const mine = [join(root, 'tablespace-backup-report'), join(root, 'tablespace-backup')];
    const changes = diffSnapshots(before, after).filter(
      (line) => !mine.some((dir) => line.startsWith(`+ ${dir}`)) && !line.startsWith(`~ ${root}: `),
    );
    expect(changes, explain(result)).toEqual([]);
    expect(await tablespaceFootprints(tmpBefore, tmpAfter), explain(result)).toEqual([]);
    expectHonestPass(result);
    expectEveryTableVerified(result, tables);
  });
});

describe('corpus: a backup with an extension the target lacks', () => {
  const EXTENSION = 'corpus_ledger';
  let install: RelocatedInstall;
  let source: SourceCluster;
  let dump: string;
  let targetBinDir: string;

  beforeAll(async () => {
    targetBinDir = await machineBinDir();
    install = await relocatedInstall(targetBinDir, root, [
      {
        name: EXTENSION,
        script:
          "CREATE FUNCTION ledger_total(numeric[]) RETURNS numeric LANGUAGE sql IMMUTABLE AS 'SELECT sum(x) FROM unnest($1) AS x';\n",
      },
    ]);
    source = await buildSourceCluster({ binDir: install.binDir, tempRoot: root });
    await psql(
      source.handle,
      APP_DATABASE,
      `CREATE EXTENSION ${EXTENSION}; CREATE TABLE public.ledger (id integer PRIMARY KEY, parts numeric[], total numeric GENERATED ALWAYS AS (public.ledger_total(parts)) STORED); INSERT INTO public.ledger (id, parts) VALUES (1, '{1.5,2.5}'), (2, '{}')`,
    );
    dump = await pgDumpall(source.handle);
    await source.stop();
  });
  afterAll(async () => {
    await source?.stop();
    await install?.remove();
  });

  it('the source has it and the target does not (the relocated install works)', async () => {
    expect(dump).toContain(`CREATE EXTENSION IF NOT EXISTS ${EXTENSION} WITH SCHEMA public;`);
    const target = await startTestCluster();
    try {
      expect(
        await psql(
          target.handle,
          'postgres',
          `SELECT count(*) FROM pg_catalog.pg_available_extensions WHERE name = '${EXTENSION}'`,
        ),
      ).toBe('0\n');
    } finally {
      await target.stop();
    }
  });

  it('FAILS in precheck naming the extension, before the restore writes the server', async () => {
    const result = await drillSql(root, 'extension', dump, ['--pg-bindir', targetBinDir]);
    expect([result.report.verdict, result.code], explain(result)).toEqual(['failed', 1]);
    expect(failedNaming(result.report, [EXTENSION], 'precheck'), explain(result)).not.toEqual([]);
    expect(restoreNotRun(result.report), explain(result)).toBe(true);
  });
});
