import type { DumpLine } from './dump-line.ts';

/**
 * What the dump sets a sequence to: pg_dump writes one `SELECT pg_catalog.setval('name', value, called);`
 * per sequence (its SEQUENCE SET entry), a never-called sequence included (`1, false`). The restored
 * sequence is compared with it: a sequence behind its column that the dump itself set there is the
 * source's own state (ids inserted by hand past it), restored faithfully, not a restore that lost it.
 */
export interface DumpedSequence {
  /** The database whose section sets it (the copy digest's database). */
  database: string;
  /** As the dump writes it, inside the string literal (`public.users_id_seq`, `public."Odd Seq"`). */
  sequence: string;
  /** The value argument, as written (a bigint). */
  value: string;
  isCalled: boolean;
  /** Dump line of the setval. */
  line: number;
}

const PREFIX = 'SELECT pg_catalog.setval(';
/** The longest setval line read: a 63-byte schema and name each quoted, doubled quotes and all. */
const MAX_LINE = 600;
/** `'name', value, true|false);` after the prefix; a literal's quote is doubled inside it. */
const ARGUMENTS = /^'((?:[^']|'')+)', (-?\d+), (true|false)\);$/;

/** The setval of a `SELECT pg_catalog.setval(…);` line of the dump, else undefined. */
export function readSetval(line: DumpLine): Omit<DumpedSequence, 'database'> | undefined {
  if (line.end - line.start > MAX_LINE || line.end - line.start < PREFIX.length) return undefined;
  const text = line.bytes.toString('utf8', line.start, line.end);
  if (!text.startsWith(PREFIX)) return undefined;
  const m = ARGUMENTS.exec(text.slice(PREFIX.length));
  if (!m) return undefined;
  return {
    sequence: (m[1] as string).replaceAll("''", "'"),
    value: m[2] as string,
    isCalled: m[3] === 'true',
    line: line.number,
  };
}
