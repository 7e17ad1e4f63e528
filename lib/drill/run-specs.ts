import type { Reporter, RunnerTask, TestModule, Vitest } from 'vitest/node';
import { interruptedMessage, type StepRecorder, skippedByStop, stopReason } from '../report/steps.ts';
import type { DrillPlan } from './plan.ts';
import { type PlanSender, planChannelName, planSender } from './plan-channel.ts';

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
  // The shipped spec's own modules (dist/bundle, joined by scripts/bundle.mjs; dist/lib, one file each)
  // are plain JavaScript: Node loads them as they are, not through vite's transform pipeline (less time
  // and memory; nothing in them is mocked). Only the one-line spec file goes through vite.
  server: { deps: { external: SPEC_EXTENSION === 'js' ? [/\/dist\/(lib|bundle)\//] : [] } },
} as const;

export interface SpecSession {
  /**
   * Hands the plan to the spec (waiting for it since the session started) and runs the checks to their
   * end. False when nothing ran: the drill was interrupted before the plan was ready.
   */
  run(plan: DrillPlan): Promise<boolean>;
  /** Ends the session: a spec still waiting is told there is no plan (it declares no checks); vitest closes. */
  close(): Promise<void>;
}

export interface SpecSessionOptions {
  /**
   * The directory that holds drills/: dist/ when the CLI runs as shipped (compiled JavaScript), the
   * project root when a test runs the TypeScript source.
   */
  root: string;
  /** Names the channel the plan goes over. */
  runId: string;
  recorder: StepRecorder;
  junit: string | undefined;
  /** Aborting cancels the run: the running step's `ctx.signal` fires and stops psql. */
  signal: AbortSignal;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

/**
 * Starts vitest on the drill spec before the target is up: loading vitest, its worker thread and the
 * spec's modules (about half a second of CPU) overlaps the throwaway server's start, the seed and the
 * dump. The drill calls it once the target first waits on a process of its own (TargetDeps.starting:
 * initdb, the template's copy or the server), not before: the
 * loading holds the main thread in blocks of tens of milliseconds, and the target's own first steps
 * (find the binaries, copy the data directory, launch the server) each need it briefly. The spec waits
 * for the plan at its top (lib/drill/plan-channel.ts).
 */
export function startSpecSession(options: SpecSessionOptions): SpecSession {
  const channel = planSender(planChannelName(options.runId));
  const vitest = createDrillVitest(options, channel);
  let closing = false;
  // Not started at all when the session closes first (the target did not start).
  const ran = vitest.then((v) => (closing ? undefined : runUnlessAborted(v, options.signal)));
  // A failure to start surfaces where it is awaited (run, close); never as an unhandled rejection.
  ran.catch(() => {});
  let closed: Promise<void> | undefined;
  const close = () => {
    closing = true;
    closed ??= (async () => {
      channel.deliver(undefined);
      // A run that got its plan has ended (run awaited it); one that did not is not waited for: vitest
      // closes under the spec that waits, or that has just been told there is no plan.
      if (channel.delivered) await ran.catch(() => {});
      await vitest.then((v) => v.close()).catch(() => {});
      channel.close();
    })();
    return closed;
  };
  return {
    async run(plan) {
      if (options.signal.aborted) return false;
      channel.deliver(plan);
      await ran;
      return true;
    },
    close,
  };
}

async function createDrillVitest(options: SpecSessionOptions, channel: PlanSender): Promise<Vitest> {
  const { createVitest, JUnitReporter } = await import('vitest/node');
  // vitest's logger exits the process 1 ms after SIGINT/SIGTERM. The drill must still stop psql, stop
  // the target, and write its report, so the CLI keeps those signals and cancels the run instead.
  const release = withoutVitestSignalHandlers();
  try {
    return await createVitest(
      'test',
      {
        ...DRILL_PROJECT,
        include: [...DRILL_PROJECT.include],
        exclude: [...DRILL_PROJECT.exclude],
        root: options.root,
        config: false,
        watch: false,
        reporters: options.junit
          ? [options.recorder, junitOnceRun(new JUnitReporter({}), channel, options.signal)]
          : [options.recorder],
        outputFile: options.junit ? { junit: options.junit } : undefined,
        provide: { drillPlanChannel: planChannelName(options.runId) },
      },
      {},
      { stdout: options.stdout as NodeJS.WriteStream, stderr: options.stderr as NodeJS.WriteStream },
    );
  } finally {
    release();
  }
}

/**
 * While vitest is created (it now is while the target starts, for up to a second), each SIGINT, SIGTERM
 * or exit listener vitest adds is taken off again before the event loop runs on, so a signal in that
 * window reaches the CLI's handler only. vitest's are told apart by where they are added from (its own
 * modules): the target, starting meanwhile, may add listeners of its own. Returns the undo.
 */
function withoutVitestSignalHandlers(): () => void {
  const watched = new Set<string | symbol>(VITEST_SIGNALS);
  const onNewListener = (event: string | symbol, listener: (...args: unknown[]) => void) => {
    if (!watched.has(event)) return;
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 30;
    const stack = new Error().stack ?? '';
    Error.stackTraceLimit = limit;
    if (!/[\\/]node_modules[\\/]vitest[\\/]/.test(stack)) return;
    queueMicrotask(() => process.off(event as NodeJS.Signals, listener));
  };
  process.on('newListener', onNewListener);
  return () => process.off('newListener', onNewListener);
}

/**
 * vitest's JUnit reporter, writing its file only for a run that got its plan: a drill that ended before
 * its target was ready ran no check, and writes no JUnit (its report says why). A stopped run's JUnit
 * fails the step the stop cut short (vitest would mark it skipped: a CI gate would read "0 failures"),
 * in the report's words (lib/report/steps.ts); the steps never reached stay skipped.
 */
function junitOnceRun(junit: Reporter, channel: PlanSender, stop: AbortSignal): Reporter {
  return new Proxy(junit, {
    get(target, property) {
      if (property === 'onTestRunEnd') {
        return async (...args: Parameters<NonNullable<Reporter['onTestRunEnd']>>) => {
          if (!channel.delivered) return;
          if (stop.aborted) failInterrupted(args[0], stopReason(stop));
          await target.onTestRunEnd?.(...args);
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** Marks each case the stop caught running (it had begun: a duration) as failed, for the JUnit file. */
function failInterrupted(modules: ReadonlyArray<TestModule>, reason: string): void {
  const tests = (tasks: readonly RunnerTask[]): RunnerTask[] =>
    tasks.flatMap((t) => (t.type === 'suite' ? tests(t.tasks) : [t]));
  for (const module of modules) {
    // The runner's task tree, which the JUnit reporter itself writes from (not in TestModule's types).
    const file = (module as unknown as { task?: { tasks: RunnerTask[] } }).task;
    for (const task of tests(file?.tasks ?? [])) {
      const ms = task.result?.duration ?? 0;
      if (task.result?.state === 'fail' || task.result?.state === 'pass' || ms <= 0) continue;
      // A step that skipped itself (its own reason) before the stop took time too: it stays skipped.
      // (vitest sets the skip's note on the result; its type does not say so.)
      if (!skippedByStop((task.result as { note?: string } | undefined)?.note)) continue;
      const message = interruptedMessage(reason, ms);
      task.mode = 'run';
      task.result = {
        ...task.result,
        state: 'fail',
        errors: [{ name: 'Interrupted', message, stack: `Interrupted: ${message}` }],
      };
    }
  }
}

/** Runs the spec file once, cancelled when the drill is asked to stop. */
async function runUnlessAborted(vitest: Vitest, signal: AbortSignal): Promise<void> {
  const cancel = () => void vitest.cancelCurrentRun('keyboard-input');
  signal.addEventListener('abort', cancel, { once: true });
  try {
    if (!signal.aborted) await vitest.start();
  } finally {
    signal.removeEventListener('abort', cancel);
  }
}
