import { describe, expect, it } from 'vitest';
import { describeRows, rowsWithin } from './canary.ts';

describe('row counts against an expectation', () => {
  it.each([
    [{ rows: 5 }, 5, true, '5 rows'],
    [{ rows: 5 }, 6, false, '5 rows'],
    [{ rows: 100, tolerance: '5%' }, 105, true, '100 rows ±5%'],
    [{ rows: 100, tolerance: '5%' }, 94, false, '100 rows ±5%'],
    [{ rows: { min: 10, max: 20 } }, 20, true, 'between 10 and 20 rows'],
    [{ rows: { min: 10 } }, 9, false, 'at least 10 rows'],
    [{ rows: { max: 0 } }, 0, true, 'at most 0 rows'],
  ])('%j holds %i rows: %s', (entry, rows, ok, text) => {
    expect([rowsWithin(entry, rows), describeRows(entry)]).toEqual([ok, text]);
  });
});
