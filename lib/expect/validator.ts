import { ExpectationsError } from './errors.ts';

/** A parsed YAML value, not yet validated. */
export type Json = unknown;

export function show(value: Json): string {
  return value === undefined ? 'nothing' : JSON.stringify(value);
}

/** Type checks that fail with the file, the key path and what was expected. */
export class Validator {
  readonly file: string;
  constructor(file: string) {
    this.file = file;
  }

  fail(path: string, message: string): never {
    throw new ExpectationsError(this.file, path, message);
  }

  object(value: Json, path: string): Record<string, Json> {
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      this.fail(path, `must be a mapping (key: value), got ${show(value)}`);
    return value as Record<string, Json>;
  }

  array(value: Json, path: string): Json[] {
    if (!Array.isArray(value)) this.fail(path, `must be a list, got ${show(value)}`);
    return value;
  }

  string(value: Json, path: string): string {
    if (typeof value !== 'string' || value === '')
      this.fail(path, `must be non-empty text, got ${show(value)}`);
    return value;
  }

  number(value: Json, path: string): number {
    if (typeof value !== 'number' || !Number.isFinite(value))
      this.fail(path, `must be a number, got ${show(value)}`);
    return value;
  }

  /** A count: a whole number ≥ 0. */
  count(value: Json, path: string): number {
    if (!Number.isInteger(value) || (value as number) < 0)
      this.fail(path, `must be a whole number of at least 0, got ${show(value)}`);
    return value as number;
  }

  /** Unknown keys are typos until proven otherwise. */
  known(object: Record<string, Json>, path: string, keys: string[]): void {
    for (const key of Object.keys(object)) {
      if (!keys.includes(key))
        this.fail(
          path ? `${path}.${key}` : key,
          `is not a key this drill knows here; expected one of ${keys.join(', ')}`,
        );
    }
  }
}
