import type { StepRecorder } from '../report/steps.ts';
import type { DrillPlan } from './plan.ts';

export interface SpecRun {
  /**
   * The directory that holds drills/: dist/ when the CLI runs as shipped (compiled JavaScript), the
   * project root when a test runs the TypeScript source.
   */
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

/**
 * The spec in the language this module runs in: dist/lib/drill/run-specs.js runs dist/drills/*.drill.js
 * (no TypeScript compiler at drill time), the source under a test runs drills/*.drill.ts.
 */
const SPEC_EXTENSION = import.meta.url.endsWith('.ts') ? 'ts' : 'js';

/**
 * The `drills` project, inline: no config file is looked for, bundled or loaded (vitest.config.ts is
 * TypeScript, and its `drills` project is for `npm test`-time tooling only). One spec file, run once:
 * the pool and its settings were chosen by measurement (docs/benchmarks.md, "vitest pool").
 */
export const DRILL_PROJECT = {
  name: 'drills',
  include: [`drills/**/*.drill.${SPEC_EXTENSION}`],
  // vitest's default exclude holds **/dist/**, where the shipped spec is.
  exclude: ['**/node_modules/**'],
  // One drill at a time, steps in order, no retries: a flaky drill is a bug to find. A worker thread of
  // the CLI's own process, not a forked node: the least memory and no more time (docs/benchmarks.md).
  // The CLI keeps SIGTERM/SIGINT and cancels the run; the step's ctx.signal stops psql.
  pool: 'threads',
  isolate: false,
  maxWorkers: 1,
  fileParallelism: false,
  retry: 0,
  testTimeout: 60_000,
  // One file run once: no durations to sort by, nothing worth writing to node_modules/.vite.
  cache: false,
  // The shipped spec's own modules (dist/lib) are plain JavaScript: Node loads them as they are, not
  // through vite's transform pipeline (less time and memory; nothing in them is mocked).
  server: { deps: { external: SPEC_EXTENSION === 'js' ? [/\/dist\/lib\//] : [] } },
} as const;

/** Runs the drill spec in this process's vitest with the plan provided to the specs. */
let vitestNode: Promise<typeof import('vitest/node')> | undefined;

/**
 * Starts loading vitest's node API (about 0.4 s of module loading) without waiting for it: the drill
 * calls this first, so the loading overlaps the throwaway server's initdb and start.
 */
export function preloadVitest(): Promise<typeof import('vitest/node')> {
  vitestNode ??= import('vitest/node');
  return vitestNode;
}

export async function runDrillSpecs(run: SpecRun): Promise<void> {
  const { createVitest } = await preloadVitest();
  const listeners = (event: (typeof VITEST_SIGNALS)[number]) => process.listeners(event as NodeJS.Signals);
  const before = new Map(VITEST_SIGNALS.map((event) => [event, new Set(listeners(event))]));
  const vitest = await createVitest(
    'test',
    {
      ...DRILL_PROJECT,
      include: [...DRILL_PROJECT.include],
      exclude: [...DRILL_PROJECT.exclude],
      root: run.root,
      config: false,
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
