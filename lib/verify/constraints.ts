import type pg from 'pg';
import { type ForeignKeyWay, OWN_FOREIGN_KEY } from './fk-plan.ts';
import type { DatabaseStreams, StreamOutcome } from './fk-streams.ts';
import { jitOff, pinSearchPath } from './safe-session.ts';
import { fail, pass, type Verdict } from './verdict.ts';

interface ForeignKeyRow {
  oid: string;
  name: string;
  /** regclass text under search_path '': quoted and always schema-qualified. */
  child: string;
  parent: string;
  validated: boolean;
  /** A partitioned table: its rows are its partitions'. */
  child_partitioned: boolean;
  parent_partitioned: boolean;
  /** MATCH FULL: a row with some (not all) key columns NULL is an orphan; MATCH SIMPLE exempts it. */
  match_full: boolean;
  child_columns: string[];
  parent_columns: string[];
}

export interface ForeignKeyFact {
  name: string;
  table: string;
  references: string;
  validated: boolean;
  orphans: number;
  /** How its orphans were counted: from the rows deep verification read back, or by a query on the server. */
  counted: 'read-back' | 'server';
  /** What was compared, how many, against what (or why it was counted on the server). */
  how: string;
}

/**
 * A FK's orphans by one NOT EXISTS query (multi-column aware; MATCH SIMPLE: a NULL key column exempts
 * the row; MATCH FULL: only all of them NULL do, some NULL is an orphan), over
 * the rows the key binds, as the server's own check reads them: a plain table ONLY (a key binds no
 * inheritance child of its table, and a parent's inheritance children hold no key it accepts), a
 * partitioned one with its partitions.
 */
async function countOnServer(client: pg.ClientBase, fk: ForeignKeyRow): Promise<number> {
  const notNull = fk.child_columns.map((col) => `c.${col} IS NOT NULL`).join(' AND ');
  const allNull = fk.child_columns.map((col) => `c.${col} IS NULL`).join(' AND ');
  const matches = fk.child_columns.map((col, i) => `p.${fk.parent_columns[i]} = c.${col}`).join(' AND ');
  const only = (partitioned: boolean) => (partitioned ? '' : 'ONLY ');
  const missing = `NOT EXISTS (SELECT 1 FROM ${only(fk.parent_partitioned)}${fk.parent} p WHERE ${matches})`;
  const orphan = fk.match_full
    ? `NOT (${allNull}) AND (NOT (${notNull}) OR ${missing})`
    : `${notNull} AND ${missing}`;
  const orphans = await client.query<{ n: string }>(
    `SELECT count(*) AS n FROM ${only(fk.child_partitioned)}${fk.child} c WHERE ${orphan}`,
  );
  return Number(orphans.rows[0]?.n ?? 0);
}

type Counted = Pick<ForeignKeyFact, 'orphans' | 'counted' | 'how'>;

/** The stream count of a FK, or undefined when it did not stand (`why` then says why). */
function fromReadBack(fk: ForeignKeyRow, outcome: StreamOutcome | undefined): Counted | string {
  if (outcome === undefined) return 'the read-back ended without counting it';
  if (!outcome.counted) return outcome.why;
  const exempt = outcome.exempt ? ` (${outcome.exempt} with a NULL key column exempt)` : '';
  return {
    orphans: outcome.orphans,
    counted: 'read-back',
    how: `${outcome.checked} row(s)${exempt} checked against ${outcome.keys} key(s) of ${fk.parent} read back, ${outcome.orphans} orphan(s)`,
  };
}

/**
 * Counts each FK's orphans: those deep verification's read-back counts (`streams`) from its rows once
 * it has, the others at once on the server, as do stream-counted ones whose count did not stand.
 */
async function countOrphans(
  client: pg.ClientBase,
  rows: ForeignKeyRow[],
  streams: DatabaseStreams | undefined,
): Promise<Counted[]> {
  const plan = streams ? await streams.plan : new Map<string, ForeignKeyWay>();
  const server = async (fk: ForeignKeyRow, why?: string, after = false): Promise<Counted> => {
    streams?.signal?.throwIfAborted();
    const orphans = await countOnServer(client, fk);
    const when = after ? ' after the read-back' : '';
    const because = why === undefined ? '' : ` (${why})`;
    return {
      orphans,
      counted: 'server',
      how: `counted on the server${when}${because}, ${orphans} orphan(s)`,
    };
  };
  const counts: (Counted | undefined)[] = rows.map(() => undefined);
  for (const [i, fk] of rows.entries()) {
    const way = plan.get(fk.oid);
    if (way?.way === 'stream') continue;
    counts[i] = await server(fk, streams ? (way?.why ?? 'the read-back did not plan it') : undefined);
  }
  const outcomes =
    streams && counts.includes(undefined) ? await streams.outcomes : new Map<string, StreamOutcome>();
  for (const [i, fk] of rows.entries()) {
    if (counts[i] !== undefined) continue;
    const got = fromReadBack(fk, outcomes.get(fk.oid));
    counts[i] = typeof got === 'string' ? await server(fk, got, true) : got;
  }
  return counts as Counted[];
}

