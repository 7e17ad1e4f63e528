import type pg from 'pg';
import type { DumpedSequence } from '../dump/setval.ts';
import { pinSearchPath } from './safe-session.ts';
import { fail, pass, type Verdict } from './verdict.ts';

interface OwnedSequenceRow {
  sequence: string;
  table: string;
  column: string;
  last_value: string | null;
  is_called: boolean;
  start_value: string;
  increment_by: string;
  cycle: boolean;
  /** The column's type, when it is not an integer one (a sequence may feed `'INV-' || nextval(…)`). */
  other_type: string | null;
}

export interface SequenceFact {
  sequence: string;
  table: string;
  column: string;
  nextValue: string;
  maxValue: string | null;
  /** Why the next value and the column's maximum were not compared. */
  notCompared?: string;
  /** Behind its column: the next value is one the column already holds. */
  behind?: true;
  /** For a sequence behind its column: what the backup's own setval made it hand out next. */
  dumped?: { nextValue: string; line: number } | { none: string };
}

/**
 * The setvals the backup writes for the database being checked (its section of a pg_dumpall), or why
 * they could not be read. Asked only when a sequence is behind its column.
 */
export type DumpedSequences = () => Promise<readonly DumpedSequence[] | string>;

/**
 * Each sequence owned by a column (serial or identity) will hand out a value beyond the column's
 * maximum: a dump that restored the rows but not the setval would make the next insert collide. A
 * sequence behind its column is failed unless the backup itself sets it there (`dumped`): then the
 * source database's sequence was behind already (rows inserted with explicit ids), the restore
 * reproduced it, and the verdict passes, saying so. Without `dumped`, behind fails.
 */
