/**
 * The self-test's part of the report (--self-test): every deliberate fault, the check it was aimed at,
 * what was done, whether the check went red and what it said.
 */
import type { StepRecord } from './steps.ts';

/** One fault as report.json lists it (the step's `selfTest` facts, else why it did not run). */
export interface SelfTestFault {
  step: string;
  status: StepRecord['status'];
  /** `went red` (as it must), `stayed green`, `inconclusive`, `not applicable`, `not run`. */
  result: string;
  fault?: string;
  check?: string;
  applied?: string;
  isolation?: string;
  said: string;
}

export interface SelfTestReport {
  /**
   * `ok`: every fault that applies made its check go red (at least one did). `failed`: a check stayed
   * green on its fault, or a fault proved nothing (inconclusive, an error). `incomplete`: none failed,
   * but some never ran (an earlier step failed, the run was interrupted): nothing to say of the checks.
   */
  verdict: 'ok' | 'failed' | 'incomplete';
  ok: boolean;
  faults: SelfTestFault[];
}

/** Self-test steps are named `self-test: …`. */
const SELF_TEST_STEP = /^self-test: /;
/** A fault whose check does not exist for this backup or drill says so in its skip reason. */
const NOT_APPLICABLE = /^not applicable: |^not run: --canary none/;

/** The report's `selfTest` from the run's steps; nothing when the run had none (no --self-test). */
export function selfTestOf(steps: readonly StepRecord[]): { selfTest?: SelfTestReport } {
  const own = steps.filter((s) => SELF_TEST_STEP.test(s.name));
  if (own.length === 0) return {};
  const faults = own.map((step): SelfTestFault => {
    const facts = step.facts.selfTest as Omit<SelfTestFault, 'step' | 'status'> | undefined;
    if (facts) return { step: step.name, status: step.status, ...facts, said: facts.said };
    const result =
      step.status === 'skipped'
        ? NOT_APPLICABLE.test(step.message)
          ? 'not applicable'
          : 'not run'
        : 'error';
    return { step: step.name, status: step.status, result, said: step.message };
  });
  const red = (f: SelfTestFault) => f.result === 'went red' && f.status === 'passed';
  const failed = faults.some((f) => !red(f) && f.result !== 'not applicable' && f.result !== 'not run');
  const verdict = failed
    ? 'failed'
    : faults.some(red) && faults.every((f) => red(f) || f.result === 'not applicable')
      ? 'ok'
      : 'incomplete';
  return { selfTest: { verdict, ok: verdict === 'ok', faults } };
}

/** The summary's self-test line(s). */
export function selfTestLines(selfTest: SelfTestReport | undefined): string[] {
  if (!selfTest) return [];
  const red = selfTest.faults.filter((f) => f.result === 'went red').length;
  const lines = [
    `  self-test ${selfTest.verdict === 'ok' ? 'ok' : selfTest.verdict.toUpperCase()}: ${red} of ${selfTest.faults.length} fault(s) made their check go red`,
  ];
  for (const f of selfTest.faults.filter((f) => f.result !== 'went red')) {
    const said = f.said.split('\n', 1)[0] ?? '';
    const fault = f.step.replace(SELF_TEST_STEP, '');
    lines.push(`  self-test ${fault}: ${said.startsWith(f.result) ? said : `${f.result}: ${said}`}`);
  }
  return lines;
}
