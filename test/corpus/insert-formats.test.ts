/**
 * Corpus (issue #10): real pg_dumpall output of a cluster shaped unlike our fixture (the operator's own
 * canary columns, an application database of mixed types) in the three INSERT formats, drilled with
 * `--verify deep`: each honest one PASSES with every table of the source's catalog verified; a rule
 * swallowing one table's INSERTs and a trigger rewriting rows during COPY each FAIL, naming the table.
 * (The same shape as the CronJob dumps it, COPY, is drilled in expectations-and-canary.test.ts.)
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { psql, startTestCluster, toolOutput } from '../support/cluster.ts';
import { CASES, type CorpusGroup, caseNamed, insertFormatGroup } from '../support/corpus/corpus.ts';
import { drillCase } from '../support/corpus/drill.ts';
import { readCorpusBackup } from '../support/corpus/dumps.ts';
import { expectCauseNamed, expectHonestCase } from '../support/corpus/honest.ts';
import type { CatalogTable } from '../support/corpus/source-cluster.ts';

let root: string;
let group: CorpusGroup & { tables: CatalogTable[] };

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'corpus-inserts-'));
  group = await insertFormatGroup(root);
});
afterAll(async () => {
  await group?.cleanup();
  if (root) await rm(root, { recursive: true, force: true });
});

describe('corpus: INSERT-format dumps, --verify deep', () => {
  it('the source catalog has tables in both databases for deep verification', () => {
    // The verdicts below compare against this list, never a hard-coded count.
    expect(new Set(group.tables.map((t) => t.database))).toEqual(new Set(['backup_test', 'app']));
  });

  it('the honest dumps are in their INSERT format; the tampered ones really lose and alter rows in a real restore', async () => {
    for (const name of CASES.insertFormats.honest) {
      const sql = await readCorpusBackup(caseNamed(group, name).backups);
      expect(sql, name).toContain('INSERT INTO public.inventory ');
      expect(sql, name).not.toContain('COPY public.inventory ');
    }
    // Replayed by psql as it is, less the superuser's own CREATE/ALTER ROLE (the password it sets is the
    // source's), then read back: the FAILs demanded below are the truth, not an artefact of tampering.
    const replay = async (name: string, query: string) => {
      const file = join(root, `${name}.sql`);
      const sql = await readCorpusBackup(caseNamed(group, name).backups);
      await writeFile(file, sql.replace(/^(CREATE ROLE postgres;|ALTER ROLE postgres WITH .*)$/gm, '-- $1'));
      const target = await startTestCluster();
      try {
        await toolOutput(target.handle, 'psql', ['-X', '-q', '-d', 'postgres', '-f', file]);
        return { sql, read: (await psql(target.handle, 'app', query)).trim() };
      } finally {
        await target.stop();
      }
    };
    const rule = await replay('rule-swallows-inserts', 'SELECT count(*) FROM public.loose');
    expect(rule.sql.match(/^INSERT INTO public\.loose /gm)?.length ?? 0).toBeGreaterThan(0);
    expect(rule.read).toBe('0');
    const trigger = await replay(
      'trigger-rewrites-copy',
      "SELECT count(*) FILTER (WHERE note <> upper(note)) || ' ' || count(note) FROM app.events",
    );
    expect(trigger.sql).toMatch(/\tevent \d+\n/);
    expect(trigger.read).toMatch(/^0 [1-9]\d*$/);
  });

  for (const name of CASES.insertFormats.honest) {
    it(`${name}: an honest dump PASSES, every table verified`, async () => {
      const corpusCase = caseNamed(group, name);
      expectHonestCase(await drillCase(corpusCase, root), corpusCase);
    });
  }

  for (const name of CASES.insertFormats.tampered) {
    it(`${name}: FAILS naming the table`, async () => {
      const corpusCase = caseNamed(group, name);
      expectCauseNamed(await drillCase(corpusCase, root), corpusCase);
    });
  }
});