/**
 * Every foreign key of the database is validated (a NOT VALID one proves nothing about the rows) and no
 * child row points at a missing parent (rows with a NULL key column are exempt, as MATCH SIMPLE has
 * it): counted from the rows deep verification reads back where `streams` says so (fk-streams.ts),
 * else by one NOT EXISTS query per key on the server.
 */
export async function checkForeignKeys(client: pg.ClientBase, streams?: DatabaseStreams): Promise<Verdict> {
  await pinSearchPath(client);
  await jitOff(client);
  const { rows } = await client.query<ForeignKeyRow>(
    `SELECT c.oid::text AS oid,
            c.conname AS name,
            c.conrelid::regclass::text AS child,
            c.confrelid::regclass::text AS parent,
            c.convalidated AS validated,
            (SELECT r.relkind = 'p' FROM pg_class r WHERE r.oid = c.conrelid) AS child_partitioned,
            (SELECT r.relkind = 'p' FROM pg_class r WHERE r.oid = c.confrelid) AS parent_partitioned,
            c.confmatchtype = 'f' AS match_full,
            array_agg(quote_ident(ca.attname) ORDER BY k.ord) AS child_columns,
            array_agg(quote_ident(pa.attname) ORDER BY k.ord) AS parent_columns
       FROM pg_constraint c
       CROSS JOIN LATERAL unnest(c.conkey, c.confkey) WITH ORDINALITY AS k(child_col, parent_col, ord)
       JOIN pg_attribute ca ON ca.attrelid = c.conrelid AND ca.attnum = k.child_col
       JOIN pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = k.parent_col
       JOIN pg_namespace n ON n.oid = c.connamespace
      WHERE c.contype = 'f' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
        AND ${OWN_FOREIGN_KEY}
      GROUP BY c.oid, c.conname, c.conrelid, c.confrelid, c.convalidated, c.confmatchtype
      ORDER BY 2, 1`,
  );
  const counts = await countOrphans(client, rows, streams);
  const facts: ForeignKeyFact[] = rows.map((fk, i) => ({
    name: fk.name,
    table: fk.child,
    references: fk.parent,
    validated: fk.validated,
    ...(counts[i] as Counted),
  }));
  // A NOT VALID key is restored so because the backup declares it so (pg_dump writes NOT VALID only for
  // a key the source never validated; a valid one is validated again as the restore adds it): its rows
  // are counted all the same, and only orphans fail.
  const bad = facts.filter((f) => f.orphans > 0);
  if (bad.length > 0) {
    return fail(
      bad
        .map(
          (f) =>
            `${f.table}.${f.name}: ${f.orphans} orphan row(s)${f.validated ? '' : ' (a NOT VALID key, as the backup declares it: the source may hold them too)'}`,
        )
        .join('; '),
      { foreignKeys: facts },
    );
  }
  const ways = streams ? ` (${countedWays(facts)})` : '';
  return pass(`${facts.length} foreign key(s) ${validatedWords(facts)}, no orphan rows${ways}`, {
    foreignKeys: facts,
  });
}

/**
 * "validated", or how many are NOT VALID: restored as the backup declares them, their rows checked
 * for orphans like the others'.
 */
export function validatedWords(facts: readonly ForeignKeyFact[]): string {
  const notValid = facts.filter((f) => !f.validated);
  if (notValid.length === 0) return 'validated';
  return `(${facts.length - notValid.length} validated, ${notValid.length} NOT VALID as the backup declares ${notValid.length === 1 ? 'it' : 'them'}: ${notValid.map((f) => `${f.table}.${f.name}`).join(', ')}; rows checked all the same)`;
}

/** How many of the keys were counted from the rows read back, and how many on the server. */
export function countedWays(facts: readonly ForeignKeyFact[]): string {
  const streamed = facts.filter((f) => f.counted === 'read-back').length;
  return `${streamed} counted from the rows read back, ${facts.length - streamed} on the server`;
}
