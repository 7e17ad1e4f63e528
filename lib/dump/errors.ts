import { DrillError } from '../errors.ts';

/** The database asked for has no section in the dump. */
export class DatabaseNotInDumpError extends DrillError {
  static override readonly code = 'DRILL_DATABASE_NOT_IN_DUMP';
  readonly database: string;
  /** The databases the dump does hold, in dump order. */
  readonly found: string[];
  constructor(database: string, found: string[]) {
    super(
      `The dump has no section for database ${JSON.stringify(database)}; it holds ${found.length ? found.map((d) => JSON.stringify(d)).join(', ') : 'no database sections (not a pg_dumpall?)'}.`,
    );
    this.database = database;
    this.found = found;
  }
}

/** A statement of the dump is not shaped as pg_dump writes it, so it cannot be rewritten safely. */
export class DumpStatementError extends DrillError {
  static override readonly code = 'DRILL_DUMP_STATEMENT';
  readonly statement: string;
  constructor(statement: string, message: string) {
    super(message);
    this.statement = statement;
  }
}
