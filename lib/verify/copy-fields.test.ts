import { describe, expect, it } from 'vitest';
import { fieldsAt, isNull, keyText, parseInteger } from './copy-fields.ts';

/** The fields `wanted` of a COPY text line, as strings (undefined when the line has too few). */
function fields(line: string, wanted: number[]): string[] | undefined {
  const bytes = Buffer.from(`xx${line}\nyy`, 'utf8');
  const out = new Int32Array(2 * wanted.length);
  const end = bytes.indexOf(10);
  if (!fieldsAt(bytes, 2, end, wanted, out)) return undefined;
  return wanted.map((_, i) => keyText(bytes, out[2 * i] as number, out[2 * i + 1] as number));
}

const int = (text: string) => {
  const bytes = Buffer.from(`#${text}#`);
  return parseInteger(bytes, 1, bytes.length - 1);
};

describe('fieldsAt', () => {
  it('finds the first, a middle and the last field of a line, within its bounds only', () => {
    expect(fields('1\tbob\t42', [0, 1, 2])).toEqual(['1', 'bob', '42']);
    expect(fields('1\tbob\t42', [2])).toEqual(['42']);
    expect(fields('1\tbob\t42', [0])).toEqual(['1']);
  });

  it('an escaped tab or backslash is part of its value; only a raw tab separates', () => {
    expect(fields('a\\tb\\\\\tc\\\\t', [0, 1])).toEqual(['a\\tb\\\\', 'c\\\\t']);
  });

  it('empty fields and a trailing empty field count; too few fields is said', () => {
    expect(fields('\t\t', [0, 1, 2])).toEqual(['', '', '']);
    expect(fields('1\t2\t', [2])).toEqual(['']);
    expect(fields('1\t2', [2])).toBeUndefined();
  });

  it('NULL is exactly \\N, not an escaped N in a longer value', () => {
    const bytes = Buffer.from('\\N\t\\\\N\t\\NX');
    expect([isNull(bytes, 0, 2), isNull(bytes, 3, 6), isNull(bytes, 7, 10)]).toEqual([true, false, false]);
  });
});

describe('parseInteger', () => {
  it('reads signs and digits exactly', () => {
    expect([int('0'), int('-1'), int('2147483647'), int('-9223372'), int('123456789012345')]).toEqual([
      0, -1, 2147483647, -9223372, 123456789012345,
    ]);
  });

  it('beyond 15 digits (int8 past 2^53 among them) is not a number: the key stays text', () => {
    expect([int('9007199254740993'), int('-9223372036854775808')]).toEqual([Number.NaN, Number.NaN]);
  });

  it('leading zeros (never in COPY output) read as the same integer, as integer equality has it', () => {
    expect(int('007')).toBe(int('7'));
    expect(int('-0')).toBe(-0);
  });

  it('anything but digits is not a number', () => {
    expect([int(''), int('-'), int('1e3'), int('12a'), int('\\N'), int('+1')]).toEqual([
      Number.NaN,
      Number.NaN,
      Number.NaN,
      Number.NaN,
      Number.NaN,
      Number.NaN,
    ]);
  });
});
