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
import { psql } from '../support/cluster.ts';
import { drillSql, recordExpectations } from '../support/corpus/drill.ts';
import { pgDumpall } from '../support/corpus/dumps.ts';
import { expectEveryTableVerified, expectHonestPass, explain } from '../support/corpus/honest.ts';
import {
  APP_DATABASE,
  appDatabaseSql,
  applyQuirks,
  buildSourceCluster,
  type CatalogTable,
  catalogTables,
  OPERATOR_CANARY,
  operatorCanarySql,
  type SourceCluster,
} from '../support/corpus/source-cluster.ts';
import { failedNaming } from '../support/corpus/verdicts.ts';
import { type LiveServer, startLiveServer } from '../support/live-server.ts';

const { database: CANARY, transactions: TX } = OPERATOR_CANARY;

let root: string;
let source: SourceCluster;
let tables: CatalogTable[];
let expectFile: string;
let recorded: { code: number | null; stdout: string; stderr: string };
const dumps: Record<'honest' | 'amount' | 'moved', string> = { honest: '', amount: '', moved: '' };

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'corpus-expect-'));
  source = await buildSourceCluster();
  tables = await catalogTables(source.handle);
  expectFile = join(root, 'expectations.yaml');
  recorded = await recordExpectations(expectFile, source.cliEnv);
  dumps.honest = await pgDumpall(source.handle);
  // Transaction 4 (alice, -20.00) now reads 1000000.00: same row count, same users.
  await psql(
    source.handle,
    CANARY,
    `UPDATE ${TX.table} SET ${TX.amountColumn} = 1000000.00 WHERE ${TX.key} = 4`,
  );
  dumps.amount = await pgDumpall(source.handle);
  // Back as it was; then transaction 5 moves from bob to charlie.
  await psql(source.handle, CANARY, `UPDATE ${TX.table} SET ${TX.amountColumn} = -20.00 WHERE ${TX.key} = 4`);
  await psql(
    source.handle,
    CANARY,
    `UPDATE ${TX.table} SET ${TX.userColumn} = (SELECT uid FROM public.users WHERE login = 'charlie') WHERE ${TX.key} = 5`,
  );
  dumps.moved = await pgDumpall(source.handle);
  await source.stop();
});
afterAll(async () => {
  await source?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

describe('corpus: the canary against expectations recorded from the source', () => {
  it('`record` writes the discovered contract and each canary table (expectations format v1)', async () => {
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
    expect(file.databases?.[CANARY]?.tables?.[OPERATOR_CANARY.users.table]?.rows).toBe(3);
  });

  it('an honest backup drilled --expect PASSES, every table verified', async () => {
    const result = await drillSql(root, 'expect-honest', dumps.honest, ['--expect', expectFile]);
    expectHonestPass(result);
    expectEveryTableVerified(result, tables);
  });

  it('a backup whose canary amount changed FAILS --expect naming the table, the row key and both values', async () => {
    const result = await drillSql(root, 'expect-amount', dumps.amount, ['--expect', expectFile]);
    expect([result.report.verdict, result.code], explain(result)).toEqual(['failed', 1]);
    expect(
      failedNaming(result.report, ['transactions', '4', '-20.00', '1000000.00'], 'verify'),
      explain(result),
    ).not.toEqual([]);
  });

  it('a backup whose transaction moved to another user FAILS --expect naming the table and the row key', async () => {
    const result = await drillSql(root, 'expect-moved', dumps.moved, ['--expect', expectFile]);
    expect([result.report.verdict, result.code], explain(result)).toEqual(['failed', 1]);
    expect(failedNaming(result.report, ['transactions', '5'], 'verify'), explain(result)).not.toEqual([]);
  });
});

describe('corpus: canary modes on a live server with the operator-shaped canary', () => {
  let live: LiveServer;
  let backup: string;

  beforeAll(async () => {
    live = await startLiveServer();
    await psql(live.handle, 'postgres', `CREATE DATABASE ${CANARY}`);
    await psql(live.handle, CANARY, operatorCanarySql());
    await psql(live.handle, 'postgres', `CREATE DATABASE ${APP_DATABASE}`);
    await psql(live.handle, APP_DATABASE, appDatabaseSql());
    await applyQuirks(live.handle);
    backup = await pgDumpall(live.handle);
  });
  afterAll(async () => {
    await live?.stop();
  });

  const logins = () => psql(live.handle, CANARY, 'SELECT login FROM public.users ORDER BY login');

  for (const mode of ['canary', 'canary-copy'] as const) {
    it(`--mode ${mode} of the live server's own backup PASSES, and the canary still holds its users`, async () => {
      const result = await drillSql(
        root,
        `live-${mode}`,
        backup,
        ['--target', 'url', '--mode', mode, '--verify', 'canary'],
        live.cliEnv,
      );
      expectHonestPass(result);
      expect(await logins()).toBe('alice\nbob\ncharlie');
    });
  }
});
