import type pg from 'pg';
import type { DatabaseSession, TableCheck } from './deep.ts';
import { pinSearchPath } from './safe-session.ts';

/**
 * Types whose COPY text depends on the session's TimeZone: timestamptz, its arrays, ranges and
 * multiranges, and domains over any of them (timetz carries its own offset; timestamp has none).
 */
const ZONED_COLUMNS = `
  SELECT DISTINCT c.oid::regclass::text AS "table"
    FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid
    JOIN pg_type t ON t.oid = a.atttypid
    LEFT JOIN pg_type base ON base.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
    LEFT JOIN pg_type elem ON elem.oid = base.typelem AND base.typelem <> 0
    LEFT JOIN pg_range r ON r.rngtypid = base.oid
    LEFT JOIN pg_range mr ON mr.rngmultitypid = base.oid
   WHERE c.oid::regclass::text = ANY ($1::text[]) AND a.attnum > 0 AND NOT a.attisdropped
     AND 'timestamptz'::regtype IN (base.oid, elem.oid, r.rngsubtype, mr.rngsubtype)`;

/**
 * Why tables may differ that restored whole: pg_dump wrote their timestamptz values in the source
 * server's TimeZone, which no dump records, and they were read back in `--source-time-zone` (UTC unless
 * set), the restored database and role setting none. Names those of the differing tables that hold such
 * a column and the setting that fixes it; undefined where none does, or the session's zone was their own.
 */
export async function timeZoneHint(
  differing: readonly TableCheck[],
  sessions: readonly DatabaseSession[],
  connect: (database: string) => Promise<pg.Client>,
): Promise<string | undefined> {
  const zoned: string[] = [];
  let zone: string | undefined;
  for (const session of sessions) {
    if (session.timeZoneFrom !== '--source-time-zone') continue;
    const tables = differing.filter((t) => t.database === session.database && t.kind === 'table');
    if (tables.length === 0) continue;
    const restored = tables[0]?.restoredDatabase as string;
    const client = await connect(restored);
    try {
      await pinSearchPath(client);
      const { rows } = await client.query<{ table: string }>(ZONED_COLUMNS, [tables.map((t) => t.table)]);
      for (const row of rows) zoned.push(`${session.database} ${row.table}`);
      zone = session.timeZone;
    } finally {
      await client.end().catch(() => {});
    }
  }
  if (zoned.length === 0) return undefined;
  return `${zoned.length} of the differing table(s) hold timestamptz values (${zoned.join(', ')}), which pg_dump writes in the source server's TimeZone (no dump records it) and which were read back in ${zone} (--source-time-zone): if the source server's TimeZone is not ${zone} (\`SHOW TimeZone\` there), drill again with --source-time-zone set to it (DRILL_SOURCE_TIME_ZONE)`;
}
