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

/**
 * JIT off for the check's own session (PostgreSQL 11 on; older servers have no JIT): an orphan query
 * is one scan of a child table and a hash of its parent's keys, which JIT compiles for tens of
 * milliseconds on a fresh server, hundreds once it costs past jit_optimize_above_cost, and speeds up
 * by less. It changes nothing a query returns. Parallel workers stay as the server has them: beside
 * the read-back (deep-checks.ts) a serial scan of the largest child would be the one job left running
 * on one core once the read-back ends.
 */
export async function jitOff(client: pg.ClientBase): Promise<void> {
  await client.query(
    `SELECT CASE WHEN pg_catalog.current_setting('server_version_num')::int >= 110000
                 THEN pg_catalog.set_config('jit', 'off', false) END`,
  );
}
