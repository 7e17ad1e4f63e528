/**
 * What one deliberate fault showed: which check it was aimed at, what was done, whether the check went
 * red, and what it said. A fault its check lets through fails the self-test, and the drill with it.
 */
import { fail, pass, type Verdict } from '../verify/verdict.ts';

export interface FaultOutcome {
  /** The fault, as the report lists it: `truncated copy`, `bit-flipped copy`, `changed row`, `missing user`. */
  fault: string;
  /** The check that must go red on it (its step's name, or the part of it the fault goes through). */
  check: string;
  /** What exactly was done ("cut after 512 of its 1024 bytes", "app.items: price of one row changed"). */
  applied: string;
  /**
   * `went red`: the check failed on the fault, as it must. `stayed green`: it passed the fault (it cannot
   * go red). `inconclusive`: the fault could not be applied or the check failed for another reason.
   */
  result: 'went red' | 'stayed green' | 'inconclusive';
  /** What the check said (its error or verdict). */
  said: string;
  /** The stable code of the check's error, when it failed with one. */
  code?: string;
  /** How it was kept from the real checks: "a copy streamed, the file untouched", "rolled back". */
  isolation: string;
}

/** The step's verdict for one fault: passes only when the check went red. */
export function faultVerdict(outcome: FaultOutcome): Verdict {
  const facts = { selfTest: outcome };
  const what = `${outcome.fault} (${outcome.applied})`;
  if (outcome.result === 'went red')
    return pass(`\`${outcome.check}\` went red on a ${what}: ${outcome.said}`, facts);
  if (outcome.result === 'stayed green')
    return fail(
      `self-test failed: \`${outcome.check}\` could not go red: a ${what} passed it (${outcome.said})`,
      facts,
    );
  return fail(
    `self-test failed: the ${outcome.fault} proved nothing of \`${outcome.check}\` (${outcome.applied}): ${outcome.said}`,
    facts,
  );
}
