import { DrillError, RestoreFailedError, RestoreTargetFaultError, type SqlError } from '../errors.ts';
import { formatSqlError } from './psql-errors.ts';

/**
 * A restore that stopped because the server it restored into could not go on (its disk full, its
 * memory gone, its storage failing, the server shut down or crashed) says nothing about the backup:
 * the same dump might restore on a server with room. Such a run ends in the verdict `error`, not
 * `failed` (lib/report/report.ts), naming what ran out and what to give the target.
 */
export interface TargetFault {
  /** What happened to the target, for the message: `the target's disk is full`. */
  what: string;
  /** What to do about it. */
  fix: string;
}

const DISK_FIX =
  "give the server's data directory room for the restored databases and their WAL (local target: --temp-dir / DRILL_TEMP_DIR on a larger file system; in the CronJob: the scratch-data volume; any other server: its volume), then run the drill again";
const MEMORY_FIX =
  'give the server more memory (its container limit), or raise the setting its HINT names (out of shared memory: max_locks_per_transaction), then run the drill again';
const GONE_FIX =
  "read the server's log for why it stopped (a container's or pod's log; a local target's server.log goes with its directory when the run ends: what it said of a PANIC or FATAL is quoted here, and --keep keeps the directory), then run the drill again";
/** A full /dev/shm: PostgreSQL says 53100 for it too, but the data directory has room. */
const SHM_FULL: TargetFault = {
  what: "the target's /dev/shm (its dynamic shared memory, for parallel index builds and queries) is full",
  fix: "give the server's /dev/shm room (local target: the host's /dev/shm; in the CronJob: the scratch-shm volume's sizeLimit; a container: its shared memory size), then run the drill again",
};
const SHM_WORDS = /shared memory segment .*No space left on device/;
/** The server's checkpointer could not write (its log says why: a full disk, failing storage). */
const CHECKPOINT_FAILED: TargetFault = {
  what: "the target's checkpoint failed (its disk full or its storage failing)",
  fix: GONE_FIX,
};
/** Class 53 beyond the codes above (53000: too many open files, too many shared memory segments). */
const SHORT_OF_RESOURCES: TargetFault = {
  what: 'the target ran short of a resource (SQLSTATE class 53, insufficient resources)',
  fix: 'give the target what the message names (open files, shared memory segments, ...), then run the drill again',
};

/**
 * SQLSTATEs of the target's own trouble (PostgreSQL's errcodes.txt). Class 53 is insufficient
 * resources; of class 58 only the system and I/O errors (58P01/58P02, a file missing or already there,
 * can come from the dump: an extension's library, a tablespace's directory); 57P01-57P03 the server
 * shutting down, crashed or not yet accepting sessions; 57014 a statement canceled (pg_dump output sets
 * no timeout but 0, and the drill's sessions set theirs to 0); XX001/XX002 pages of the target found
 * corrupt.
 */
const BY_SQLSTATE: Record<string, TargetFault> = {
  '53100': { what: "the target's disk is full", fix: DISK_FIX },
  '53200': { what: 'the target ran out of memory', fix: MEMORY_FIX },
  '53300': {
    what: 'the target has no connection slot left',
    fix: 'lower --jobs, or raise max_connections on the target (or end the sessions that hold them), then run the drill again',
  },
  '53400': {
    what: 'the target reached one of its configured limits',
    fix: 'raise the setting the message names on the target (for example max_locks_per_transaction), then run the drill again',
  },
  '58000': { what: 'the target hit a system error', fix: GONE_FIX },
  '58030': { what: "the target's storage failed to read or write", fix: GONE_FIX },
  '57P01': {
    what: "the target ended the session during the restore (a shutdown, or an administrator's pg_terminate_backend)",
    fix: GONE_FIX,
  },
  '57P02': { what: 'the target crashed during the restore', fix: GONE_FIX },
  '57014': {
    what: "the target canceled the drill's statement (an administrator's pg_cancel_backend, or a timeout the target imposes)",
    fix: "find who or what cancels sessions on the target (pg_cancel_backend, a watchdog, a pooler's query timeout; the drill's own sessions set statement_timeout, lock_timeout and idle_in_transaction_session_timeout to 0 at connect), then run the drill again",
  },
  '57P03': { what: 'the target was not accepting sessions', fix: GONE_FIX },
  XX001: { what: 'the target found its own data pages corrupt (its storage)', fix: GONE_FIX },
  XX002: { what: 'the target found one of its own indexes corrupt (its storage)', fix: GONE_FIX },
};

