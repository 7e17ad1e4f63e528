import { ConfigError, type SqlError } from '../errors.ts';

/**
 * One entry of the expectations file's `allow:` list: an error the operator knows to be harmless.
 * `sqlstate` must equal the error's SQLSTATE, `match` is a regular expression searched in its message;
 * at least one of them is required. `max` caps how many errors the rule accepts (default 1): a rule
 * that suddenly matches a hundred errors is hiding something.
 */
export interface AllowRule {
  sqlstate?: string;
  match?: string;
  max?: number;
}

/** How many errors a rule accepts when it does not say. */
export const DEFAULT_ALLOW_MAX = 1;

/** An error the allow rules accepted: reported and counted, never hidden. */
export interface AcceptedError {
  line: number | undefined;
  sqlstate: string;
  message: string;
  /** 1-based position of the rule in the `allow:` list. */
  rule: number;
}

/** The verdict over every error a restore reported. */
export interface ErrorJudgement {
  accepted: AcceptedError[];
  /** Errors no rule accepts, in the order psql reported them; the first is the restore's failure. */
  rejected: { error: SqlError; reason: string }[];
}

/** `rule 2 (42704 /role "legacy"/ max 1)`: how the report names a rule. */
export function describeRule(rule: AllowRule, index: number): string {
  const parts = [rule.sqlstate, rule.match === undefined ? undefined : `/${rule.match}/`].filter(Boolean);
  return `rule ${index + 1} (${parts.join(' ')} max ${rule.max ?? DEFAULT_ALLOW_MAX})`;
}

/**
 * Refuses rules that would accept too much or cannot work: one with neither `sqlstate` nor `match`
 * (it would accept every error), a SQLSTATE that is not five characters, a `match` that is not a
 * regular expression, a `max` that is not a positive integer.
 */
export function validateAllowRules(rules: readonly AllowRule[], setting = 'allow'): void {
  rules.forEach((rule, index) => {
    const where = `${setting}[${index}]`;
    if (rule.sqlstate === undefined && rule.match === undefined) {
      throw new ConfigError(
        setting,
        `${where} has neither sqlstate nor match: it would accept every error. Name the error's SQLSTATE (e.g. sqlstate: "42704") and/or a regular expression over its message (match: 'role "legacy" does not exist').`,
      );
    }
    if (rule.sqlstate !== undefined && !/^[0-9A-Z]{5}$/.test(rule.sqlstate)) {
      throw new ConfigError(
        setting,
        `${where}.sqlstate is ${JSON.stringify(rule.sqlstate)}; expected a five-character SQLSTATE such as "42704" (quote it in YAML).`,
      );
    }
    if (rule.match !== undefined) {
      try {
        new RegExp(rule.match);
      } catch (error) {
        throw new ConfigError(
          setting,
          `${where}.match is not a regular expression: ${(error as Error).message}.`,
        );
      }
    }
    if (rule.max !== undefined && !(Number.isInteger(rule.max) && rule.max >= 1)) {
      throw new ConfigError(setting, `${where}.max is ${String(rule.max)}; expected an integer ≥ 1.`);
    }
  });
}

/**
 * Judges every error a restore reported against the allow rules, in order: an error is accepted by
 * the first rule that matches it and still has room under its `max`. Only server errors with a
 * SQLSTATE can be accepted; psql's own errors (a bad meta-command, a lost connection) and FATALs
 * never are.
 */
export function judgeErrors(errors: readonly SqlError[], rules: readonly AllowRule[]): ErrorJudgement {
  const patterns = rules.map((rule) => (rule.match === undefined ? undefined : new RegExp(rule.match)));
  const used = rules.map(() => 0);
  const accepted: AcceptedError[] = [];
  const rejected: ErrorJudgement['rejected'] = [];
  for (const error of errors) {
    if (error.severity !== 'ERROR' || error.sqlstate === undefined) {
      rejected.push({ error, reason: 'not a server error with a SQLSTATE: no allow rule can accept it' });
      continue;
    }
    const sqlstate = error.sqlstate;
    const matching = rules.flatMap((rule, index) =>
      (rule.sqlstate === undefined || rule.sqlstate === sqlstate) &&
      (patterns[index] === undefined || patterns[index].test(error.message))
        ? [index]
        : [],
    );
    const room = matching.find((index) => (used[index] ?? 0) < (rules[index]?.max ?? DEFAULT_ALLOW_MAX));
    if (room === undefined) {
      rejected.push({
        error,
        reason: matching.length
          ? `matches ${matching.map((i) => describeRule(rules[i] as AllowRule, i)).join(', ')}, which already accepted its max: raise max if this many are expected`
          : 'no allow rule matches it',
      });
      continue;
    }
    used[room] = (used[room] ?? 0) + 1;
    accepted.push({ line: error.line, sqlstate, message: error.message, rule: room + 1 });
  }
  return { accepted, rejected };
}
