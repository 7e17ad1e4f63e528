import { expect } from 'vitest';
import type { CorpusCase } from './corpus.ts';
import type { CorpusDrill } from './drill.ts';
import { type CatalogTable, OPERATOR_CANARY } from './source-cluster.ts';
import {
  failedNaming,
  failedSteps,
  restoreLists,
  restoreNotRun,
  stepsText,
  tablesVerified,
  usersCheckNaming,
} from './verdicts.ts';

/** `schema.table` without pg_dump's quotes (a --quote-all-identifiers dump writes `"app"."events"`). */
function unquoted(name: string): string {
  return name.replaceAll('"', '');
}

/** What an assertion shows when a corpus verdict is not the expected one: every step and the output. */
export function explain(drill: CorpusDrill): string {
  const { report } = drill;
  return `${stepsText(report)}\n${report.errors.join('\n')}\n--- output ---\n${drill.output.slice(-4000)}`;
}

/**
 * The verdict of an honest backup: PASSED with no failed check, and the users found in the operator's
 * own column, which the report names.
 */
export function expectHonestPass(drill: CorpusDrill): void {
  const { report } = drill;
  const why = explain(drill);
  expect(failedSteps(report), why).toEqual([]);
  expect(report.errors, why).toEqual([]);
  expect([report.verdict, drill.code], why).toEqual(['passed', 0]);
  expect(usersCheckNaming(report, OPERATOR_CANARY.users.nameColumn), why).not.toEqual([]);
}

/**
 * --verify deep on an honest backup: every table the source's catalog holds verified ("N of M tables
 * verified" with N = M = the catalog's count) and listed under deep.tables.
 */
export function expectEveryTableVerified(drill: CorpusDrill, tables: CatalogTable[]): void {
  const { report } = drill;
  const why = explain(drill);
  // Said at least once, and wherever it is said, N = M = the catalog's count.
  const said = tablesVerified(report);
  expect(said.length, why).toBeGreaterThan(0);
  expect(said, why).toEqual(said.map(() => [tables.length, tables.length]));
  const listed = (report.deep?.tables ?? [])
    .filter((t) => t.kind === 'table')
    .map((t) => `${t.database}:${unquoted(t.table)}`)
    .sort();
  expect(listed, why).toEqual(tables.map((t) => `${t.database}:${t.table}`).sort());
}

/** A failing case's verdict: FAILED (exit 1), a failed check of the case's phase naming its cause. */
export function expectCauseNamed(drill: CorpusDrill, corpusCase: CorpusCase): void {
  const why = explain(drill);
  const cause = corpusCase.cause ?? { words: [], phase: 'verify' as const };
  expect(cause.words.length, `${corpusCase.name} declares no cause`).toBeGreaterThan(0);
  expect([drill.report.verdict, drill.code], why).toEqual(['failed', 1]);
  expect(failedNaming(drill.report, cause.words, cause.phase), why).not.toEqual([]);
}

/** The verdict came before the restore wrote the server: its step never ran. */
export function expectRestoreNotRun(drill: CorpusDrill): void {
  expect(restoreNotRun(drill.report), explain(drill)).toBe(true);
}

/** Every statement the case says an honest restore could not run is listed in the report. */
export function expectListed(drill: CorpusDrill, corpusCase: CorpusCase): void {
  const statements = corpusCase.listed ?? [];
  expect(statements.length, `${corpusCase.name} lists nothing`).toBeGreaterThan(0);
  expect(
    statements.filter((s) => !restoreLists(drill.report, s)),
    explain(drill),
  ).toEqual([]);
}

/** An honest deep-drilled case: PASSED, the users' column named, every table of its catalog verified. */
export function expectHonestCase(drill: CorpusDrill, corpusCase: CorpusCase): void {
  expect(corpusCase.tables, `${corpusCase.name} carries no catalog`).toBeDefined();
  expectHonestPass(drill);
  expectEveryTableVerified(drill, corpusCase.tables ?? []);
}