/**
 * Where no SQLSTATE comes with the message (pg_restore prints none; psql none for a lost connection),
 * the server's own words, as they read with lc_messages C (the throwaway and scratch servers run it).
 */
const BY_MESSAGE: [RegExp, TargetFault][] = [
  [SHM_WORDS, SHM_FULL],
  [/No space left on device|Disk quota exceeded|could not extend file/, BY_SQLSTATE['53100'] as TargetFault],
  [/^out of memory\b|out of shared memory/, BY_SQLSTATE['53200'] as TargetFault],
  [
    /server closed the connection unexpectedly|connection to server was lost|terminating connection because of crash of another server process|(?:^|: )Connection terminated unexpectedly$|Client has encountered a connection error and is not queryable/,
    { what: 'the target went away during the restore (it stopped or crashed)', fix: GONE_FIX },
  ],
  [/terminating connection due to administrator command/, BY_SQLSTATE['57P01'] as TargetFault],
  [/canceling statement due to (?:statement timeout|user request)$/, BY_SQLSTATE['57014'] as TargetFault],
  // node-postgres's words when a new session is not set up within connectionTimeoutMillis (15 s).
  [
    /(?:^|: )timeout expired$/,
    { what: 'the target did not answer a new session within 15 s (it hung, or was paused)', fix: GONE_FIX },
  ],
  [/temporary file size exceeds temp_file_limit/, BY_SQLSTATE['53400'] as TargetFault],
  [/Too many open files/, SHORT_OF_RESOURCES],
  // pg_restore's workers (--jobs) each open a session: no SQLSTATE in what it prints.
  [
    /sorry, too many clients already|remaining connection slots are reserved|too many connections for (role|database)/,
    BY_SQLSTATE['53300'] as TargetFault,
  ],
];

/** The target's fault behind an error of the restore, if it is one. */
export function targetFaultOf(error: SqlError): TargetFault | undefined {
  const { sqlstate } = error;
  if (sqlstate) {
    const fault = BY_SQLSTATE[sqlstate] ?? (sqlstate.startsWith('53') ? SHORT_OF_RESOURCES : undefined);
    // A SQLSTATE of another class is the dump's own error, whatever its words.
    return sqlstate === '53100' && SHM_WORDS.test(error.message) ? SHM_FULL : fault;
  }
  // The message only: the details are the dump's own text (pg_restore's `Command was: …`, psql's LINE 1),
  // and a statement that fails on the backup's fault may well quote a disk-full message.
  return BY_MESSAGE.find(([pattern]) => pattern.test(error.message))?.[1];
}

/** The target's fault in tool output that carries no parsed error (a psql that lost its server). */
export function targetFaultInText(text: string): { fault: TargetFault; line: string } | undefined {
  for (const line of text.split('\n')) {
    const found = BY_MESSAGE.find(([pattern]) => pattern.test(line));
    if (found) return { fault: found[1], line: line.trim() };
  }
  return undefined;
}

/**
 * The error a failed restore throws: RestoreTargetFaultError when the error it failed on (or, with none
 * parsed, a line of the tool's stderr) is the target's fault, else RestoreFailedError with `message`.
 * `note` (the section was rolled back, …) is said in either.
 */
export function restoreFailure(
  message: string,
  failedOn: { error: SqlError | undefined; stderr: string; note?: string },
  exitStatus: number | null,
  errors: SqlError[],
): RestoreFailedError {
  const { error, stderr, note } = failedOn;
  const inText = error ? undefined : targetFaultInText(stderr);
  const fault = error ? targetFaultOf(error) : inText?.fault;
  if (!fault) return new RestoreFailedError(message, exitStatus, errors);
  const said = (error ? formatSqlError(error) : inText?.line) ?? '';
  return targetFaultError({ fault, said, note, exitStatus, errors });
}

