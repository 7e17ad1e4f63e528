import type pg from 'pg';
import { jitOff, pinSearchPath } from './safe-session.ts';
import { fail, pass, type Verdict } from './verdict.ts';

interface ForeignKeyRow {
  name: string;
  /** regclass text under search_path '': quoted and always schema-qualified. */
  child: string;
  parent: string;
  validated: boolean;
  child_columns: string[];
  parent_columns: string[];
}

export interface ForeignKeyFact {
  name: string;
  table: string;
  references: string;
  validated: boolean;
  orphans: number;
}

/**
 * Every foreign key of the database is validated (a NOT VALID one proves nothing about the rows) and no
 * child row points at a missing parent (one NOT EXISTS query per key, multi-column aware; rows with a
 * NULL key column are exempt, as MATCH SIMPLE has it).
 */
export async function checkForeignKeys(client: pg.ClientBase): Promise<Verdict> {
  await pinSearchPath(client);
  await jitOff(client);
  const { rows } = await client.query<ForeignKeyRow>(
    `SELECT c.conname AS name,
            c.conrelid::regclass::text AS child,
            c.confrelid::regclass::text AS parent,
            c.convalidated AS validated,
            array_agg(quote_ident(ca.attname) ORDER BY k.ord) AS child_columns,
            array_agg(quote_ident(pa.attname) ORDER BY k.ord) AS parent_columns
       FROM pg_constraint c
       CROSS JOIN LATERAL unnest(c.conkey, c.confkey) WITH ORDINALITY AS k(child_col, parent_col, ord)
       JOIN pg_attribute ca ON ca.attrelid = c.conrelid AND ca.attnum = k.child_col
       JOIN pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = k.parent_col
       JOIN pg_namespace n ON n.oid = c.connamespace
      WHERE c.contype = 'f' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      GROUP BY c.oid, c.conname, c.conrelid, c.confrelid, c.convalidated
      ORDER BY 2, 1`,
  );
  const facts: ForeignKeyFact[] = [];
  for (const fk of rows) {
    const notNull = fk.child_columns.map((col) => `c.${col} IS NOT NULL`).join(' AND ');
    const matches = fk.child_columns.map((col, i) => `p.${fk.parent_columns[i]} = c.${col}`).join(' AND ');
    const orphans = await client.query<{ n: string }>(
      `SELECT count(*) AS n FROM ${fk.child} c WHERE ${notNull} AND NOT EXISTS (SELECT 1 FROM ${fk.parent} p WHERE ${matches})`,
    );
    facts.push({
      name: fk.name,
      table: fk.child,
      references: fk.parent,
      validated: fk.validated,
      orphans: Number(orphans.rows[0]?.n ?? 0),
    });
  }
  const bad = facts.filter((f) => !f.validated || f.orphans > 0);
  if (bad.length > 0) {
    return fail(
      bad
        .map(
          (f) =>
            `${f.table}.${f.name}: ${f.validated ? '' : 'NOT VALID'}${!f.validated && f.orphans ? ', ' : ''}${f.orphans ? `${f.orphans} orphan row(s)` : ''}`,
        )
        .join('; '),
      { foreignKeys: facts },
    );
  }
  return pass(`${facts.length} foreign key(s) validated, no orphan rows`, { foreignKeys: facts });
}

interface OwnedSequenceRow {
  sequence: string;
  table: string;
  column: string;
  last_value: string | null;
  is_called: boolean;
  start_value: string;
  increment_by: string;
}

export interface SequenceFact {
  sequence: string;
  table: string;
  column: string;
  nextValue: string;
  maxValue: string | null;
}

/**
 * Each sequence owned by a column (serial or identity) will hand out a value beyond the column's
 * maximum: a dump that restored the rows but not the setval would make the next insert collide.
 */
export async function checkSequences(client: pg.ClientBase): Promise<Verdict> {
  await pinSearchPath(client);
  const { rows } = await client.query<OwnedSequenceRow>(
    `SELECT d.objid::regclass::text AS sequence,
            d.refobjid::regclass::text AS "table",
            quote_ident(a.attname) AS "column",
            s.last_value::text AS last_value,
            coalesce(s.last_value IS NOT NULL, false) AS is_called,
            seq.seqstart::text AS start_value,
            seq.seqincrement::text AS increment_by
       FROM pg_depend d
       JOIN pg_class sc ON sc.oid = d.objid AND sc.relkind = 'S'
       JOIN pg_sequence seq ON seq.seqrelid = d.objid
       JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
       LEFT JOIN pg_sequences s ON format('%I.%I', s.schemaname, s.sequencename)::regclass = d.objid
      WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
        AND d.deptype IN ('a', 'i')
      ORDER BY 2, 3`,
  );
  const facts: SequenceFact[] = [];
  const behind: string[] = [];
  for (const seq of rows) {
    const max = await client.query<{ max: string | null }>(
      `SELECT max(${seq.column})::text AS max FROM ${seq.table}`,
    );
    const maxValue = max.rows[0]?.max ?? null;
    const next =
      seq.is_called && seq.last_value !== null
        ? BigInt(seq.last_value) + BigInt(seq.increment_by)
        : BigInt(seq.start_value);
    facts.push({
      sequence: seq.sequence,
      table: seq.table,
      column: seq.column,
      nextValue: next.toString(),
      maxValue,
    });
    const ascending = BigInt(seq.increment_by) > 0n;
    if (maxValue !== null && (ascending ? next <= BigInt(maxValue) : next >= BigInt(maxValue))) {
      behind.push(
        `${seq.sequence} would hand out ${next} but ${seq.table}.${seq.column} already holds ${maxValue}`,
      );
    }
  }
  return behind.length > 0
    ? fail(behind.join('; '), { sequences: facts })
    : pass(`${facts.length} owned sequence(s) beyond their column's maximum`, { sequences: facts });
}
