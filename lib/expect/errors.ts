import { DrillError } from '../errors.ts';

/** The expectations file cannot be used: it names the file, the key path and the fix. */
export class ExpectationsError extends DrillError {
  static override readonly code = 'DRILL_EXPECTATIONS';
  override readonly exitCode = 2;
  readonly file: string;
  /** The key path in the file (`databases.app.tables.public.orders.rows`); empty for the whole file. */
  readonly key: string;
  constructor(file: string, key: string, message: string) {
    super(`expectations file ${file}: ${key ? `${key} ` : ''}${message}.`);
    this.file = file;
    this.key = key;
  }
}