/** What a RestoreTargetFaultError was made of, so the server's log can refine it (withServerLog). */
interface FaultParts {
  fault: TargetFault;
  said: string;
  note?: string | undefined;
  exitStatus: number | null;
  errors: SqlError[];
  /** Who stopped: a check after the restore names itself (default: the restore). */
  stopped?: string | undefined;
}
const PARTS = new WeakMap<RestoreTargetFaultError, FaultParts>();

function targetFaultError(parts: FaultParts): RestoreTargetFaultError {
  const { fault, said, note, stopped } = parts;
  const what = stopped ? fault.what.replace(' during the restore', '') : fault.what;
  const error = new RestoreTargetFaultError(
    `${stopped ?? 'Restore stopped by the target, not by the backup'}: ${what} (${said})${note ? `; ${note}` : ''}. This says nothing about the backup: ${fault.fix}.`,
    parts.exitStatus,
    parts.errors,
  );
  PARTS.set(error, parts);
  return error;
}

/**
 * An error of the drill's own statement (node-pg's: `code` is the SQLSTATE; the canary modes' CREATE
 * DATABASE, a check's query), or its session lost: a RestoreTargetFaultError when it is the target's
 * trouble, else the error as it was. `stopped` names who stopped, for a check after the restore.
 */
export function targetFaultOrSelf(error: unknown, stopped?: string): unknown {
  if (!(error instanceof Error) || error instanceof DrillError) return error;
  const { code, severity, hint } = error as Error & { code?: unknown; severity?: unknown; hint?: unknown };
  const sql: SqlError = {
    line: undefined,
    severity: typeof severity === 'string' ? severity : 'ERROR',
    // A server's error (node-pg's has a severity), not a socket's (`EPIPE` is five letters too).
    sqlstate:
      typeof severity === 'string' && typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)
        ? code
        : undefined,
    message: error.message,
    details: typeof hint === 'string' ? [`HINT:  ${hint}`] : [],
  };
  // The drill's own statement (a DROP DATABASE, a CREATE DATABASE) waits on a checkpoint: XX000 when it fails.
  const fault =
    targetFaultOf(sql) ?? (sql.message === 'checkpoint request failed' ? CHECKPOINT_FAILED : undefined);
  if (!fault) return error;
  return targetFaultError({ fault, said: formatSqlError(sql), exitStatus: null, errors: [sql], stopped });
}

/**
 * What a check read back could not be read for the target's trouble, every part of it (a table's
 * read-back on a server that went away): the check's RestoreTargetFaultError, else undefined.
 */
export function targetStoppedCheck(
  stopped: string,
  reasons: readonly string[],
): RestoreTargetFaultError | undefined {
  const found = reasons.map((reason) => targetFaultInText(reason));
  const first = found[0];
  if (!first || found.some((f) => f === undefined)) return undefined;
  return targetFaultError({
    fault: first.fault,
    said: reasons.join('; '),
    exitStatus: null,
    errors: [],
    stopped,
  });
}

/** The PANIC and FATAL lines of a server log (the first few: later ones follow from them). */
function whyItStopped(log: string): string[] {
  const lines = log
    .split('\n')
    .map((line) => /\b(PANIC|FATAL):\s+(.*)$/.exec(line))
    // Not the server's own trouble: its start, and the sessions the drill itself ends after a failure.
    .filter(
      (m) =>
        m !== null &&
        !/^the database system is |^terminating connection due to administrator/.test(m[2] ?? ''),
    )
    .map((m) => `${m?.[1]}: ${m?.[2]}`);
  return [...new Set(lines)].slice(0, 3);
}

/**
 * A target that went away mid-restore, told by its server's log (the local target's server.log, read
 * before its directory is removed): the PANIC or FATAL lines are quoted, and what they name (a full
 * disk under the WAL, say) is what the error says happened, with its fix.
 */
export function withServerLog(error: RestoreTargetFaultError, log: string): RestoreTargetFaultError {
  const parts = PARTS.get(error);
  const lines = whyItStopped(log);
  if (!parts || parts.fault.fix !== GONE_FIX || lines.length === 0) return error;
  const named = lines
    .map((line) => BY_MESSAGE.find(([pattern]) => pattern.test(line))?.[1])
    .find((fault) => fault !== undefined && fault.fix !== GONE_FIX);
  return targetFaultError({
    ...parts,
    fault: named ?? parts.fault,
    said: `${parts.said}; the server's log: ${lines.join(' | ')}`,
  });
}
