/** What a check found: whether it holds, one line for the operator, and the facts behind it. */
export interface Verdict {
  ok: boolean;
  summary: string;
  facts: Record<string, unknown>;
}

export function pass(summary: string, facts: Record<string, unknown> = {}): Verdict {
  return { ok: true, summary, facts };
}

export function fail(summary: string, facts: Record<string, unknown> = {}): Verdict {
  return { ok: false, summary, facts };
}
