import {
  checkConstraintsEverywhere,
  type RestoredDatabase,
  type WithDatabase,
} from './constraints-everywhere.ts';
import { type DeepVerification, type DeepVerifyOptions, verifyDeep } from './deep.ts';
import { ForeignKeyStreams } from './fk-streams.ts';
import type { DumpedSequences } from './sequences.ts';
import type { Verdict } from './verdict.ts';

/** The two checks of `--verify deep`, under way together; each settles on its own. */
export interface DeepChecks {
  /** Every table read back and compared (verifyDeep). */
  tables: Promise<DeepVerification>;
  /** Foreign keys and owned sequences of every restored database (checkConstraintsEverywhere). */
  constraints: Promise<Verdict>;
}

export interface DeepChecksOptions {
  tables: DeepVerifyOptions;
  constraints: {
    databases: RestoredDatabase[];
    withDatabase: WithDatabase;
    /** The backup's setvals of a database, for a sequence behind its column (checkSequences). */
    dumpedIn?: (database: string) => DumpedSequences;
  };
}

/**
 * Starts deep verification's two checks at once rather than one after the other, on sessions of their
 * own. The orphans of a foreign key between two plain tables the read-back reads in full, with keys
 * whose COPY text is canonical for equality, are counted from the lines it already streams
 * (fk-streams.ts: the server's orphan query, a scan of the child and hash probes of its parent's keys,
 * was the next largest cost at 1 GB); the constraint check awaits those counts and queries the server
 * for every other key, and for one whose count did not stand. A failure of one check is its own
 * verdict, awaited by its own step: a promise nobody awaits yet is marked handled so that it is never
 * an unhandled rejection.
 */
export function startDeepChecks(options: DeepChecksOptions): DeepChecks {
  const streams = new ForeignKeyStreams(options.tables.signal);
  const constraints = checkConstraintsEverywhere(
    options.constraints.databases,
    options.constraints.withDatabase,
    streams,
    options.constraints.dumpedIn,
  );
  const tables = verifyDeep({ ...options.tables, foreignKeys: streams });
  constraints.catch(() => {});
  tables.catch(() => {});
  return { tables, constraints };
}
