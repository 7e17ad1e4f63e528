import {
  checkConstraintsEverywhere,
  type RestoredDatabase,
  type WithDatabase,
} from './constraints-everywhere.ts';
import { type DeepVerification, type DeepVerifyOptions, verifyDeep } from './deep.ts';
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
  constraints: { databases: RestoredDatabase[]; withDatabase: WithDatabase };
}

/**
 * Starts deep verification's two checks at once rather than one after the other: the read-back's
 * COPY sessions leave part of the cores idle while node digests and psql relays, and the orphan queries
 * (a scan of each child table and a hash of its parent's keys, the next largest cost at 1 GB) fill
 * them, on a session of their own. Neither check reads what the other writes: both only read the
 * restored server. A failure of one is that check's own verdict, awaited by its own step: a promise
 * nobody awaits yet is marked handled so that it is never an unhandled rejection.
 */
export function startDeepChecks(options: DeepChecksOptions): DeepChecks {
  const constraints = checkConstraintsEverywhere(
    options.constraints.databases,
    options.constraints.withDatabase,
  );
  const tables = verifyDeep(options.tables);
  constraints.catch(() => {});
  tables.catch(() => {});
  return { tables, constraints };
}
