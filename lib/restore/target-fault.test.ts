import { describe, expect, it } from 'vitest';
import { RestoreFailedError, RestoreTargetFaultError, type SqlError } from '../errors.ts';
import { parsePgRestoreStderr } from './archive-restore.ts';
import { parsePsqlStderr } from './psql-errors.ts';
import { restoreFailure, targetFaultInText, targetFaultOf } from './target-fault.ts';

const psqlError = (stderr: string): SqlError => parsePsqlStderr(stderr).errors[0] as SqlError;

describe('targetFaultOf', () => {
  it("names the target's trouble from the SQLSTATE psql prints (VERBOSITY=verbose)", () => {
    const full = psqlError(
      'psql:<stdin>:971861: ERROR:  53100: could not extend file "base/16413/16419": No space left on device\nHINT:  Check free disk space.\n',
    );
    expect(targetFaultOf(full)?.what).toBe("the target's disk is full");
    expect(targetFaultOf({ ...full, sqlstate: '53200', message: 'out of memory' })?.what).toBe(
      'the target ran out of memory',
    );
    expect(targetFaultOf({ ...full, sqlstate: '57P02', message: 'terminating connection' })?.what).toBe(
      'the target crashed during the restore',
    );
  });

  it("leaves the dump's own errors to fail the drill, also of class 58 when a file of the dump is missing", () => {
    const missingRelation = psqlError('psql:<stdin>:12: ERROR:  42P01: relation "public.t" does not exist\n');
    expect(targetFaultOf(missingRelation)).toBeUndefined();
    const extensionLibrary = psqlError(
      'psql:<stdin>:40: ERROR:  58P01: could not access file "$libdir/postgis-3": No such file or directory\n',
    );
    expect(targetFaultOf(extensionLibrary)).toBeUndefined();
    // A SQLSTATE of another class wins over words that look like a full disk.
    expect(targetFaultOf({ ...missingRelation, message: 'No space left on device' })).toBeUndefined();
  });

  it("reads pg_restore's errors, which carry no SQLSTATE, by the server's words", () => {
    const [error] = parsePgRestoreStderr(
      'pg_restore: error: could not execute query: ERROR:  could not extend file "base/16384/16390.1": No space left on device\nCommand was: COPY public.t (id) FROM stdin;\n',
    );
    expect(error && targetFaultOf(error)?.what).toBe("the target's disk is full");
  });

  it('finds a lost server in stderr that parses to no error', () => {
    const stderr =
      'psql:<stdin>:120: server closed the connection unexpectedly\n\tThis probably means the server terminated abnormally\n';
    expect(parsePsqlStderr(stderr).errors).toEqual([]);
    expect(targetFaultInText(stderr)).toEqual({
      fault: expect.objectContaining({
        what: 'the target went away during the restore (it stopped or crashed)',
      }),
      line: 'psql:<stdin>:120: server closed the connection unexpectedly',
    });
    expect(targetFaultInText('psql:<stdin>:3: ERROR:  42601: syntax error at or near "x"\n')).toBeUndefined();
  });
});

describe('restoreFailure', () => {
  it('is a RestoreTargetFaultError (exit 2) saying what ran out and the fix, with the note', () => {
    const error = psqlError(
      'psql:<stdin>:7: ERROR:  53100: could not extend file "base/1/2": No space left on device\n',
    );
    const thrown = restoreFailure(
      'Restore failed: psql stopped',
      { error, stderr: '', note: 'the section was rolled back' },
      3,
      [error],
    );
    expect(thrown).toBeInstanceOf(RestoreTargetFaultError);
    expect(thrown).toBeInstanceOf(RestoreFailedError);
    expect({ code: thrown.code, exitCode: thrown.exitCode, errors: thrown.errors }).toEqual({
      code: 'DRILL_RESTORE_TARGET_FAULT',
      exitCode: 2,
      errors: [error],
    });
    expect(thrown.message).toBe(
      `Restore stopped by the target, not by the backup: the target's disk is full (line 7: ERROR 53100: could not extend file "base/1/2": No space left on device); the section was rolled back. This says nothing about the backup: give the server's data directory room for the restored databases and their WAL (local target: --temp-dir / DRILL_TEMP_DIR on a larger file system; in the CronJob: the scratch-data volume; any other server: its volume), then run the drill again.`,
    );
  });

  it("is the plain RestoreFailedError (exit 1) for the dump's own error", () => {
    const error = psqlError('psql:<stdin>:12: ERROR:  42P01: relation "public.t" does not exist\n');
    const thrown = restoreFailure('Restore failed: line 12', { error, stderr: '' }, 3, [error]);
    expect(thrown).not.toBeInstanceOf(RestoreTargetFaultError);
    expect({ code: thrown.code, exitCode: thrown.exitCode, message: thrown.message }).toEqual({
      code: 'DRILL_RESTORE_FAILED',
      exitCode: 1,
      message: 'Restore failed: line 12',
    });
  });
});
