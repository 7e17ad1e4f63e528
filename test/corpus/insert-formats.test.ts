/**
 * Corpus (issue #10): real pg_dumpall output of a cluster shaped unlike our fixture (the operator's own
 * canary columns, an application database of mixed types), in COPY and the three INSERT formats,
 * drilled with `--verify deep`: each honest one PASSES with every table of the source's catalog
 * verified; a rule swallowing one table's INSERTs and a trigger rewriting rows during COPY each FAIL,
 * naming the table.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drillBackups, reportDirFor } from '../support/corpus/drill.ts';
import {
  copyRewritingTrigger,
  DUMP_VARIANTS,
  type DumpVariant,
  pgDumpall,
  swallowInsertsRule,
  writeCorpusBackup,
} from '../support/corpus/dumps.ts';
import { expectEveryTableVerified, expectHonestPass, explain } from '../support/corpus/honest.ts';
import {
  buildSourceCluster,
  type CatalogTable,
  catalogTables,
  type SourceCluster,
} from '../support/corpus/source-cluster.ts';
import { failedNaming } from '../support/corpus/verdicts.ts';

const HONEST: DumpVariant[] = ['copy', 'inserts', 'column-inserts', 'rows-per-insert'];

let source: SourceCluster;
let root: string;
let tables: CatalogTable[];
const dumps = new Map<DumpVariant, string>();

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'corpus-inserts-'));
  source = await buildSourceCluster();
  tables = await catalogTables(source.handle);
  for (const variant of HONEST) dumps.set(variant, await pgDumpall(source.handle, DUMP_VARIANTS[variant]));
  // The source is no longer needed once its dumps and catalog are taken.
  await source.stop();
});
afterAll(async () => {
  await source?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

function dumpOf(variant: DumpVariant): string {
  const dump = dumps.get(variant);
  if (dump === undefined) throw new Error(`no ${variant} dump`);
  return dump;
}

async function drill(name: string, sql: string) {
  return drillBackups(await writeCorpusBackup(root, name, sql), reportDirFor(root, name));
}

describe('corpus: COPY and INSERT-format dumps, --verify deep', () => {
  it('the source catalog has the tables deep verification must cover', () => {
    // Not hard-coded into the verdicts below: they compare against this list. It only proves the
    // corpus has work for deep verification in both databases.
    expect(new Set(tables.map((t) => t.database))).toEqual(new Set(['backup_test', 'app']));
    expect(tables.length).toBeGreaterThanOrEqual(8);
  });

  for (const variant of HONEST) {
    it(`an honest ${variant} dump (pg_dumpall ${DUMP_VARIANTS[variant].join(' ') || 'as the CronJob runs it'}) PASSES, every table verified`, async () => {
      const result = await drill(variant, dumpOf(variant));
      expectHonestPass(result);
      expectEveryTableVerified(result, tables);
    });
  }

  it('a --inserts dump whose restore loses every row of one table to a rule FAILS naming the table', async () => {
    const tampered = swallowInsertsRule(dumpOf('inserts'), 'public', 'loose');
    const result = await drill('rule-swallows-inserts', tampered);
    expect([result.report.verdict, result.code], explain(result)).toEqual(['failed', 1]);
    expect(failedNaming(result.report, ['public.loose'], 'verify'), explain(result)).not.toEqual([]);
  });

  it('a COPY dump whose rows a trigger rewrites while they load FAILS naming the table', async () => {
    const tampered = copyRewritingTrigger(dumpOf('copy'), 'app', 'events', 'note');
    const result = await drill('trigger-rewrites-copy', tampered);
    expect([result.report.verdict, result.code], explain(result)).toEqual(['failed', 1]);
    expect(failedNaming(result.report, ['app.events'], 'verify'), explain(result)).not.toEqual([]);
  });
});
