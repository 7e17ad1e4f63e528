/**
 * Corpus (issue #10): real pg_dumpall output of a cluster with the session quirks pg_dump's output
 * depends on — reg* columns, `ALTER DATABASE app SET timezone`, `ALTER ROLE postgres SET search_path =
 * admin, pg_catalog` — beside the operator's own canary; as the CronJob dumps it, with
 * --quote-all-identifiers, --inserts, --clean and --clean --if-exists. Every one is honest: each must
 * PASS with every table of the source's catalog verified, the clean ones listing the DROPs an empty
 * server could not run.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CASES, caseNamed, sessionQuirkGroup } from '../support/corpus/corpus.ts';
import { drillCase } from '../support/corpus/drill.ts';
import { expectHonestCase, expectListed } from '../support/corpus/honest.ts';
import { APP_DATABASE, APP_TIME_ZONE } from '../support/corpus/source-cluster.ts';

let root: string;
let group: Awaited<ReturnType<typeof sessionQuirkGroup>>;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'corpus-quirks-'));
  group = await sessionQuirkGroup(root);
});
afterAll(async () => {
  await group?.cleanup();
  if (root) await rm(root, { recursive: true, force: true });
});

describe('corpus: session quirks (reg*, per-database time zone, superuser search_path), --verify deep', () => {
  it('the dumps carry the quirks the verdicts below must survive', () => {
    const dump = group.dumps.get('copy') ?? '';
    // Without the role setting in effect, the search_path quirk would test nothing.
    expect(group.searchPath).toBe('admin, pg_catalog');
    expect(dump).toContain("ALTER ROLE postgres SET search_path TO 'admin', 'pg_catalog';");
    expect(dump).toContain(`ALTER DATABASE ${APP_DATABASE} SET "TimeZone" TO '${APP_TIME_ZONE}';`);
    // pg_dump wrote the timestamptz values in the database's own zone, the reg* values qualified.
    expect(dump).toMatch(/\t2026-12-01 0\d:\d\d:\d\d\+05:30\t/);
    expect(dump).toContain('1\tpublic.inventory\tapp.kind\tpublic.touch');
    expect(group.dumps.get('quote-all-identifiers')).toContain(
      '1\t"public"."inventory"\t"app"."kind"\t"public"."touch"',
    );
    expect(new Set(group.tables.map((t) => t.database))).toEqual(new Set(['postgres', 'backup_test', 'app']));
  });

  for (const name of CASES.sessionQuirks.honest) {
    it(`${name}: an honest dump PASSES, every table verified`, async () => {
      const corpusCase = caseNamed(group, name);
      expectHonestCase(await drillCase(corpusCase, root), corpusCase);
    });
  }

  for (const name of CASES.sessionQuirks.clean) {
    it(`${name}: an honest dump PASSES, every table verified, the DROPs it could not run listed`, async () => {
      const corpusCase = caseNamed(group, name);
      const drill = await drillCase(corpusCase, root);
      expectHonestCase(drill, corpusCase);
      expectListed(drill, corpusCase);
    });
  }
});
