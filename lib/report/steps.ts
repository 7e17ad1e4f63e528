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
  status: 'passed' | 'failed' | 'skipped';
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

const MARK = { passed: '✓', failed: '✗', skipped: '-' } as const;

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

  constructor(out: NodeJS.WritableStream) {
    this.#out = out;
  }

  /** The steps in the order they first finished. */
  get steps(): StepRecord[] {
    return [...this.#steps.values()];
  }

  onTestCaseResult(testCase: TestCase): void {
    const result = testCase.result();
    const meta = testCase.meta().drill ?? {};
    const status = result.state === 'passed' ? 'passed' : result.state === 'failed' ? 'failed' : 'skipped';
    const error = result.state === 'failed' ? result.errors[0] : undefined;
    const message =
      status === 'failed'
        ? (error?.message ?? 'failed')
        : result.state === 'skipped'
          ? (result.note ?? 'skipped')
          : (meta.summary ?? 'passed');
    const errorCode = (error as { code?: unknown } | undefined)?.code;
    const record: StepRecord = {
      id: stepId(testCase.name),
      name: testCase.name,
      // Every step declares its phase (drills/support/steps.ts); a case without one is no drill step.
      phase: meta.phase ?? 'verify',
      status,
      durationMs: testCase.diagnostic()?.duration ?? 0,
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

function oneLine(text: string): string {
  const line = text.split('\n', 1)[0] ?? '';
  return line.length > 160 ? `${line.slice(0, 159)}…` : line;
}
