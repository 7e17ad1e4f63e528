import { describe, expect, it } from 'vitest';
import { compareRows, copyFieldText, describeComparison, linesDigest } from './table-rows.ts';

const columns = ['txn_id', 'account', 'value'];
const before = { columns, key: ['txn_id'], lines: ['1\t1\t100.00', '2\t2\t250.50', '4\t1\t-20.00'] };

describe('compareRows', () => {
  it('names the key and both values of each changed column, and missing and new rows', () => {
    const after = { columns, lines: ['1\t2\t100.00', '2\t2\t250.50', '4\t1\t1000000.00', '9\t3\t1.00'] };
    const comparison = compareRows({ ...before, lines: [...before.lines, '5\t2\t-99.99'] }, after);
    expect(comparison.ok).toBe(false);
    expect(describeComparison(comparison, { expected: 4, found: 4 })).toBe(
      '4 row(s) against 4: row txn_id=1: account expected 1, found 2; row txn_id=4: value expected -20.00, found 1000000.00; row txn_id=5 missing; row txn_id=9 unexpected',
    );
  });

  it('rows in another order are the same rows', () => {
    expect(compareRows(before, { columns, lines: [...before.lines].reverse() }).ok).toBe(true);
  });

  it('a table without a key compares as a multiset of rows', () => {
    const noKey = { columns: ['a', 'b'], key: ['a', 'b'], lines: ['1\tx', '1\tx', '2\t\\N'] };
    expect(compareRows(noKey, { columns: ['a', 'b'], lines: ['2\t\\N', '1\tx', '1\tx'] }).ok).toBe(true);
    const lost = compareRows(noKey, { columns: ['a', 'b'], lines: ['1\tx', '2\t\\N'] });
    expect(describeComparison(lost, { expected: 3, found: 2 })).toBe(
      '2 row(s) against 3: row a=1, b=x missing',
    );
  });

  it('a table whose columns changed says so', () => {
    const comparison = compareRows(before, { columns: ['txn_id', 'value'], lines: [] });
    expect(describeComparison(comparison, { expected: 3, found: 0 })).toBe(
      'its columns differ: expected [txn_id, account, value], found [txn_id, value]',
    );
  });
});

describe('COPY text', () => {
  it('reads NULL and escapes as the operator would', () => {
    expect([copyFieldText('\\N'), copyFieldText('a\\tb\\\\c')]).toEqual(['NULL', 'a\tb\\c']);
  });

  it('the digest ignores order and sees every change', () => {
    const a = linesDigest(['1\tx', '2\ty']);
    expect(linesDigest(['2\ty', '1\tx'])).toEqual(a);
    expect(linesDigest(['1\tx', '2\tz']).digest).not.toBe(a.digest);
  });
});
