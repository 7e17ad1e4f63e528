import { DrillError } from '../errors.ts';
import { showTableName, type TableName } from './table-name.ts';

/** `--table` names a table the backup does not hold: the message lists the nearest names it does. */
export class TableNotInDumpError extends DrillError {
  static override readonly code = 'DRILL_TABLE_NOT_IN_DUMP';
  readonly table: string;
  readonly near: string[];
  constructor(file: string, table: TableName, near: string[], databaseFound: boolean) {
    const what = databaseFound
      ? `${file} holds no table ${showTableName(table)}`
      : `${file} holds no database ${JSON.stringify(table.database)}, so no table ${showTableName(table)}`;
    super(
      `${what}. ${near.length ? `Nearest names in the backup: ${near.join(', ')}.` : 'The backup holds no table of a similar name.'} Names are case-sensitive, as the catalog spells them (see --help for quoting).`,
    );
    this.table = showTableName(table);
    this.near = near;
  }
}

/** The table is one the drill cannot restore on its own (a partitioned table's rows are in its partitions). */
export class TableDrillUnsupportedError extends DrillError {
  static override readonly code = 'DRILL_TABLE_UNSUPPORTED';
  readonly table: string;
  constructor(table: TableName, message: string) {
    super(message);
    this.table = showTableName(table);
  }
}
