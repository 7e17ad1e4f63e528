/**
 * `pg-restore-drill record`: writes an expectations file from what a server (read-only) or a backup
 * (its COPY data) holds: per table of the canary (with --all, of every database) the row count and the
 * content digest deep verification computes, the canary tables' rows and keys, and the discovered
 * canary contract. The drill then holds every later backup to it (`--expect FILE`).
 */
import { stringify } from 'yaml';
import { DrillError } from '../errors.ts';
import type { CanaryContractSpec, DatabaseExpectation } from './expectations.ts';

/** Recording could not be done: nothing was written. */
export class RecordError extends DrillError {
  static override readonly code = 'DRILL_RECORD';
  override readonly exitCode = 2;
}

/** `--canary none`: a cluster without a canary (record it with --all). */
export const NO_CANARY = 'none';

/** Canary tables with more rows than this get a count and digest only, no row texts. */
export const ROWS_TEXT_LIMIT = 1000;

export interface RecordOptions {
  canary: string;
  /** Every database, not only the canary. */
  all: boolean;
  /** pg_dump writes timestamptz in the source's zone; rows are read back in it (--source-time-zone). */
  timeZone: string;
  now: Date;
}

/** The file's content (version 1; see docs/expectations.md). */
export interface RecordedExpectations {
  version: 1;
  recordedAt: string;
  recordedFrom: string;
  canary?: CanaryContractSpec;
  databases: Record<string, DatabaseExpectation>;
}

/** The expectations as YAML, with a header saying where they came from. */
export function formatExpectations(recorded: RecordedExpectations): string {
  const header = [
    `# Recorded by pg-restore-drill record from ${recorded.recordedFrom} at ${recorded.recordedAt}.`,
    '# The drill holds every backup to this file with --expect (DRILL_EXPECT); see docs/expectations.md.',
    '# Tables that live data keeps changing: replace digest by a range (min required) or a tolerance, e.g. `rows: { min: 1, max: 5000 }`',
    '# or `tolerance: "5%"`. Add your own read-only SQL checks under `assertions:`.',
  ].join('\n');
  return `${header}\n${stringify(recorded, { lineWidth: 0 })}`;
}

/** `a, "B c"` → [a, B c]. */
export function columnNames(list: string): string[] {
  const names: string[] = [];
  const re = /\s*(?:"((?:[^"]|"")*)"|([^,\s]+))\s*(?:,|$)/gy;
  for (let m = re.exec(list); m && m[0] !== ''; m = re.exec(list))
    names.push(m[1] !== undefined ? m[1].replaceAll('""', '"') : (m[2] as string));
  return names;
}

/** The last part of a qualified name, unquoted: `bank."Users"` → Users. */
export function baseName(qualified: string): string {
  const m = /(?:"((?:[^"]|"")*)"|([^."]+))$/.exec(qualified);
  return m?.[1] !== undefined ? m[1].replaceAll('""', '"') : (m?.[2] ?? qualified);
}
