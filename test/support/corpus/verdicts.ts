import type { DrillReport } from '../../../lib/report/report.ts';
import type { StepRecord } from '../../../lib/report/steps.ts';

// The tolerant reading of a drill's report, kept in ONE place. The corpus was written while other
// helpers were changing the drill's wording (issue #10): what it relies on is the report.json steps'
// status, and the MEANING of a few sentences, read by the small matchers below. Where a wording is
// assumed, the assumption is stated beside its matcher; change it here and every corpus test follows.

/** Every check as one line: `status id: message` (for an assertion's failure message). */
export function stepsText(report: DrillReport): string {
  return report.checks.map((c) => `${c.status.padEnd(7)} ${c.id}: ${c.message.split('\n', 1)[0]}`).join('\n');
}

/** The failed checks, each as `id: first line of its message`. */
export function failedSteps(report: DrillReport): string[] {
  return report.checks
    .filter((c) => c.status === 'failed')
    .map((c) => `${c.id}: ${c.message.split('\n', 1)[0]}`);
}

/** A check's whole text: its name, its message and its facts (where a fix may put a detail). */
function textOf(check: StepRecord): string {
  return `${check.name}\n${check.message}\n${JSON.stringify(check.facts)}`;
}

/** The status of the check with this id, or `absent`. */
export function statusOf(report: DrillReport, id: string): StepRecord['status'] | 'absent' {
  return report.checks.find((c) => c.id === id)?.status ?? 'absent';
}

/**
 * "N of M tables verified" (the wording, scope 4), read from the checks that say it. ASSUMED:
 * the phrase `N of M tables verified` (or `N/M tables verified`, `N of M table(s) verified`) appears in
 * a check's message. Returns every [N, M] found, in check order.
 */
export function tablesVerified(report: DrillReport): [number, number][] {
  const found: [number, number][] = [];
  const pattern = /\b(\d+)\s*(?:of|\/)\s*(\d+)\s+tables?(?:\(s\))?\s+verified\b/gi;
  for (const check of report.checks) {
    for (const match of check.message.matchAll(pattern)) found.push([Number(match[1]), Number(match[2])]);
  }
  return found;
}

/**
 * The check(s) that passed the users contract while naming the column the users were found in.
 * ASSUMED: the users check's name or message mentions `users`, and its message or facts name the
 * discovered column (scope 1: "discover it, name it in the report").
 */
export function usersCheckNaming(report: DrillReport, column: string): string[] {
  const word = new RegExp(`\\b${column}\\b`);
  return report.checks
    .filter((c) => c.status === 'passed' && /users/i.test(`${c.name} ${c.message}`) && word.test(textOf(c)))
    .map((c) => c.id);
}

/**
 * Failed checks whose text names every one of `words` (a table, a key, both values…): the cause, named.
 * Returned as ids so an assertion shows which checks did.
 */
export function failedNaming(report: DrillReport, words: string[], phase?: StepRecord['phase']): string[] {
  return report.checks
    .filter((c) => c.status === 'failed' && (phase === undefined || c.phase === phase))
    .filter((c) => words.every((w) => textOf(c).includes(w)))
    .map((c) => c.id);
}

/** True when the restore never wrote the server: its step was skipped or is not there at all. */
export function restoreNotRun(report: DrillReport): boolean {
  const status = statusOf(report, 'restore-completed');
  return status === 'skipped' || status === 'absent';
}

/**
 * The restore step's own account (message and facts) names `statement`: an error the drill accepted
 * as expected (scope 5: the DROP of the connecting role, DROPs of objects an empty server lacks) is
 * listed, never hidden. ASSUMED: listed in the `restore-completed` step's message or facts.
 */
export function restoreLists(report: DrillReport, statement: string): boolean {
  const restore = report.checks.find((c) => c.id === 'restore-completed');
  return restore !== undefined && textOf(restore).includes(statement);
}
