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
 * The orphan queries' planner settings, for the check's own session only. Each is a full scan of a
 * child table and a hash of its parent's keys, run beside deep verification's read-back sessions,
 * which already keep every core busy: parallel workers then add CPU (a shared hash build, Gather) and
 * finish no sooner, and JIT compiles for tens of milliseconds per query on a fresh server. Neither
 * changes what a query returns. Measured at 1 GB (docs/how-it-works.md): ~0.5-1 s less CPU.
 */
export async function cheapScans(client: pg.ClientBase): Promise<void> {
  await client.query(
    "SELECT pg_catalog.set_config('jit', 'off', false), pg_catalog.set_config('max_parallel_workers_per_gather', '0', false)",
  );
}
