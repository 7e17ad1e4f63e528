import { IDENT_PATTERN } from './sql-ident.ts';
/**
 * A pg_dumpall's `CREATE TABLESPACE x OWNER y LOCATION '/path';` names a directory on the source's
 * host. Replayed as written, the server takes that directory over (chmod 0700, data written there)
 * or fails with 58P01; on the source's own host it reaches for the live server's tablespace. In a
 * whole-cluster restore the drill makes every tablespace *in place* instead
 * (`allow_in_place_tablespaces`, PostgreSQL 15 and the 10–14 minors of 2022 on): the server keeps it
 * as a directory under its own data directory (`pg_tblspc/<oid>`), so nothing outside the throwaway
 * server's files is created or changed, and it goes when the server goes. Objects, `TABLESPACE =`
 * clauses and `SET default_tablespace` work on an in-place tablespace as on any other.
 */

/** A tablespace the restore made in place, and where the dump wanted it. */
export interface TablespaceRemap {
  line: number;
  name: string;
  /** LOCATION as the dump writes it. */
  original: string;
  /** Where it lives on the restored server (its data directory's pg_tblspc/<oid>), once known. */
  mapped?: string;
}

/** The setting that lets `LOCATION ''` make a tablespace inside the data directory. */
export const IN_PLACE_SETTING = 'allow_in_place_tablespaces';

const IDENT = IDENT_PATTERN;
const CREATE = new RegExp(`^(CREATE TABLESPACE (${IDENT})(?: OWNER ${IDENT})? LOCATION )'((?:[^']|'')*)';$`);

/** A parsed `CREATE TABLESPACE` line: the name as written, and the location's text. */
export interface CreateTablespace {
  ident: string;
  location: string;
  /** The statement up to (not including) the location literal. */
  head: string;
}

/**
 * Reads a one-line `CREATE TABLESPACE name [OWNER role] LOCATION '…';` as pg_dumpall writes it (with
 * standard_conforming_strings on, which pg_dumpall sets first). Anything else is undefined: the caller
 * refuses to replay a tablespace it cannot remap.
 */
export function parseCreateTablespace(text: string): CreateTablespace | undefined {
  const match = CREATE.exec(text);
  if (!match?.[1] || !match[2] || match[3] === undefined) return undefined;
  return { head: match[1], ident: match[2], location: match[3].replaceAll("''", "'") };
}

/** The statement that makes the tablespace in place, on one line so line numbers stay true. */
export function inPlaceStatement(create: CreateTablespace): string {
  return `SET ${IN_PLACE_SETTING} = on; ${create.head}''; RESET ${IN_PLACE_SETTING}; -- pg-restore-drill: LOCATION made in place (the dump's is kept in the report)`;
}
