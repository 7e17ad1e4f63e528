import { join } from 'node:path';
import { createVitest } from 'vitest/node';
import type { StepRecorder } from '../report/steps.ts';
import type { DrillPlan } from './plan.ts';

export interface SpecRun {
  /** The project root, where vitest.config.ts and drills/ are. */
  root: string;
  plan: DrillPlan;
  recorder: StepRecorder;
  junit: string | undefined;
  /** Aborting cancels the run: the running step's `ctx.signal` fires and stops psql. */
  signal: AbortSignal;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

const VITEST_SIGNALS = ['SIGINT', 'SIGTERM', 'exit'] as const;

/** Runs the `drills` vitest project in this process with the plan provided to the specs. */
export async function runDrillSpecs(run: SpecRun): Promise<void> {
  const listeners = (event: (typeof VITEST_SIGNALS)[number]) => process.listeners(event as NodeJS.Signals);
  const before = new Map(VITEST_SIGNALS.map((event) => [event, new Set(listeners(event))]));
  const vitest = await createVitest(
    'test',
    {
      root: run.root,
      config: join(run.root, 'vitest.config.ts'),
      project: ['drills'],
      watch: false,
      reporters: run.junit ? [run.recorder, 'junit'] : [run.recorder],
      outputFile: run.junit ? { junit: run.junit } : undefined,
      provide: { drillPlan: run.plan },
    },
    {},
    { stdout: run.stdout as NodeJS.WriteStream, stderr: run.stderr as NodeJS.WriteStream },
  );
  // vitest's logger exits the process 1 ms after SIGINT/SIGTERM. The drill must still stop psql, stop
  // the target, and write its report, so the CLI keeps those signals and cancels the run instead.
  for (const event of VITEST_SIGNALS) {
    for (const listener of listeners(event)) {
      if (!before.get(event)?.has(listener)) process.off(event, listener);
    }
  }
  const cancel = () => void vitest.cancelCurrentRun('keyboard-input');
  run.signal.addEventListener('abort', cancel, { once: true });
  try {
    if (!run.signal.aborted) await vitest.start();
  } finally {
    run.signal.removeEventListener('abort', cancel);
    await vitest.close();
  }
}
