import { describe, expect, it } from 'vitest';
import type { SqlError } from '../errors.ts';
import { formatSqlError, hintFor, parsePsqlStderr } from './psql-errors.ts';

// Captured from psql 15.18 run as the restore runs it (`-X -w -q -v VERBOSITY=verbose -f -`).

const UNDEFINED_FUNCTION = [
  'psql:<stdin>:245: ERROR:  42883: function no_such_function() does not exist',
  'LINE 1: SELECT no_such_function();',
  '               ^',
  'HINT:  No function matches the given name and argument types. You might need to add explicit type casts.',
  'LOCATION:  ParseFuncOrColumn, parse_func.c:629',
  '',
].join('\n');

function error(overrides: Partial<SqlError>): SqlError {
  return { line: 12, severity: 'ERROR', sqlstate: undefined, message: 'boom', details: [], ...overrides };
}

describe('parsePsqlStderr', () => {
  it('reads one error with its dump line, SQLSTATE, message and details, without LOCATION', () => {
    expect(parsePsqlStderr(UNDEFINED_FUNCTION)).toEqual({
      errors: [
        {
          line: 245,
          severity: 'ERROR',
          sqlstate: '42883',
          message: 'function no_such_function() does not exist',
          details: [
            'LINE 1: SELECT no_such_function();',
            '               ^',
            'HINT:  No function matches the given name and argument types. You might need to add explicit type casts.',
          ],
        },
      ],
      warnings: [],
      unrecognized: [],
    });
  });

  it('reads a failed connection, which has no dump line', () => {
    const stderr = [
      'psql: error: connection to server on socket "/tmp/x/.s.PGSQL.5432" failed: No such file or directory',
      '\tIs the server running locally and accepting connections on that socket?',
      '',
    ].join('\n');
    expect(parsePsqlStderr(stderr)).toEqual({
      errors: [
        {
          line: undefined,
          severity: 'ERROR',
          sqlstate: undefined,
          message: 'connection to server on socket "/tmp/x/.s.PGSQL.5432" failed: No such file or directory',
          details: ['\tIs the server running locally and accepting connections on that socket?'],
        },
      ],
      warnings: [],
      unrecognized: [],
    });
  });

  it('keeps warnings apart from errors', () => {
    const stderr = [
      'psql:<stdin>:4: WARNING:  01000: careful: 42',
      'LOCATION:  exec_stmt_raise, pl_exec.c:3891',
      'psql:<stdin>:9: ERROR:  22P02: invalid input syntax for type integer: "x"',
      'CONTEXT:  COPY t, line 2, column id: "x"',
      'LOCATION:  pg_strtoint32, numutils.c:232',
    ].join('\n');
    expect(parsePsqlStderr(stderr)).toEqual({
      errors: [
        {
          line: 9,
          severity: 'ERROR',
          sqlstate: '22P02',
          message: 'invalid input syntax for type integer: "x"',
          details: ['CONTEXT:  COPY t, line 2, column id: "x"'],
        },
      ],
      warnings: [{ line: 4, severity: 'WARNING', sqlstate: '01000', message: 'careful: 42', details: [] }],
      unrecognized: [],
    });
  });

  it('drops notices, and does not hang their lines on the error before them', () => {
    const stderr = [
      'psql:<stdin>:9: ERROR:  22P02: invalid input syntax for type integer: "x"',
      'CONTEXT:  COPY t, line 2, column id: "x"',
      'LOCATION:  pg_strtoint32, numutils.c:232',
      'psql:<stdin>:10: NOTICE:  00000: table "nosuch" does not exist, skipping',
      'LOCATION:  DropErrorMsgNonExistent, tablecmds.c:1310',
      'psql:<stdin>:11: NOTICE:  00000: extension "plpgsql" already exists, skipping',
      'DETAIL:  not an error',
    ].join('\n');
    expect(parsePsqlStderr(stderr).errors).toEqual([
      {
        line: 9,
        severity: 'ERROR',
        sqlstate: '22P02',
        message: 'invalid input syntax for type integer: "x"',
        details: ['CONTEXT:  COPY t, line 2, column id: "x"'],
      },
    ]);
  });

  it('reads psql’s own errors inside the script, such as an unknown meta-command', () => {
    expect(parsePsqlStderr('psql:<stdin>:5: error: invalid command \\restrict\n')).toEqual({
      errors: [
        {
          line: 5,
          severity: 'ERROR',
          sqlstate: undefined,
          message: 'invalid command \\restrict',
          details: [],
        },
      ],
      warnings: [],
      unrecognized: [],
    });
  });

  it('reads a lost connection: the server’s FATAL, then psql’s error', () => {
    const stderr = [
      'psql:<stdin>:2: FATAL:  57P01: terminating connection due to administrator command',
      'LOCATION:  ProcessInterrupts, postgres.c:3211',
      'psql:<stdin>:2: server closed the connection unexpectedly',
      '\tThis probably means the server terminated abnormally',
      '\tbefore or while processing the request.',
      'psql:<stdin>:2: error: connection to server was lost',
      '',
    ].join('\n');
    expect(parsePsqlStderr(stderr).errors).toEqual([
      {
        line: 2,
        severity: 'FATAL',
        sqlstate: '57P01',
        message: 'terminating connection due to administrator command',
        details: [
          'psql:<stdin>:2: server closed the connection unexpectedly',
          '\tThis probably means the server terminated abnormally',
          '\tbefore or while processing the request.',
        ],
      },
      {
        line: 2,
        severity: 'ERROR',
        sqlstate: undefined,
        message: 'connection to server was lost',
        details: [],
      },
    ]);
  });

  it('reads errors without SQLSTATE (default verbosity) and a failed \\connect', () => {
    const stderr = [
      'psql:<stdin>:2: ERROR:  role "postgres" already exists',
      'psql:<stdin>:13: error: \\connect: connection to server on socket "/tmp/d/.s.PGSQL.5432" failed: FATAL:  database "nope" does not exist',
    ].join('\n');
    expect(parsePsqlStderr(stderr).errors).toEqual([
      {
        line: 2,
        severity: 'ERROR',
        sqlstate: undefined,
        message: 'role "postgres" already exists',
        details: [],
      },
      {
        line: 13,
        severity: 'ERROR',
        sqlstate: undefined,
        message:
          '\\connect: connection to server on socket "/tmp/d/.s.PGSQL.5432" failed: FATAL:  database "nope" does not exist',
        details: [],
      },
    ]);
  });

  it('reads nothing from an empty stderr, and lists lines that belong to no message as unrecognized', () => {
    expect(parsePsqlStderr('')).toEqual({ errors: [], warnings: [], unrecognized: [] });
    expect(parsePsqlStderr('LOCATION:  x.c:1\nsome noise\n')).toEqual({
      errors: [],
      warnings: [],
      // Not an error's, not a notice's: with allow rules in force such a line fails the restore.
      unrecognized: ['LOCATION:  x.c:1', 'some noise'],
    });
  });
});

