import type { Reporter, TestCase, TestModule, TestRunEndReason } from 'vitest/node';

/** The drill's phases, as the report and the metrics time them (`self-test`: --self-test's faults). */
export const PHASES = ['precheck', 'drop', 'restore', 'table', 'verify', 'self-test'] as const;
export type Phase = (typeof PHASES)[number];

/** What a drill step leaves on its vitest task for the reporter: its phase, a summary and facts. */
export interface StepMeta {
  /** Declared with the step (vitest's test `meta`), so even a step that never ran has it. */
  phase?: Phase;
  summary?: string;
  code?: string;
  facts?: Record<string, unknown>;
}

declare module 'vitest' {
  interface TaskMeta {
    drill?: StepMeta;
  }
}

/** One check of the drill, as it ended. */
export interface StepRecord {
  /** `restore-completed` from `restore: completed`. */
  id: string;
  name: string;
  phase: Phase;
  /** `interrupted`: the step was running when the drill was stopped (a signal): it did not finish. */
  status: 'passed' | 'failed' | 'skipped' | 'interrupted';
  durationMs: number;
  /** The pass summary, the failure's message, or why it was skipped. */
  message: string;
  /** The stable code of the error that failed the step, if it had one. */
  code?: string;
  facts: Record<string, unknown>;
}

export function stepId(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
}

const MARK = { passed: '✓', failed: '✗', skipped: '-', interrupted: '!' } as const;

/** Said of the step that was running when the drill was stopped (report, JUnit alike). */
export function interruptedMessage(reason: string, ms: number): string {
  return `interrupted by ${reason} ${(ms / 1000).toFixed(2)} s into this check: it did not finish, so it proves nothing`;
}

/** vitest's note on the cases of a cancelled run ("The test run was aborted by the user."). */
const VITEST_CANCEL_NOTE = /aborted by the user/;

/**
 * Was a case vitest reports skipped skipped by the stop (its cancel note, or none), not by its own
 * choice (`ctx.skip(reason)`, which took time too)? The report and the JUnit file ask the same.
 */
export function skippedByStop(note: string | undefined): boolean {
  return note === undefined || VITEST_CANCEL_NOTE.test(note);
}

/** The reason a stopped drill gives (its signal's name), as run-drill.ts reports it. */
export function stopReason(signal: AbortSignal): string {
  return String(signal.reason ?? 'a stop request');
}

/**
 * A vitest reporter that turns each finished test case into a StepRecord and prints one line for it.
 * It runs in the CLI's process, so the CLI reads `steps` directly when vitest is done.
 */
export class StepRecorder implements Reporter {
  /** By test id: a cancelled run reports some cases twice, and the last word counts. */
  readonly #steps = new Map<string, StepRecord>();
  /** Errors outside any step: a spec that failed to load, an unhandled rejection. */
  readonly runErrors: string[] = [];
  runEndReason: TestRunEndReason | undefined;
  readonly #out: NodeJS.WritableStream;
  /** The drill's stop: once it fired, a case vitest reports skipped was stopped, not skipped by choice. */
  readonly #stop: AbortSignal | undefined;

  constructor(out: NodeJS.WritableStream, stop?: AbortSignal) {
    this.#out = out;
    this.#stop = stop;
  }

  /** The steps in the order they first finished. */
  get steps(): StepRecord[] {
    return [...this.#steps.values()];
  }

  onTestCaseResult(testCase: TestCase): void {
    const result = testCase.result();
    const meta = testCase.meta().drill ?? {};
    // A case the stop cut short has no diagnostic: its runner task still says how long it ran.
    const durationMs =
      testCase.diagnostic()?.duration ??
      (testCase as unknown as { task?: { result?: { duration?: number } } }).task?.result?.duration ??
      0;
    const note = result.state === 'skipped' ? result.note : undefined;
    // Skipped by vitest because the drill was stopped (its cancel note, or none), not by the step's choice.
    const cancelled = result.state === 'skipped' && this.#stop?.aborted === true && skippedByStop(note);
    const status = cancelled ? (durationMs > 0 ? 'interrupted' : 'skipped') : statusOf(result.state);
    const error = result.state === 'failed' ? result.errors[0] : undefined;
    const message = cancelled
      ? durationMs > 0
        ? interruptedMessage(stopReason(this.#stop as AbortSignal), durationMs)
        : `not run: the drill was interrupted by ${stopReason(this.#stop as AbortSignal)}`
      : status === 'failed'
        ? (error?.message ?? 'failed')
        : status === 'skipped'
          ? (note ?? 'skipped')
          : (meta.summary ?? 'passed');
    const errorCode = (error as { code?: unknown } | undefined)?.code;
    const record: StepRecord = {
      id: stepId(testCase.name),
      name: testCase.name,
      // Every step declares its phase (drills/support/steps.ts); a case without one is no drill step.
      phase: meta.phase ?? 'verify',
      status,
      durationMs,
      message,
      facts: meta.facts ?? {},
    };
    const code = meta.code ?? (typeof errorCode === 'string' ? errorCode : undefined);
    if (code) record.code = code;
    const seen = this.#steps.has(testCase.id);
    this.#steps.set(testCase.id, record);
    if (seen) return;
    const seconds = `${(record.durationMs / 1000).toFixed(2)} s`;
    this.#out.write(
      `  ${MARK[status]} ${record.name.padEnd(44)} ${seconds.padStart(9)}  ${oneLine(message)}\n`,
    );
  }

  onTestRunEnd(
    modules: ReadonlyArray<TestModule>,
    unhandledErrors: ReadonlyArray<{ message?: string }>,
    reason: TestRunEndReason,
  ): void {
    this.runEndReason = reason;
    for (const module of modules) {
      for (const error of module.errors()) this.runErrors.push(`${module.moduleId}: ${error.message}`);
    }
    for (const error of unhandledErrors) this.runErrors.push(error.message ?? String(error));
  }
}

function statusOf(state: string): StepRecord['status'] {
  return state === 'passed' ? 'passed' : state === 'failed' ? 'failed' : 'skipped';
}

function oneLine(text: string): string {
  const line = text.split('\n', 1)[0] ?? '';
  return line.length > 160 ? `${line.slice(0, 159)}…` : line;
}
