/**
 * Corpus (issue #10): real pg_dumpall output of a cluster with the session quirks pg_dump's output
 * depends on — reg* columns, `ALTER DATABASE app SET timezone`, `ALTER ROLE postgres SET search_path =
 * admin, pg_catalog` — beside the operator's own canary; as the CronJob dumps it, with
 * --quote-all-identifiers, --inserts, --clean and --clean --if-exists. Every one is honest: each must
 * PASS with every table of the source's catalog verified.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { psql } from '../support/cluster.ts';
import { drillSql } from '../support/corpus/drill.ts';
import { DUMP_VARIANTS, type DumpVariant, pgDumpall } from '../support/corpus/dumps.ts';
import { expectEveryTableVerified, expectHonestPass, explain } from '../support/corpus/honest.ts';
import {
  APP_DATABASE,
  APP_TIME_ZONE,
  buildSourceCluster,
  type CatalogTable,
  catalogTables,
  type SourceCluster,
} from '../support/corpus/source-cluster.ts';
import { restoreLists } from '../support/corpus/verdicts.ts';

const VARIANTS: DumpVariant[] = ['copy', 'quote-all-identifiers', 'inserts', 'clean', 'clean-if-exists'];

let source: SourceCluster;
let root: string;
let tables: CatalogTable[];
let superuserSearchPath: string;
const dumps = new Map<DumpVariant, string>();

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'corpus-quirks-'));
  source = await buildSourceCluster({ quirks: true });
  tables = await catalogTables(source.handle);
  superuserSearchPath = await psql(source.handle, 'backup_test', 'SHOW search_path');
  for (const variant of VARIANTS) dumps.set(variant, await pgDumpall(source.handle, DUMP_VARIANTS[variant]));
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

describe('corpus: session quirks (reg*, per-database time zone, superuser search_path), --verify deep', () => {
  it('the dumps carry the quirks the verdicts below must survive', () => {
    const dump = dumpOf('copy');
    expect(dump).toContain("ALTER ROLE postgres SET search_path TO 'admin', 'pg_catalog';");
    expect(dump).toContain(`ALTER DATABASE ${APP_DATABASE} SET "TimeZone" TO '${APP_TIME_ZONE}';`);
    // pg_dump wrote the timestamptz values in the database's own zone, the reg* values qualified.
    expect(dump).toMatch(/\t2026-12-01 0\d:\d\d:\d\d\+05:30\t/);
    expect(dump).toContain('1\tpublic.inventory\tapp.kind\tpublic.touch');
    expect(dumpOf('quote-all-identifiers')).toContain(
      '1\t"public"."inventory"\t"app"."kind"\t"public"."touch"',
    );
    // Without the role setting in effect, the search_path quirk would test nothing.
    expect(superuserSearchPath).toBe('admin, pg_catalog');
    expect(new Set(tables.map((t) => t.database))).toEqual(new Set(['postgres', 'backup_test', 'app']));
  });

  for (const variant of ['copy', 'quote-all-identifiers', 'inserts'] as const) {
    it(`an honest ${variant} dump (pg_dumpall ${DUMP_VARIANTS[variant].join(' ') || 'as the CronJob runs it'}) PASSES, every table verified`, async () => {
      const result = await drillSql(root, variant, dumpOf(variant));
      expectHonestPass(result);
      expectEveryTableVerified(result, tables);
    });
  }

  it('an honest --clean dump PASSES, every table verified, listing the DROPs an empty server cannot run', async () => {
    const result = await drillSql(root, 'clean', dumpOf('clean'));
    expectHonestPass(result);
    expectEveryTableVerified(result, tables);
    expect(restoreLists(result.report, 'DROP ROLE postgres'), explain(result)).toBe(true);
    expect(restoreLists(result.report, `DROP DATABASE ${APP_DATABASE}`), explain(result)).toBe(true);
  });

  it('an honest --clean --if-exists dump PASSES, every table verified, listing the DROP of the connecting role', async () => {
    const result = await drillSql(root, 'clean-if-exists', dumpOf('clean-if-exists'));
    expectHonestPass(result);
    expectEveryTableVerified(result, tables);
    expect(restoreLists(result.report, 'DROP ROLE IF EXISTS postgres'), explain(result)).toBe(true);
  });
});
