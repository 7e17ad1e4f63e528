/**
 * Corpus (issue #10): real pg_dumpall output of a cluster shaped unlike our fixture (the operator's own
 * canary columns, an application database of mixed types) in the three INSERT formats, drilled with
 * `--verify deep`: each honest one PASSES with every table of the source's catalog verified; a rule
 * swallowing one table's INSERTs and a trigger rewriting rows during COPY each FAIL, naming the table.
 * (The same shape as the CronJob dumps it, COPY, is drilled in expectations-and-canary.test.ts.)
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CASES, type CorpusGroup, caseNamed, insertFormatGroup } from '../support/corpus/corpus.ts';
import { drillCase } from '../support/corpus/drill.ts';
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