describe('hintFor', () => {
  it.each([
    ['invalid locale name: "en_US.UTF-8"', /lacks the locale/],
    [
      'invalid command \\restrict',
      /\\restrict needs psql 17\.6 \/ 16\.10 \/ 15\.14 \/ 14\.19 \/ 13\.22 or later/,
    ],
    ['unrecognized configuration parameter "transaction_timeout"', /restore into PostgreSQL 17 or newer/],
    ['password authentication failed for user "app"', /asked for a password the drill does not have/],
    // psql 15.18's words for each, measured on a real server.
    ['directory "/srv/ts1" does not exist', /names a directory of the source's host/],
    [
      'could not open extension control file "/usr/share/postgresql/15/extension/postgis.control": No such file or directory',
      /lacks an extension the dump creates/,
    ],
    ['invalid value for parameter "default_tablespace": "ts1"', /a tablespace this server lacks/],
    ['tablespace "ts1" does not exist', /a tablespace this server lacks/],
  ])('has a hint for %s', (message, hint) => {
    expect(hintFor(error({ message }))).toMatch(hint);
  });

  it('has none for an ordinary error', () => {
    expect(hintFor(error({ message: 'relation "x" does not exist' }))).toBeUndefined();
  });
});

describe('formatSqlError', () => {
  it('writes line, severity, SQLSTATE and message on one line', () => {
    const [first] = parsePsqlStderr(UNDEFINED_FUNCTION).errors;
    if (!first) throw new Error('no error parsed');
    expect(formatSqlError(first)).toBe('line 245: ERROR 42883: function no_such_function() does not exist');
  });

  it('leaves out what is unknown', () => {
    expect(formatSqlError(error({ line: undefined, message: 'connection to server was lost' }))).toBe(
      'ERROR: connection to server was lost',
    );
  });

  it('appends the hint for invalid command \\restrict', () => {
    const [first] = parsePsqlStderr('psql:<stdin>:5: error: invalid command \\restrict\n').errors;
    if (!first) throw new Error('no error parsed');
    expect(formatSqlError(first)).toBe(
      'line 5: ERROR: invalid command \\restrict (psql is older than the dump: \\restrict needs psql 17.6 / 16.10 / 15.14 / 14.19 / 13.22 or later)',
    );
  });
});
