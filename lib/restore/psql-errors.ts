import type { SqlError } from '../errors.ts';

/** `psql:<stdin>:123: ERROR:  42710: role "x" already exists` (VERBOSITY=verbose adds the SQLSTATE). */
const MESSAGE = /^psql:[^:]*:(\d+): (ERROR|FATAL|PANIC|WARNING|error|fatal):\s+(?:([0-9A-Z]{5}): )?(.*)$/;
/** psql's own failures: `psql: error: connection to server … failed: …`. */
const CLIENT = /^psql: (error|fatal): (.*)$/;
const CONTINUATION = /^(DETAIL|HINT|CONTEXT|QUERY|LINE \d+|LOCATION):\s*(.*)$/;
/** `psql:<stdin>:9: NOTICE:  00000: …` and the like: not kept, and the lines after it are not an error's. */
const MINOR = /^psql:[^:]*:\d+: (NOTICE|INFO|LOG|DEBUG\d?):/;

/**
 * Reads psql's stderr into errors with their dump line numbers; warnings are kept apart. `unrecognized`
 * holds the non-empty lines that belong to no message psql printed (neither an error's nor a notice's):
 * where errors are judged rather than stopped at (allow rules), such a line cannot be let through.
 */
export function parsePsqlStderr(stderr: string): {
  errors: SqlError[];
  warnings: SqlError[];
  unrecognized: string[];
} {
  const errors: SqlError[] = [];
  const warnings: SqlError[] = [];
  const unrecognized: string[] = [];
  let current: SqlError | undefined;
  let afterMinor = false;
  for (const raw of stderr.split('\n')) {
    const line = raw.trimEnd();
    if (MINOR.test(line)) {
      current = undefined;
      afterMinor = true;
      continue;
    }
    const message = MESSAGE.exec(line);
    const client = message ? undefined : CLIENT.exec(line);
    if (message || client) {
      const severity = (message?.[2] ?? client?.[1] ?? 'error').toUpperCase();
      current = {
        line: message?.[1] ? Number(message[1]) : undefined,
        severity,
        sqlstate: message?.[3],
        message: message?.[4] ?? client?.[2] ?? line,
        details: [],
      };
      (severity === 'WARNING' ? warnings : errors).push(current);
      afterMinor = false;
      continue;
    }
    const continuation = CONTINUATION.exec(line);
    if (current && continuation && continuation[1] !== 'LOCATION') current.details.push(line);
    else if (current && line.trim() && !continuation) current.details.push(line);
    else if (!current && !afterMinor && line.trim()) unrecognized.push(line);
  }
  return { errors, warnings, unrecognized };
}

/** A hint for errors operators meet often, so the report says what to do. */
export function hintFor(error: SqlError): string | undefined {
  if (/invalid locale name|locale .* not available/i.test(error.message)) {
    return 'the target lacks the locale the dump creates its databases with (for example en_US.UTF-8): generate it on the target (locale-gen / localedef) or use an image that has it';
  }
  if (/invalid command \\restrict/.test(error.message)) {
    return 'psql is older than the dump: \\restrict needs psql 17.6 / 16.10 / 15.14 / 14.19 / 13.22 or later';
  }
  if (/unrecognized configuration parameter "transaction_timeout"/.test(error.message)) {
    return 'the dump comes from pg_dump 17 or newer: restore into PostgreSQL 17 or newer';
  }
  if (/could not open extension control file|extension ".*" is not available/.test(error.message)) {
    return 'the target lacks an extension the dump creates: install its package on the target (the precheck names what provides well-known ones) or restore into a server that has it';
  }
  if (/^directory ".*" does not exist$|could not set permissions on directory/.test(error.message)) {
    return "a CREATE TABLESPACE names a directory of the source's host: in a whole-cluster restore into a throwaway server the drill makes every tablespace inside the server's own directory; on any other server create the tablespace there first";
  }
  if (/tablespace ".*" does not exist|parameter "default_tablespace"/i.test(error.message)) {
    return 'the dump puts objects in a tablespace this server lacks: create the tablespace on it first, or drill the whole cluster into a throwaway server (--mode cluster), where the dump creates it in place';
  }
  if (/password authentication failed|no password supplied/.test(error.message)) {
    return 'a \\connect in the dump asked for a password the drill does not have (a role password was replayed, or the dump connects as another user)';
  }
  return undefined;
}

/** One line for the operator: `line 42: ERROR 42P01: relation "x" does not exist (hint)`. */
export function formatSqlError(error: SqlError): string {
  const where = error.line === undefined ? '' : `line ${error.line}: `;
  const code = error.sqlstate ? ` ${error.sqlstate}` : '';
  const hint = hintFor(error);
  return `${where}${error.severity}${code}: ${error.message}${hint ? ` (${hint})` : ''}`;
}
