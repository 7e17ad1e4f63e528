import { describe, expect, it } from 'vitest';
import { ConfigError, type SqlError } from '../errors.ts';
import { judgeErrors, validateAllowRules } from './allowed-errors.ts';

function error(line: number, sqlstate: string | undefined, message: string, severity = 'ERROR'): SqlError {
  return { line, severity, sqlstate, message, details: [] };
}

const legacyOwner = (line: number) => error(line, '42704', 'role "legacy" does not exist');

describe('judgeErrors', () => {
  it('accepts what a rule names, up to its max, and rejects the rest in order', () => {
    const errors = [
      legacyOwner(10),
      error(11, '42P01', 'relation "public.gone" does not exist'),
      legacyOwner(12),
      legacyOwner(13),
    ];
    const judged = judgeErrors(errors, [{ sqlstate: '42704', match: 'role "legacy"', max: 2 }]);
    expect(judged.accepted).toEqual([
      { line: 10, sqlstate: '42704', message: 'role "legacy" does not exist', rule: 1 },
      { line: 12, sqlstate: '42704', message: 'role "legacy" does not exist', rule: 1 },
    ]);
    expect(judged.rejected.map((r) => [r.error.line, r.reason])).toEqual([
      [11, 'no allow rule matches it'],
      [
        13,
        expect.stringMatching(
          /^matches rule 1 \(42704 \/role "legacy"\/ max 2\), which already accepted its max/,
        ),
      ],
    ]);
  });

  it('accepts one error per rule unless max says otherwise', () => {
    const judged = judgeErrors([legacyOwner(1), legacyOwner(2)], [{ match: 'legacy' }]);
    expect(judged.accepted.map((a) => a.line)).toEqual([1]);
    expect(judged.rejected.map((r) => r.error.line)).toEqual([2]);
  });

  it('needs the SQLSTATE and the message to match when a rule names both', () => {
    const judged = judgeErrors(
      [error(1, '42710', 'role "legacy" already exists'), legacyOwner(2)],
      [{ sqlstate: '42704', match: 'legacy', max: 5 }],
    );
    expect(judged.accepted.map((a) => a.line)).toEqual([2]);
    expect(judged.rejected.map((r) => r.error.line)).toEqual([1]);
  });

  it('passes on to the next rule with room', () => {
    const rules = [
      { sqlstate: '42704', max: 1 },
      { match: 'does not exist', max: 1 },
    ];
    const judged = judgeErrors([legacyOwner(1), legacyOwner(2), legacyOwner(3)], rules);
    expect(judged.accepted.map((a) => [a.line, a.rule])).toEqual([
      [1, 1],
      [2, 2],
    ]);
    expect(judged.rejected.map((r) => r.error.line)).toEqual([3]);
  });

  it('never accepts psql’s own errors or a FATAL, whatever the rule', () => {
    const judged = judgeErrors(
      [
        error(5, undefined, 'invalid command \\restrict'),
        error(6, '57P01', 'terminating connection due to administrator command', 'FATAL'),
      ],
      [{ match: '.', max: 10 }],
    );
    expect(judged.accepted).toEqual([]);
    expect(judged.rejected).toHaveLength(2);
  });

  it('accepts nothing with no rules', () => {
    expect(judgeErrors([legacyOwner(1)], [])).toEqual({
      accepted: [],
      rejected: [{ error: legacyOwner(1), reason: 'no allow rule matches it' }],
    });
  });
});

describe('validateAllowRules', () => {
  it.each([
    [{}, /has neither sqlstate nor match: it would accept every error/],
    [{ sqlstate: '427' }, /allow\[0\]\.sqlstate is "427"; expected a five-character SQLSTATE/],
    [{ match: '(' }, /allow\[0\]\.match is not a regular expression/],
    [{ sqlstate: '42704', max: 0 }, /allow\[0\]\.max is 0; expected an integer ≥ 1/],
    [{ sqlstate: '42704', max: 1.5 }, /allow\[0\]\.max is 1\.5/],
  ])('refuses %j', (rule, message) => {
    let thrown: unknown;
    try {
      validateAllowRules([rule]);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as ConfigError).message).toMatch(message);
  });

  it('takes a rule with a SQLSTATE, a pattern and a max', () => {
    expect(() => validateAllowRules([{ sqlstate: '42704', match: 'legacy', max: 3 }])).not.toThrow();
  });
});
