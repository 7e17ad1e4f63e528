import type { TableDigest } from '../dump/copy-digest.ts';
import type { Executor } from '../exec/executor.ts';
import type { TableExpectation } from '../expect/expectations.ts';
import { type TableCheck, verifyDeep } from '../verify/deep.ts';
import { fail, pass, type Verdict } from '../verify/verdict.ts';
import { showTableName, type TableName } from './table-name.ts';

export interface TableVerifyRequest {
  table: TableName;
  /** What the dump holds of the table (restoreTable's digest); undefined: the dump has no such rows. */
  digest: TableDigest | undefined;
  executor: Executor;
  scratch: string;
  /** The restore's seconds, for the summary line. */
  seconds: number;
  timeZone: string;
  /** The expectations file's entry for this table (`record` from the source), when it has one. */
  expected?: { file: string; entry: TableExpectation };
  clock: () => number;
  signal: AbortSignal;
}

/** `1234567` → `1 234 567`, as the summary line prints counts. */
export function groupDigits(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ' ');
}

/** The restored table against an independent record (the expectations file): a backup altered after `record` fails here. */
function againstRecord(
  check: TableCheck,
  expected: NonNullable<TableVerifyRequest['expected']>,
): string | undefined {
  const { entry, file } = expected;
  const rows = check.restoredRows;
  if (typeof entry.rows === 'number' && rows !== entry.rows)
    return `${file} recorded ${entry.rows} row(s), restored ${rows}`;
  if (typeof entry.rows === 'object' && (rows ?? -1) < (entry.rows.min ?? 0))
    return `${file} expects at least ${entry.rows.min} row(s), restored ${rows}`;
  if (entry.digest !== undefined && check.restoredDigest !== entry.digest)
    return `${file} recorded digest ${entry.digest}, restored digest ${check.restoredDigest}`;
  return undefined;
}

/**
 * Reads the restored table back in pg_dump's session (lib/verify/deep-read.ts) and compares its row
 * count and content digest with what the dump holds; with an expectations entry, also with that record.
 * A table of no rows verifies nothing, and does not pass.
 */
export async function verifyTable(request: TableVerifyRequest): Promise<Verdict> {
  const name = showTableName(request.table);
  const { digest } = request;
  if (!digest)
    return fail(`table ${name}: the backup creates it but the drill found no data block of it`, {});
  const { tables } = await verifyDeep({
    executor: request.executor,
    expected: [digest],
    databaseFor: () => request.scratch,
    timeZone: request.timeZone,
    clock: request.clock,
    signal: request.signal,
  });
  const check = tables[0] as TableCheck;
  const facts = {
    tableCheck: {
      ...check,
      table: name,
      scratch: request.scratch,
      recordFile: request.expected?.file ?? null,
    },
  };
  const seconds = `${request.seconds.toFixed(2)} s`;
  if (digest.unverified)
    return fail(`table ${name}: its rows in the dump could not be digested (${digest.unverified})`, facts);
  if (check.error)
    return fail(`table ${name}: restored, but unreadable in ${request.scratch}: ${check.error}`, facts);
  if (!check.digestMatch) {
    return fail(
      `table ${name}: the restored table differs from the dump: dump ${digest.rows} row(s) digest ${digest.digest}, restored ${check.restoredRows} row(s) digest ${check.restoredDigest}`,
      facts,
    );
  }
  if (digest.rows === 0)
    return fail(
      `table ${name}: the backup holds no rows of it (restored empty in ${seconds}): nothing was verified`,
      facts,
    );
  const record = request.expected ? againstRecord(check, request.expected) : undefined;
  if (record) {
    return fail(
      `table ${name}: restored ${groupDigits(digest.rows)} rows in ${seconds} as the backup holds them, but the backup differs from the record: ${record}`,
      facts,
    );
  }
  const recorded = request.expected ? `, and the record of ${request.expected.file}` : '';
  return pass(
    `table ${name}: restored ${groupDigits(digest.rows)} rows in ${seconds}, digest matches the dump${recorded} (${digest.digest})`,
    facts,
  );
}
