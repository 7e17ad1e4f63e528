/**
 * Every failure the drill can name. One class per kind, each with a stable `code` to branch on
 * (never the message text) and the facts as fields. The CLI maps them to one message and an exit code.
 *
 * A class states its code once, as `static override readonly code`; the constructor copies it onto the
 * error (so reports and errors serialized across vitest's worker boundary carry it) and names the error
 * after its class (so a stack trace says `ConfigError:`, not `Error:`). lib/errors.test.ts checks that
 * every exported error class extends DrillError and that no two share a code.
 */

/** Base of all drill errors; `exitCode` says how the CLI ends when this error stops a run. */
export class DrillError extends Error {
  /** The stable code of this kind of failure; every subclass states its own. */
  static readonly code: string = 'DRILL_ERROR';
  readonly code: string;
  /** 1: the drill ran and found a problem; 2: bad usage, configuration or environment. */
  readonly exitCode: 1 | 2 = 1;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    const kind = new.target as typeof DrillError;
    // Not enumerable, like Error's own `message`: the name shows in stack traces, not in JSON.
    Object.defineProperty(this, 'name', { value: kind.name, writable: true, configurable: true });
    this.code = kind.code;
  }
}

/** A flag or environment variable has a value we cannot use. */
export class ConfigError extends DrillError {
  static override readonly code = 'DRILL_CONFIG';
  override readonly exitCode = 2;
  readonly setting: string;
  constructor(setting: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.setting = setting;
  }
}

/** Nothing in the backup directory matched: there is nothing to drill. */
export class NoBackupsError extends DrillError {
  static override readonly code = 'DRILL_NO_BACKUPS';
  override readonly exitCode = 2;
  readonly dir: string;
  constructor(dir: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.dir = dir;
  }
}

/** The chosen backup file failed a check before any server was touched. */
export class BackupError extends DrillError {
  static override readonly code: string = 'DRILL_BACKUP';
  readonly file: string;
  constructor(file: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.file = file;
  }
}

export class BackupUnreadableError extends BackupError {
  static override readonly code = 'DRILL_BACKUP_UNREADABLE';
}
export class BackupEmptyError extends BackupError {
  static override readonly code = 'DRILL_BACKUP_EMPTY';
}
/** The gzip stream is damaged: bad header, bad CRC or length, garbage. */
export class BackupCorruptError extends BackupError {
  static override readonly code = 'DRILL_BACKUP_CORRUPT';
}
/** The gzip stream ends before its trailer: the file was cut short. */
export class BackupTruncatedError extends BackupError {
  static override readonly code = 'DRILL_BACKUP_TRUNCATED';
}
/** The dump decodes but lacks the trailer pg_dumpall writes last: pg_dumpall died mid-way. */
export class BackupIncompleteError extends BackupError {
  static override readonly code = 'DRILL_BACKUP_INCOMPLETE';
}
/**
 * The newest backup is still growing (its size or mtime changed between two looks) after the drill
 * waited for it as long as it was allowed to: the backup job is still running or hung.
 */
export class BackupStillBeingWrittenError extends BackupError {
  static override readonly code = 'DRILL_BACKUP_STILL_BEING_WRITTEN';
}
/** The file is not a format this drill restores. */
export class BackupFormatError extends BackupError {
  static override readonly code = 'DRILL_BACKUP_FORMAT';
}
/** The dump comes from a newer PostgreSQL major than the target runs. */
export class DumpNewerThanTargetError extends BackupError {
  static override readonly code = 'DRILL_DUMP_NEWER_THAN_TARGET';
}

/** No PostgreSQL binaries (or no container engine) to start a throwaway target with. */
export class ToolsNotFoundError extends DrillError {
  static override readonly code = 'DRILL_TOOLS_NOT_FOUND';
  override readonly exitCode = 2;
  /** What was looked for and where, without the advice: for callers that give their own. */
  readonly searched: string;
  constructor(searched: string, message: string) {
    super(message);
    this.searched = searched;
  }
}

/** The target server could not be started or reached. */
export class TargetError extends DrillError {
  static override readonly code = 'DRILL_TARGET';
  override readonly exitCode = 2;
}

/** The drill refuses to run because it could harm data it does not own. */
export class UnsafeTargetError extends DrillError {
  static override readonly code = 'DRILL_UNSAFE_TARGET';
  override readonly exitCode = 2;
}

/** One error psql reported while replaying a dump. */
export interface SqlError {
  /** Line of the dump (1-based) psql was reading, as psql reports it. */
  line: number | undefined;
  severity: string;
  sqlstate: string | undefined;
  message: string;
  /** DETAIL / HINT / CONTEXT / LINE lines that followed. */
  details: string[];
}

/** The restore tool failed. */
export class RestoreFailedError extends DrillError {
  static override readonly code: string = 'DRILL_RESTORE_FAILED';
  readonly exitStatus: number | null;
  readonly errors: SqlError[];
  constructor(message: string, exitStatus: number | null, errors: SqlError[], options?: ErrorOptions) {
    super(message, options);
    this.exitStatus = exitStatus;
    this.errors = errors;
  }
}

/**
 * The restore stopped because the server it restored into could not go on (its disk full, out of
 * memory, shut down or crashed: lib/restore/target-fault.ts), not because of the backup. The run's
 * verdict is `error`, exit 2: the drill could not tell whether the backup restores.
 */
export class RestoreTargetFaultError extends RestoreFailedError {
  static override readonly code = 'DRILL_RESTORE_TARGET_FAULT';
  override readonly exitCode = 2;
}

/**
 * The restore ran past the RTO budget on to the hard ceiling (`--rto-ceiling`) and was stopped there:
 * the real RTO is longer than `ceilingSeconds`.
 */
export class RestoreTimeoutError extends DrillError {
  static override readonly code = 'DRILL_RESTORE_TIMEOUT';
  readonly budgetSeconds: number;
  readonly ceilingSeconds: number;
  /** How long the restore had run when it was stopped. */
  readonly elapsedSeconds: number;
  constructor(
    times: { budgetSeconds: number; ceilingSeconds: number; elapsedSeconds: number },
    message: string,
  ) {
    super(message);
    this.budgetSeconds = times.budgetSeconds;
    this.ceilingSeconds = times.ceilingSeconds;
    this.elapsedSeconds = times.elapsedSeconds;
  }
}

/**
 * Canary mode could not swap the verified restore in: sessions that are not the drill's are connected
 * to the canary (or to the scratch copy) and renaming a database needs it to be idle. The canary is left
 * as it was.
 */
export class CanaryBusyError extends DrillError {
  static override readonly code = 'DRILL_CANARY_BUSY';
  readonly sessions: readonly string[];
  constructor(sessions: readonly string[], message: string, options?: ErrorOptions) {
    super(message, options);
    this.sessions = sessions;
  }
}

/** The dump creates an extension the target does not offer (pg_available_extensions). */
export class ExtensionMissingError extends BackupError {
  static override readonly code = 'DRILL_EXTENSION_MISSING';
  readonly extensions: string[];
  constructor(file: string, extensions: string[], message: string) {
    super(file, message);
    this.extensions = extensions;
  }
}

/** The dump needs a tablespace the target has not got, and the drill may not make it there. */
export class TablespaceMissingError extends BackupError {
  static override readonly code = 'DRILL_TABLESPACE_MISSING';
  readonly tablespaces: string[];
  constructor(file: string, tablespaces: string[], message: string) {
    super(file, message);
    this.tablespaces = tablespaces;
  }
}