export async function checkSequences(client: pg.ClientBase, dumped?: DumpedSequences): Promise<Verdict> {
  await pinSearchPath(client);
  const { rows } = await client.query<OwnedSequenceRow>(
    `SELECT d.objid::regclass::text AS sequence,
            d.refobjid::regclass::text AS "table",
            quote_ident(a.attname) AS "column",
            s.last_value::text AS last_value,
            coalesce(s.last_value IS NOT NULL, false) AS is_called,
            seq.seqstart::text AS start_value,
            seq.seqincrement::text AS increment_by,
            seq.seqcycle AS cycle,
            CASE WHEN a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype) THEN NULL
                 ELSE format_type(a.atttypid, a.atttypmod) END AS other_type
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
  for (const seq of rows) facts.push(await sequenceFact(client, seq));
  if (dumped && facts.some((f) => f.behind)) await compareWithDump(client, facts, rows, dumped);
  return sequencesVerdict(facts, dumped !== undefined);
}

/** How many of the facts compared a next value with its column (not the text or cycling ones). */
export function sequencesCompared(facts: readonly SequenceFact[]): number {
  return facts.filter((f) => f.notCompared === undefined).length;
}

function sequencesVerdict(facts: SequenceFact[], withDump: boolean): Verdict {
  const skipped = facts.filter((f) => f.notCompared !== undefined);
  const aside = skipped.length
    ? `; ${skipped.length} not compared: ${skipped.map((f) => f.notCompared).join('; ')}`
    : '';
  const behind = facts.filter((f) => f.behind);
  const asDumped = behind.filter(
    (f) => f.dumped && 'nextValue' in f.dumped && f.dumped.nextValue === f.nextValue,
  );
  const lost = behind.filter((f) => !asDumped.includes(f));
  if (lost.length > 0)
    return fail(`${lost.map((f) => behindText(f, withDump)).join('; ')}${aside}`, { sequences: facts });
  const ahead = sequencesCompared(facts) - behind.length;
  const source = asDumped.length
    ? `; ${asDumped.length} ${asDumped.length === 1 ? 'behind its column as the backup itself sets it, restored as it was' : 'behind their columns as the backup itself sets them, restored as they were'} (the source's own: rows were inserted with explicit ids past the sequence, and the next insert collides there too): ${asDumped.map((f) => behindText(f, true)).join('; ')}`
    : '';
  return pass(`${ahead} owned sequence(s) beyond their column's maximum${source}${aside}`, {
    sequences: facts,
  });
}

function behindText(f: SequenceFact, withDump: boolean): string {
  const what = `${f.sequence} would hand out ${f.nextValue} but ${f.table}.${f.column} already holds ${f.maxValue}`;
  if (!withDump || !f.dumped) return what;
  if ('none' in f.dumped) return `${what}; ${f.dumped.none}`;
  if (f.dumped.nextValue === f.nextValue)
    return `${what}, as the backup's setval (line ${f.dumped.line}) sets it`;
  return `${what}, where the backup's setval (line ${f.dumped.line}) makes it hand out ${f.dumped.nextValue}`;
}

/** The next value a sequence hands out, from its last value and whether it was called. */
function nextOf(lastValue: string | null, isCalled: boolean, row: OwnedSequenceRow): bigint {
  return isCalled && lastValue !== null
    ? BigInt(lastValue) + BigInt(row.increment_by)
    : BigInt(row.start_value);
}

/** Finds each behind sequence's setval in the backup (names resolved on the server, as regclass reads them). */
async function compareWithDump(
  client: pg.ClientBase,
  facts: SequenceFact[],
  rows: OwnedSequenceRow[],
  dumped: DumpedSequences,
): Promise<void> {
  const values = await dumped();
  const byName = new Map<string, DumpedSequence>();
  if (typeof values !== 'string') {
    const names = [...new Set(values.map((v) => v.sequence))];
    const resolved = await client
      .query<{ written: string; name: string | null }>(
        'SELECT n AS written, to_regclass(n)::text AS name FROM unnest($1::text[]) AS n',
        [names],
      )
      .then((r) => new Map(r.rows.map((row) => [row.written, row.name ?? row.written])))
      .catch(() => new Map(names.map((n) => [n, n])));
    // The last setval of a name wins, as the restore applies them in order.
    for (const v of values) byName.set(resolved.get(v.sequence) ?? v.sequence, v);
  }
  for (const [i, fact] of facts.entries()) {
    if (!fact.behind) continue;
    const row = rows[i] as OwnedSequenceRow;
    const set = byName.get(fact.sequence);
    fact.dumped =
      typeof values === 'string'
        ? { none: `the backup's own value for it could not be read (${values})` }
        : set
          ? { nextValue: nextOf(set.value, set.isCalled, row).toString(), line: set.line }
          : { none: 'the backup sets no value for it (no setval)' };
  }
}

/** One owned sequence's next value against its column's maximum. */
async function sequenceFact(client: pg.ClientBase, seq: OwnedSequenceRow): Promise<SequenceFact> {
  const next = nextOf(seq.last_value, seq.is_called, seq);
  const named = { sequence: seq.sequence, table: seq.table, column: seq.column, nextValue: next.toString() };
  // A maximum that is no integer (a text or timestamp column the sequence feeds) has no order against
  // the next value; a cycling sequence starts over by design.
  const notCompared = seq.other_type
    ? `${seq.table}.${seq.column} is ${seq.other_type}, not an integer`
    : seq.cycle
      ? `${seq.sequence} cycles`
      : undefined;
  if (notCompared) return { ...named, maxValue: null, notCompared };
  const max = await client.query<{ max: string | null }>(
    `SELECT max(${seq.column})::text AS max FROM ${seq.table}`,
  );
  const maxValue = max.rows[0]?.max ?? null;
  const ascending = BigInt(seq.increment_by) > 0n;
  const behind = maxValue !== null && (ascending ? next <= BigInt(maxValue) : next >= BigInt(maxValue));
  return { ...named, maxValue, ...(behind ? { behind: true as const } : {}) };
}
