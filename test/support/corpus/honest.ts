import { expect } from 'vitest';
import type { CorpusDrill } from './drill.ts';
import { type CatalogTable, OPERATOR_CANARY } from './source-cluster.ts';
import { failedSteps, stepsText, tablesVerified, usersCheckNaming } from './verdicts.ts';

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
  expect(tablesVerified(report), why).toEqual([[tables.length, tables.length]]);
  const listed = (report.deep?.tables ?? [])
    .filter((t) => t.kind === 'table')
    .map((t) => `${t.database}:${unquoted(t.table)}`)
    .sort();
  expect(listed, why).toEqual(tables.map((t) => `${t.database}:${t.table}`).sort());
}
