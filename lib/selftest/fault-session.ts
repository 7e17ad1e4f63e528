/**
 * A fault that only the check under test ever sees: every psql script the check runs is run inside one
 * transaction that opens with the fault and is rolled back (`psql -c 'BEGIN; …' -f - -c ROLLBACK`). No
 * other session sees the change, and nothing of it is ever committed: psql ends the session with the
 * transaction open if the script stops early, and the server rolls it back.
 */
import type pg from 'pg';
import type { Executor, ToolResult } from '../exec/executor.ts';

/** What the fault's own statements said (psql's notices and errors outside the check's script). */
export interface FaultLog {
  /** `pg-restore-drill self-test: …` notices: what the fault changed. */
  notices: string[];
  /** Errors of the fault's own statements (they stop the fault: the check then proves nothing). */
  errors: string[];
}

const NOTICE = /^NOTICE:\s+(pg-restore-drill self-test: .*)$/;
/** `-c` statements' messages carry no `psql:<stdin>:N:` prefix; the check's script's do. */
const OWN_ERROR = /^(?:ERROR|FATAL):\s+(.*)$/;

/** The lines of `stderr` the fault's own statements wrote. */
function readFaultLog(stderr: string, log: FaultLog): void {
  for (const line of stderr.split('\n')) {
    const notice = NOTICE.exec(line);
    if (notice?.[1]) log.notices.push(notice[1]);
    const error = OWN_ERROR.exec(line);
    if (error?.[1]) log.errors.push(error[1]);
  }
}

/** `executor`, with every psql script (`-f`) run in a transaction that opens with `faultSql` and is rolled back. */
export function withRolledBackFault(executor: Executor, faultSql: string, log: FaultLog): Executor {
  return {
    where: executor.where,
    readsHostPaths: executor.readsHostPaths,
    toolVersion: (tool) => executor.toolVersion(tool),
    async run(tool, args, options): Promise<ToolResult> {
      if (tool !== 'psql') throw new Error(`the self-test's fault runs under psql only, not ${tool}`);
      const script = args.indexOf('-f');
      // A catalog probe (-c only) reads no rows: it runs as it is.
      if (script < 0) return executor.run(tool, args, options);
      const wrapped = [
        ...args.slice(0, script),
        '-c',
        `BEGIN; ${faultSql}`,
        ...args.slice(script, script + 2),
        '-c',
        'ROLLBACK',
        ...args.slice(script + 2),
      ];
      const result = await executor.run(tool, wrapped, options);
      readFaultLog(result.stderr, log);
      return result;
    },
  };
}

/** Runs only the fault, in its transaction rolled back: does it apply, and what does it change? */
export async function tryFault(
  executor: Executor,
  conninfo: string,
  faultSql: string,
  signal?: AbortSignal,
): Promise<FaultLog> {
  const log: FaultLog = { notices: [], errors: [] };
  const run = await executor.run(
    'psql',
    ['-X', '-q', '-w', '-v', 'ON_ERROR_STOP=1', '-d', conninfo, '-c', `BEGIN; ${faultSql}`, '-c', 'ROLLBACK'],
    { signal },
  );
  readFaultLog(run.stderr, log);
  if (run.exitCode !== 0 && log.errors.length === 0)
    log.errors.push(run.stderr.trim() || `psql exited with ${run.exitCode ?? run.signal}`);
  return log;
}

/**
 * `connect`, with every session it opens (the check's own, where it reads without psql) in a
 * transaction that opens with `faultSql` and is never committed: the check ends its session with the
 * transaction open, and the server rolls it back. A fault that fails fails the session: the check then
 * reads nothing, and says why.
 */
export function connectWithRolledBackFault(
  connect: (database: string) => Promise<pg.Client>,
  faultSql: string,
  log: FaultLog,
): (database: string) => Promise<pg.Client> {
  return async (database) => {
    const client = await connect(database);
    const onNotice = (notice: { message?: string }) => {
      if (notice.message?.startsWith('pg-restore-drill self-test: ')) log.notices.push(notice.message);
    };
    client.on('notice', onNotice);
    try {
      await client.query('BEGIN');
      await client.query(faultSql);
    } catch (error) {
      log.errors.push((error as Error).message);
      await client.end().catch(() => {});
      throw error;
    } finally {
      client.removeListener('notice', onNotice);
    }
    return client;
  };
}
