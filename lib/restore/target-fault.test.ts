import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { RestoreFailedError, RestoreTargetFaultError, type SqlError } from '../errors.ts';
import { parsePgRestoreStderr } from './archive-restore.ts';
import { parsePsqlStderr } from './psql-errors.ts';
import {
  restoreFailure,
  targetFaultInText,
  targetFaultOf,
  targetFaultOrSelf,
  targetStoppedCheck,
  withServerLog,
} from './target-fault.ts';

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

describe('what the first round missed', () => {
  it("takes every SQLSTATE of class 53 as the target's, not only the four it names", () => {
    const files = psqlError(
      'psql:<stdin>:88: ERROR:  53000: exceeded maxAllocatedDescs (32) while trying to open file "base/1/2"\n',
    );
    expect(targetFaultOf(files)?.what).toBe(
      'the target ran short of a resource (SQLSTATE class 53, insufficient resources)',
    );
  });

  it('tells a full /dev/shm from a full data directory: both are 53100, the fix is not the same', () => {
    const shm = psqlError(
      'psql:<stdin>:51: ERROR:  53100: could not resize shared memory segment "/PostgreSQL.3342131934" to 67128672 bytes: No space left on device\n',
    );
    const [archived] = parsePgRestoreStderr(
      'pg_restore: error: could not execute query: ERROR:  could not resize shared memory segment "/PostgreSQL.1" to 4194304 bytes: No space left on device\nCommand was: CREATE INDEX pad_body ON public.pad USING btree (body);\n',
    );
    for (const error of [shm, archived as SqlError]) {
      expect(targetFaultOf(error)).toMatchObject({
        what: expect.stringMatching(/^the target's \/dev\/shm /),
        fix: expect.stringContaining('the scratch-shm volume'),
      });
    }
  });

  it("reads pg_restore's workers finding no connection slot (no SQLSTATE: its words)", () => {
    // As pg_restore --jobs 4 printed it against a server of max_connections 4.
    const [error] = parsePgRestoreStderr(
      'pg_restore: error: reconnection failed: connection to server at "127.0.0.1", port 55434 failed: FATAL:  sorry, too many clients already\npg_restore: error: a worker process died unexpectedly\n',
    );
    expect(error && targetFaultOf(error)?.what).toBe('the target has no connection slot left');
  });

  it("reads a configured limit in pg_restore's words: temp_file_limit on a url target", () => {
    // As pg_restore printed it into a server with temp_file_limit = 64kB (a primary key's index build).
    const [error] = parsePgRestoreStderr(
      'pg_restore: error: could not execute query: ERROR:  temporary file size exceeds temp_file_limit (64kB)\nCommand was: ALTER TABLE ONLY public.parent\n    ADD CONSTRAINT parent_pkey PRIMARY KEY (id);\n',
    );
    expect(error && targetFaultOf(error)?.what).toBe('the target reached one of its configured limits');
  });

  it("names a full disk from the server's log when the server went away (a PANIC on the WAL)", () => {
    const gone = restoreFailure(
      'Restore failed',
      {
        error: undefined,
        stderr:
          'pg_restore: error: error returned by PQputCopyData: server closed the connection unexpectedly\n',
      },
      1,
      [],
    ) as RestoreTargetFaultError;
    expect(gone.message).toMatch(/^Restore stopped by the target, not by the backup: the target went away/);
    // server.log of a throwaway cluster whose 64 MiB --temp-dir filled under pg_restore.
    const log = [
      '2026-12-02 02:06:29.100 UTC [23601] LOG:  checkpoint starting: wal',
      '2026-12-02 02:06:29.135 UTC [23680] PANIC:  could not write to file "pg_wal/xlogtemp.23680": No space left on device',
      '2026-12-02 02:06:29.221 UTC [23706] FATAL:  the database system is in recovery mode',
      '2026-12-02 02:06:29.230 UTC [23707] FATAL:  could not write to file "pg_wal/xlogtemp.23707": No space left on device',
    ].join('\n');
    const told = withServerLog(gone, log);
    expect(told).toBeInstanceOf(RestoreTargetFaultError);
    expect(told.message).toBe(
      `Restore stopped by the target, not by the backup: the target's disk is full (pg_restore: error: error returned by PQputCopyData: server closed the connection unexpectedly; the server's log: PANIC: could not write to file "pg_wal/xlogtemp.23680": No space left on device | FATAL: could not write to file "pg_wal/xlogtemp.23707": No space left on device). This says nothing about the backup: give the server's data directory room for the restored databases and their WAL (local target: --temp-dir / DRILL_TEMP_DIR on a larger file system; in the CronJob: the scratch-data volume; any other server: its volume), then run the drill again.`,
    );
    // A log that says nothing more leaves the error as it was.
    expect(withServerLog(gone, '2026-12-02 02:06:29.100 UTC [1] LOG:  checkpoint starting: wal\n')).toBe(
      gone,
    );
  });

  it("makes the drill's own statement on a full disk (canary modes' CREATE DATABASE) the target's", () => {
    const full = new pg.DatabaseError(
      'could not extend file "base/24576/2665": No space left on device',
      0,
      'error',
    );
    Object.assign(full, { code: '53100', severity: 'ERROR', hint: 'Check free disk space.' });
    const thrown = targetFaultOrSelf(full);
    expect(thrown).toBeInstanceOf(RestoreTargetFaultError);
    expect((thrown as Error).message).toMatch(
      /^Restore stopped by the target, not by the backup: the target's disk is full \(ERROR 53100: could not extend file "base\/24576\/2665": No space left on device\)\. This says nothing about the backup: /,
    );
    // A socket's code of five letters is no SQLSTATE: its words are read.
    const socket = Object.assign(new Error('Connection terminated unexpectedly'), { code: 'EPIPE' });
    expect((targetFaultOrSelf(socket) as Error).message).toMatch(
      /^Restore stopped by the target, not by the backup: the target went away/,
    );
    const exists = Object.assign(new pg.DatabaseError('database "x" already exists', 0, 'error'), {
      code: '42P04',
    });
    expect(targetFaultOrSelf(exists)).toBe(exists);
  });
});

describe("the dump's own text", () => {
  it("is never read for the server's words: a failing command may quote a disk-full message", () => {
    // pg_restore of a real pg_dump whose expression index calls a function that finds its table only
    // through the caller's search_path (which pg_dump empties): the backup's defect.
    const [error] = parsePgRestoreStderr(
      `pg_restore: error: could not execute query: ERROR:  relation "norm_map" does not exist\nLINE 1:  SELECT coalesce((SELECT norm FROM norm_map WHERE raw = m), m) \nCommand was: CREATE INDEX events_norm ON public.events USING btree (public.norm(msg)) WHERE (msg <> 'No space left on device'::text);\n`,
    );
    expect(error?.details).toEqual([expect.stringContaining('No space left on device')]);
    expect(error && targetFaultOf(error)).toBeUndefined();
  });
});

describe('targetStoppedCheck', () => {
  it('is a target fault only when every part of the check failed on the target', () => {
    const stopped = 'Verification stopped by the target, not by the backup';
    // node-postgres's words for a lost session (deep verification reads in sessions of its own), after the table's name.
    const lost = 'shop public.pad: Connection terminated unexpectedly';
    expect(targetStoppedCheck(stopped, [lost])?.message).toMatch(
      /the target went away \(it stopped or crashed\)/,
    );
    expect(
      targetStoppedCheck(stopped, ['shop public.pad: Connection terminated unexpectedly, says a row']),
    ).toBeUndefined();
    const gone = 'shop public.pad: connection to server was lost';
    expect(targetStoppedCheck(stopped, [gone])?.message).toMatch(
      /^Verification stopped by the target, not by the backup: the target went away \(it stopped or crashed\) \(shop public\.pad: connection to server was lost\)\. This says nothing about the backup: /,
    );
    // A table that differs, beside one the target could not serve: the backup's difference stands.
    expect(targetStoppedCheck(stopped, [gone, ''])).toBeUndefined();
    expect(targetStoppedCheck(stopped, ['shop public.t: table public.t does not exist'])).toBeUndefined();
  });

  it("is a target fault when the target canceled the read-back's statement (57014)", () => {
    const stopped = 'Verification stopped by the target, not by the backup';
    for (const why of ['statement timeout', 'user request']) {
      expect(
        targetStoppedCheck(stopped, [`app public.big: canceling statement due to ${why}`])?.message,
      ).toMatch(
        /^Verification stopped by the target, not by the backup: the target canceled the drill's statement /,
      );
    }
    expect(
      targetStoppedCheck(stopped, [
        'app public.big: canceling statement due to statement timeout, says a row',
      ]),
    ).toBeUndefined();
    expect(targetStoppedCheck(stopped, ['backup_test public.users: timeout expired'])?.message).toMatch(
      /: the target did not answer a new session within 15 s /,
    );
    expect(
      targetFaultOf(psqlError('psql:<stdin>:12: ERROR:  57014: canceling statement due to user request\n'))
        ?.what,
    ).toMatch(/^the target canceled the drill's statement/);
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
