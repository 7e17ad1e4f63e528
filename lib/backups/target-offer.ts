import type { TargetTablespaces } from './tablespaces-check.ts';

/** What a server offers a dump beyond plain SQL: extensions it can create, tablespaces it holds. */
export interface TargetOffer {
  /** pg_available_extensions: every extension whose control file the server has. */
  extensions: string[];
  tablespaces: TargetTablespaces;
}

/** Reads the target's offer through any pg client (read-only catalog queries). */
export async function readTargetOffer(client: {
  query<R extends object>(sql: string): Promise<{ rows: R[] }>;
}): Promise<TargetOffer> {
  const names = async (sql: string) => (await client.query<{ name: string }>(sql)).rows.map((r) => r.name);
  return {
    extensions: await names('SELECT name FROM pg_catalog.pg_available_extensions'),
    tablespaces: {
      existing: await names('SELECT spcname AS name FROM pg_catalog.pg_tablespace'),
      inPlace:
        (await names(`SELECT name FROM pg_catalog.pg_settings WHERE name = 'allow_in_place_tablespaces'`))
          .length > 0,
    },
  };
}

/**
 * Where each tablespace lives on the restored server: an in-place one reads `pg_tblspc/<oid>`,
 * relative to the data directory, which is added.
 */
export async function readTablespaceLocations(client: {
  query<R extends object>(sql: string): Promise<{ rows: R[] }>;
}): Promise<Map<string, string>> {
  const { rows } = await client.query<{ name: string; location: string; datadir: string }>(
    `SELECT spcname AS name, pg_catalog.pg_tablespace_location(oid) AS location,
            pg_catalog.current_setting('data_directory') AS datadir
       FROM pg_catalog.pg_tablespace`,
  );
  return new Map(
    rows.map((r) => [r.name, r.location.startsWith('/') ? r.location : `${r.datadir}/${r.location}`]),
  );
}
