/**
 * The drill's step harness: a spec declares its checks as data (name, phase, what each needs of the
 * steps before it, whether it needs the canary) and the harness turns each into one vitest `it`, so a
 * failing drill names the step that failed and a skipped one says why, in the operator's words.
 */
import { assert, inject, it, recordArtifact, type TestArtifactBase, type TestContext } from 'vitest';
import type { DrillPlan } from '../../lib/drill/plan.ts';
import { receivePlan } from '../../lib/drill/plan-channel.ts';
import type { Phase, StepMeta } from '../../lib/report/steps.ts';
import { targetFaultOrSelf } from '../../lib/restore/target-fault.ts';
import type { Verdict } from '../../lib/verify/verdict.ts';

const STEP_TIMEOUT_MS = 60_000;

/** Recorded as each step starts (see `showEarlierSteps`). */
const STEP_STARTED = 'pg-restore-drill:step-started';

declare module 'vitest' {
  interface TestArtifactRegistry {
    'pg-restore-drill:step-started': TestArtifactBase & { type: typeof STEP_STARTED };
  }
}

/**
 * vitest sends the worker's task updates (a finished step's result) to the CLI at most every 100 ms, so
 * a step's line could wait for a later step (vitest-dev/vitest#8108). Recording an artifact sends the
 * updates held back first, at once: one at the start of each step puts the lines of the steps before it
 * on the operator's screen as the step starts, not up to 100 ms later and in bursts.
 */
async function showEarlierSteps(ctx: TestContext): Promise<void> {
  await recordArtifact(ctx.task, { type: STEP_STARTED }).catch(() => {});
}

/** One check of the drill, declared. `K` names what steps establish for the steps after them. */
export interface StepDeclaration<K extends string> {
  name: string;
  phase: Phase;
  /** What earlier steps must have established; the first one missing skips this step, naming it. */
  needs: readonly K[];
  /** What this step establishes when it passes (named in the skip reason of the steps that need it). */
  provides?: readonly K[];
  /** A check of the canary: under `--canary none` it is skipped, saying so. */
  needsCanary?: boolean;
  /** Declared at all (the drop step only where the canary is dropped, the swap only in canary mode). */
  when?: boolean;
  timeoutMs?: number;
  run(ctx: TestContext): Promise<Verdict>;
}

/** How each step ended so far (`skipped itself`: by its own choice; `not run`: prerequisites, interruption). */
export type StepOutcome = 'passed' | 'failed' | 'not run' | 'skipped itself';

export interface StepHarness<K extends string> {
  /** Declares the steps, in order, as vitest tests. */
  declare(steps: readonly StepDeclaration<K>[]): void;
  /** The record a step leaves for the reporter, even when it fails. */
  meta(ctx: TestContext): StepMeta;
  /** How every step declared so far ended, by name. */
  readonly outcomes: ReadonlyMap<string, StepOutcome>;
}

export interface HarnessOptions<K extends string> {
  /** Is `key` established yet (a missing entry means the step that sets it did not pass)? */
  has(key: K): boolean;
  /** What each key is, in the operator's words ("the restored canary"). */
  words: Record<K, string>;
  /** Whether the drill has a canary (`--canary none`: it has not). */
  withCanary: boolean;
  /** Said for a canary step under `--canary none`. */
  noCanaryReason: string;
  /** Run when a canary step is skipped under `--canary none` (what follows proceeds as if it had run). */
  onNoCanary?: () => void;
}

export function stepHarness<K extends string>(options: HarnessOptions<K>): StepHarness<K> {
  const outcomes = new Map<string, StepOutcome>();
  const providers = new Map<K, string>();
  const meta = (ctx: TestContext): StepMeta => {
    ctx.task.meta.drill ??= {};
    return ctx.task.meta.drill;
  };
  const whyNotRun = (missing: K): string => {
    const by = providers.get(missing);
    return by
      ? `not run: \`${by}\` did not pass, and this check needs ${options.words[missing]}`
      : `not run: this check needs ${options.words[missing]}, which no earlier step established`;
  };
  const declareOne = (step: StepDeclaration<K>): void => {
    for (const key of step.provides ?? []) if (!providers.has(key)) providers.set(key, step.name);
    const body = async (ctx: TestContext) => {
      outcomes.set(step.name, 'not run');
      await showEarlierSteps(ctx);
      if (ctx.signal.aborted) ctx.skip('not run: the drill was interrupted');
      if (!options.withCanary && step.needsCanary) {
        options.onNoCanary?.();
        ctx.skip(options.noCanaryReason);
      }
      const missing = step.needs.find((key) => !options.has(key));
      if (missing !== undefined) ctx.skip(whyNotRun(missing));
      const record = meta(ctx);
      try {
        // A check's own query on a target out of room, or that went away, is not the backup's.
        const verdict = await step.run(ctx).catch((error: unknown) => {
          if ((error as { code?: unknown }).code === 'VITEST_PENDING') throw error;
          throw targetFaultOrSelf(error, 'Check stopped by the target, not by the backup');
        });
        record.summary = verdict.summary;
        record.facts = { ...record.facts, ...verdict.facts };
        outcomes.set(step.name, verdict.ok ? 'passed' : 'failed');
        assert(verdict.ok, verdict.summary);
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        if (outcomes.get(step.name) === 'not run') {
          const own = code === 'VITEST_PENDING' && !ctx.signal.aborted;
          outcomes.set(step.name, own ? 'skipped itself' : 'failed');
        }
        if (typeof code === 'string') record.code = code;
        throw error;
      }
    };
    it(
      step.name,
      { timeout: step.timeoutMs ?? STEP_TIMEOUT_MS, meta: { drill: { phase: step.phase } } },
      body,
    );
  };
  return {
    declare(steps) {
      for (const step of steps) if (step.when !== false) declareOne(step);
    },
    meta,
    outcomes,
  };
}

/**
 * The run's plan, once the CLI has its target up: vitest loads the spec while the target starts, and the
 * spec waits here (lib/drill/plan-channel.ts). A run that ended before its target was ready has none.
 */
export async function drillPlan(): Promise<DrillPlan> {
  const plan = await receivePlan(inject('drillPlanChannel'));
  if (!plan) {
    throw new Error(
      'No plan: the drills run through `npm run drill`, which starts the target and hands the plan over; this run ended before its target was ready.',
    );
  }
  return plan;
}

/** Where the drill's progress and notices go: the worker's stderr, which vitest hands on to the CLI's. */
export function progressWriter(): NodeJS.WritableStream {
  return process.stderr;
}

export { STEP_TIMEOUT_MS };
