/**
 * Corpus (issue #10): the operator's canary against recorded expectations, and canary mode on a live
 * server. Expectations are recorded once from the honest source with `pg-restore-drill record`; a
 * throwaway-target drill of an honest backup with `--expect` PASSES, one whose canary amount changed
 * (or whose transaction moved to another user) FAILS naming the table, the row's key and both values.
 * On a live server whose canary has the operator's own columns and whose superuser has its own
 * search_path, `--mode canary` and `--mode canary-copy` drills of its backup PASS, naming the column.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CASES, caseNamed, expectationsGroup, liveCanaryGroup } from '../support/corpus/corpus.ts';
import { drillCase, recordExpectations } from '../support/corpus/drill.ts';
import { expectCauseNamed, expectHonestCase, expectHonestPass } from '../support/corpus/honest.ts';
import { OPERATOR_CANARY } from '../support/corpus/source-cluster.ts';

const { database: CANARY, transactions: TX } = OPERATOR_CANARY;

let root: string;
let group: Awaited<ReturnType<typeof expectationsGroup>>;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'corpus-expect-'));
  group = await expectationsGroup(root, recordExpectations);
});
afterAll(async () => {
  await group?.cleanup();
  if (root) await rm(root, { recursive: true, force: true });
});

describe('corpus: the canary against expectations recorded from the source', () => {
  it('`record` writes the discovered contract and each canary table (expectations format v1)', async () => {
    const { recorded, expectFile } = group;
    expect(recorded.code, `${recorded.stdout}\n${recorded.stderr}`).toBe(0);
    const file = parse(await readFile(expectFile, 'utf8')) as {
      version?: number;
      canary?: { database?: string; users?: { table?: string; nameColumn?: string } };
      databases?: Record<string, { tables?: Record<string, { rows?: unknown }> }>;
    };
    expect(file.version).toBe(1);
    expect(file.canary?.database).toBe(CANARY);
    expect(file.canary?.users?.table).toBe(OPERATOR_CANARY.users.table);
    expect(file.canary?.users?.nameColumn).toBe(OPERATOR_CANARY.users.nameColumn);
    expect(file.databases?.[CANARY]?.tables?.[TX.table]?.rows).toBe(TX.rows.length);
    expect(file.databases?.[CANARY]?.tables?.[OPERATOR_CANARY.users.table]?.rows).toBe(
      OPERATOR_CANARY.users.names.length,
    );
  });

  for (const name of CASES.expectations.honest) {
    it(`${name}: an honest backup drilled --expect PASSES, every table verified`, async () => {
      const corpusCase = caseNamed(group, name);
      expectHonestCase(await drillCase(corpusCase, root), corpusCase);
    });
  }

  for (const name of CASES.expectations.tampered) {
    it(`${name}: FAILS --expect naming the table, the row's key (and both values)`, async () => {
      const corpusCase = caseNamed(group, name);
      expectCauseNamed(await drillCase(corpusCase, root), corpusCase);
    });
  }
});

describe('corpus: canary modes on a live server with the operator-shaped canary', () => {
  let live: Awaited<ReturnType<typeof liveCanaryGroup>>;

  beforeAll(async () => {
    live = await liveCanaryGroup(root);
  });
  afterAll(async () => {
    await live?.cleanup();
  });

  for (const name of CASES.liveCanary.honest) {
    it(`${name}: the live server's own backup PASSES, and the canary still holds its users`, async () => {
      expectHonestPass(await drillCase(caseNamed(live, name), root));
      expect(await live.logins()).toEqual([...OPERATOR_CANARY.users.names]);
    });
  }
});
