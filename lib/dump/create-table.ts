/** A qualified name as pg_dump writes it: identifiers, bare or double-quoted, joined by dots. */
const NAME = String.raw`(?:"(?:[^"]|"")*"|[^\s."(;]+)(?:\.(?:"(?:[^"]|"")*"|[^\s."(;]+))*`;
const CREATE_TABLE = new RegExp(`^CREATE (?:UNLOGGED )?TABLE (${NAME})(?:\\s|\\(|;|$)`);

/**
 * The table a `CREATE [UNLOGGED] TABLE <name> (` line creates, as written (`public.t`, `"app"."t"`);
 * undefined for anything else. Foreign tables, views and materialized views hold no COPY data of their
 * own and are not matched.
 */
export function createdTable(line: string): string | undefined {
  return CREATE_TABLE.exec(line)?.[1];
}
