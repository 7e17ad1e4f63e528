/**
 * Corpus (issue #10): what a backup asks of the host. A source with tablespaces — one whose directory
 * still holds the source's own tablespace (at /tmp's top level), one whose directory is gone, one whose
 * directory exists empty — PASSES a `--verify deep` drill, and nothing outside the drill's --temp-dir
 * was created or changed (the tablespace directories, their parents, /tmp's top level and the temp dir
 * itself, snapshotted before and after). A source with an extension the target lacks FAILS in
 * precheck, naming the extension, before any server is written.
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { psql, startTestCluster } from '../support/cluster.ts';
import {
  CASES,
  caseNamed,
  extensionGroup,
  MISSING_EXTENSION,
  tablespaceGroup,
} from '../support/corpus/corpus.ts';
import { drillCase } from '../support/corpus/drill.ts';
import {
  diffSnapshots,
  type FsSnapshot,
  snapshot,
  tablespaceFootprints,
} from '../support/corpus/fs-snapshot.ts';
import {
  expectCauseNamed,
  expectHonestCase,
  expectRestoreNotRun,
  explain,
} from '../support/corpus/honest.ts';

let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'corpus-host-'));
  // The servers run as the postgres OS user when the tests run as root: they must reach in.
  await chmod(root, 0o755);
});
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

describe('corpus: a backup with tablespaces', () => {
  let group: Awaited<ReturnType<typeof tablespaceGroup>>;

  beforeAll(async () => {
    group = await tablespaceGroup(root);
  });
  afterAll(async () => {
    await group?.cleanup();
  });

  it('the dump names the three locations and the tables in them', () => {
    const { inUse, gone, empty } = group.locations;
    for (const location of [inUse, gone, empty]) expect(group.dump).toContain(`LOCATION '${location}'`);
    expect(group.tables.map((t) => t.table)).toEqual(
      expect.arrayContaining(['public.hot_rows', 'public.gone_rows', 'public.empty_rows']),
    );
  });

  for (const name of CASES.tablespaces.honest) {
    it(`${name}: PASSES, every table verified, nothing outside the drill's temp dir created or changed`, async () => {
      const corpusCase = caseNamed(group, name);
      const { inUse } = group.locations;
      const watched = async () => {
        const parts: FsSnapshot[] = [
          await snapshot(inUse),
          await snapshot(group.parent),
          await snapshot(root, 1),
          // Last, so it replaces root's entry for it: its own mtime changes as the drill's cluster
          // directory comes and goes (it is the drill's to use); what it holds afterwards counts.
          await snapshot(group.tempDir, Number.POSITIVE_INFINITY, { rootMtime: false }),
        ];
        return new Map(parts.flatMap((part) => [...part]));
      };
      const tmpBefore = await snapshot(tmpdir(), 1);
      const before = await watched();
      const drill = await drillCase(corpusCase, root);
      const after = await watched();
      const tmpAfter = await snapshot(tmpdir(), 1);

      // The run's own report directory is the only thing it may add to `root` (whose mtime follows).
      const report = join(root, `${corpusCase.name}-report`);
      const changes = diffSnapshots(before, after).filter(
        (line) => !line.startsWith(`+ ${report}`) && !line.startsWith(`~ ${root}: `),
      );
      expect(changes, explain(drill)).toEqual([]);
      expect(await tablespaceFootprints(tmpBefore, tmpAfter), explain(drill)).toEqual([]);
      expectHonestCase(drill, corpusCase);
    });
  }
});

describe('corpus: a backup with an extension the target lacks', () => {
  let group: Awaited<ReturnType<typeof extensionGroup>>;

  beforeAll(async () => {
    group = await extensionGroup(root);
  });
  afterAll(async () => {
    await group?.cleanup();
  });

  it('the source had it, the target does not (the relocated install worked)', async () => {
    expect(group.dump).toContain(`CREATE EXTENSION IF NOT EXISTS ${MISSING_EXTENSION} WITH SCHEMA public;`);
    const target = await startTestCluster();
    try {
      const available = await psql(
        target.handle,
        'postgres',
        `SELECT count(*) FROM pg_catalog.pg_available_extensions WHERE name = '${MISSING_EXTENSION}'`,
      );
      expect(available.trim()).toBe('0');
    } finally {
      await target.stop();
    }
  });

  for (const name of CASES.extension.tampered) {
    it(`${name}: FAILS in precheck naming the extension, before the restore writes the server`, async () => {
      const corpusCase = caseNamed(group, name);
      const drill = await drillCase(corpusCase, root);
      expectCauseNamed(drill, corpusCase);
      expectRestoreNotRun(drill);
    });
  }
});
