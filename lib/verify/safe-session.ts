import type pg from 'pg';

/**
 * Pins the session's search_path to nothing. A restored cluster carries its source's role and database
 * settings (`ALTER ROLE postgres SET search_path = admin, pg_catalog`), which apply to the drill's own
 * sessions too: every name the checks use is schema-qualified, and nothing resolves through a schema
 * the backup chose. pg_catalog is still searched implicitly, first.
 */
export async function pinSearchPath(client: pg.ClientBase): Promise<void> {
  await client.query("SELECT pg_catalog.set_config('search_path', '', false)");
}
