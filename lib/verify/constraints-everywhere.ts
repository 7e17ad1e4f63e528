import type pg from 'pg';
import { checkForeignKeys, countedWays, type ForeignKeyFact, validatedWords } from './constraints.ts';
import type { ForeignKeyStreams } from './fk-streams.ts';
import { checkSequences, type DumpedSequences, type SequenceFact } from './sequences.ts';
import { fail, pass, type Verdict } from './verdict.ts';

/** A database of the dump and the name it was restored under. */
export interface RestoredDatabase {
  database: string;
  restoredDatabase: string;
}

/** Opens a client on a restored database, runs `fn`, closes it (lib/targets/databases.ts withClient). */
export type WithDatabase = <T>(database: string, fn: (client: pg.ClientBase) => Promise<T>) => Promise<T>;

export interface DatabaseConstraints extends RestoredDatabase {
  foreignKeys: Verdict;
  sequences: Verdict;
}

/**
 * The foreign key and sequence checks of constraints.ts over every restored database, not only the
 * canary's: each foreign key validated without orphans, each owned sequence ahead of its column. Run
 * with search_path '' (each check pins it) so that a restored `ALTER ROLE … SET search_path` cannot redirect a catalog name
 * and every table is named schema-qualified. With `streams` (deep verification), foreign keys the
 * read-back counts from its rows are counted there; sequences are checked first, while it reads.
 */
export async function checkConstraintsEverywhere(
  databases: RestoredDatabase[],
  withDatabase: WithDatabase,
  streams?: ForeignKeyStreams,
  dumpedIn?: (database: string) => DumpedSequences,
): Promise<Verdict> {
  const results: DatabaseConstraints[] = [];
  for (const db of databases) {
    const [foreignKeys, sequences] = await withDatabase(db.restoredDatabase, async (client) => {
      const sequences = await checkSequences(client, dumpedIn?.(db.database));
      return [await checkForeignKeys(client, streams?.streams(db.restoredDatabase)), sequences] as const;
    });
    results.push({ ...db, foreignKeys, sequences });
  }
  const facts = {
    databases: results.map((r) => ({
      database: r.database,
      restoredDatabase: r.restoredDatabase,
      foreignKeys: r.foreignKeys.facts.foreignKeys,
      sequences: r.sequences.facts.sequences,
    })),
  };
  const name = (r: DatabaseConstraints) =>
    r.database === r.restoredDatabase ? r.database : `${r.database} (restored as ${r.restoredDatabase})`;
  const failures = results.flatMap((r) =>
    [r.foreignKeys, r.sequences].filter((v) => !v.ok).map((v) => `${name(r)}: ${v.summary}`),
  );
  if (results.length === 0)
    return fail('nothing to check: the dump creates no table, so no foreign key or sequence', facts);
  if (failures.length > 0) return fail(failures.join('; '), facts);
  const count = (key: 'foreignKeys' | 'sequences') =>
    results.reduce((sum, r) => sum + ((r[key].facts[key] as unknown[] | undefined)?.length ?? 0), 0);
  const keys = results.flatMap(
    (r) => (r.foreignKeys.facts.foreignKeys as ForeignKeyFact[] | undefined) ?? [],
  );
  const ways = streams ? ` (${countedWays(keys)})` : '';
  const sequences = results.flatMap((r) =>
    ((r.sequences.facts.sequences as SequenceFact[] | undefined) ?? []).map((f) => ({ ...f, at: name(r) })),
  );
  const notCompared = sequences.filter((f) => f.notCompared !== undefined);
  const aside = notCompared.length
    ? `; ${notCompared.length} sequence(s) not compared: ${notCompared.map((f) => `${f.at}: ${f.notCompared}`).join('; ')}`
    : '';
  const behind = sequences.filter((f) => f.behind);
  const asDumped = behind.length
    ? `; ${behind.length} sequence(s) behind their column as the backup itself sets them, restored as they were (the source's own: rows inserted with explicit ids past them): ${behind.map((f) => `${f.at}: ${f.sequence} hands out ${f.nextValue}, ${f.table}.${f.column} holds ${f.maxValue}`).join('; ')}`
    : '';
  return pass(
    `${count('foreignKeys')} foreign key(s) ${validatedWords(keys)} without orphans${ways} and ${sequences.length - notCompared.length - behind.length} owned sequence(s) beyond their columns, in ${results.length} database(s)${asDumped}${aside}`,
    facts,
  );
}
