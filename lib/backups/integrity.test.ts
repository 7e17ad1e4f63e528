import { createReadStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PG15_VERSION, pgDumpallText, pgDumpText } from '../../test/support/dump-text.ts';
import {
  BackupCorruptError,
  BackupEmptyError,
  BackupFormatError,
  BackupIncompleteError,
  BackupTruncatedError,
  DumpNewerThanTargetError,
} from '../errors.ts';
import { type PgVersion, parseVersion } from '../pg/version.ts';
import type { BackupCandidate } from './backup-source.ts';
import { type BackupInspection, checkRestorable, inspectPlainBackup, readBackupHeader } from './integrity.ts';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drill-test-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let files = 0;

/** Writes `bytes` as a backup file and inspects it as the drill does: size from the file, bytes streamed. */
async function inspect(
  bytes: Buffer | string,
  compression: 'gzip' | 'none' = 'gzip',
  headerOnly = false,
): Promise<BackupInspection> {
  const path = join(dir, `postgres-backup-${++files}.${compression === 'gzip' ? 'sql.gz' : 'sql'}`);
  await writeFile(path, bytes);
  const candidate: BackupCandidate = {
    name: path.slice(dir.length + 1),
    path,
    takenAt: new Date('2026-11-24T03:15:00Z'),
    sizeBytes: Buffer.byteLength(bytes),
    format: 'plain',
    compression,
  };
  return (headerOnly ? readBackupHeader : inspectPlainBackup)(candidate, createReadStream(path));
}

/** The path the next `inspect` writes, for expectations on `file`. */
function nextPath(compression: 'gzip' | 'none' = 'gzip'): string {
  return join(dir, `postgres-backup-${files + 1}.${compression === 'gzip' ? 'sql.gz' : 'sql'}`);
}

function version(text: string): PgVersion {
  const parsed = parseVersion(text);
  if (!parsed) throw new Error(`cannot parse ${text}`);
  return parsed;
}

function flipByte(bytes: Buffer, at: number): Buffer {
  const copy = Buffer.from(bytes);
  copy[at] = (copy[at] ?? 0) ^ 0xff;
  return copy;
}

const dump = pgDumpallText();
const gz = gzipSync(dump);

describe('inspectPlainBackup', () => {
  it('passes a whole gzip pg_dumpall and reports what it read', async () => {
    expect(await inspect(gz)).toEqual({
      proven: 'whole',
      kind: 'pg_dumpall',
      sqlBytes: Buffer.byteLength(dump),
      dumpedFrom: { text: '15.18', major: 15, minor: 18 },
      dumpedBy: { text: '15.18', major: 15, minor: 18 },
      restricted: true,
      requirements: { extensions: [], tablespacesCreated: [], tablespacesUsed: [] },
    });
  });

  it('reports an unrestricted dump (pg_dump before 15.14) as such', async () => {
    const old = pgDumpallText({ restrict: false, dumpedFrom: '15.13', dumpedBy: '15.13' });
    expect(await inspect(gzipSync(old))).toEqual({
      proven: 'whole',
      kind: 'pg_dumpall',
      sqlBytes: Buffer.byteLength(old),
      dumpedFrom: { text: '15.13', major: 15, minor: 13 },
      dumpedBy: { text: '15.13', major: 15, minor: 13 },
      restricted: false,
      requirements: { extensions: [], tablespacesCreated: [], tablespacesUsed: [] },
    });
  });

  it('reads a large dump streamed in many chunks, counting multi-byte characters as bytes', async () => {
    const notes = Array.from({ length: 20_000 }, (_, i) => `row ${i} café 🐘 ${'x'.repeat(80)}`);
    const big = pgDumpallText({ notes });
    expect(Buffer.byteLength(big)).toBeGreaterThan(1024 * 1024);

    expect(await inspect(gzipSync(big))).toMatchObject({
      kind: 'pg_dumpall',
      sqlBytes: Buffer.byteLength(big),
      dumpedFrom: { text: '15.18' },
      restricted: true,
    });
  });

  it('passes a plain .sql backup (no compression)', async () => {
    expect(await inspect(dump, 'none')).toMatchObject({
      kind: 'pg_dumpall',
      sqlBytes: Buffer.byteLength(dump),
    });
  });

  it('passes a single-database pg_dump', async () => {
    const single = pgDumpText({ dumpedFrom: PG15_VERSION, dumpedBy: '17.6' });
    expect(await inspect(gzipSync(single))).toEqual({
      proven: 'whole',
      kind: 'pg_dump',
      sqlBytes: Buffer.byteLength(single),
      dumpedFrom: { text: '15.18', major: 15, minor: 18 },
      dumpedBy: { text: '17.6', major: 17, minor: 6 },
      restricted: true,
      requirements: { extensions: [], tablespacesCreated: [], tablespacesUsed: [] },
    });
  });

  it('fails an empty file with BackupEmptyError', async () => {
    const file = nextPath();
    const failure = inspect(Buffer.alloc(0));
    await expect(failure).rejects.toBeInstanceOf(BackupEmptyError);
    await expect(failure).rejects.toMatchObject({
      code: 'DRILL_BACKUP_EMPTY',
      file,
      message: `${file} is empty (0 bytes): the backup job wrote nothing.`,
    });
  });

  it('fails a gzip cut in half with BackupTruncatedError naming the file', async () => {
    const half = gz.subarray(0, gz.length >> 1);
    const file = nextPath();
    const failure = inspect(half);
    await expect(failure).rejects.toBeInstanceOf(BackupTruncatedError);
    await expect(failure).rejects.toMatchObject({
      code: 'DRILL_BACKUP_TRUNCATED',
      file,
      message: `${file} is truncated: the gzip stream ends after ${half.length} bytes without its trailer. The copy or the backup job was cut short; use an older backup and fix the job.`,
    });
  });

  it('fails a gzip that stops inside its 8-byte trailer with BackupTruncatedError', async () => {
    await expect(inspect(gz.subarray(0, gz.length - 3))).rejects.toMatchObject({
      code: 'DRILL_BACKUP_TRUNCATED',
    });
  });

  it('fails a flipped byte in the CRC trailer with BackupCorruptError', async () => {
    const file = nextPath();
    const failure = inspect(flipByte(gz, gz.length - 6));
    await expect(failure).rejects.toBeInstanceOf(BackupCorruptError);
    await expect(failure).rejects.toMatchObject({
      code: 'DRILL_BACKUP_CORRUPT',
      file,
      message: expect.stringMatching(
        new RegExp(
          `^${escapeRegExp(file)} is corrupt: gzip says "incorrect data check" near compressed byte \\d+\\.`,
        ),
      ),
    });
  });

  it('fails a flipped byte in the length trailer with BackupCorruptError', async () => {
    await expect(inspect(flipByte(gz, gz.length - 2))).rejects.toMatchObject({
      code: 'DRILL_BACKUP_CORRUPT',
      message: expect.stringMatching(/gzip says "incorrect length check"/),
    });
  });

  it.each([0.25, 0.5, 0.75])(
    'fails a byte flipped at %d of the stream with BackupCorruptError',
    async (at) => {
      const failure = inspect(flipByte(gz, Math.floor(gz.length * at)));
      await expect(failure).rejects.toBeInstanceOf(BackupCorruptError);
      await expect(failure).rejects.toMatchObject({ code: 'DRILL_BACKUP_CORRUPT' });
    },
  );

  it('fails trailing garbage after the gzip member with BackupCorruptError', async () => {
    await expect(inspect(Buffer.concat([gz, Buffer.from('garbage\n')]))).rejects.toMatchObject({
      code: 'DRILL_BACKUP_CORRUPT',
      message: expect.stringMatching(/gzip says "incorrect header check"/),
    });
  });

  it('fails a valid gzip of a pg_dumpall that stopped before the cluster trailer with BackupIncompleteError', async () => {
    const cut = pgDumpallText({ clusterTrailer: false });
    const file = nextPath();
    const failure = inspect(gzipSync(cut));
    await expect(failure).rejects.toBeInstanceOf(BackupIncompleteError);
    await expect(failure).rejects.toMatchObject({
      code: 'DRILL_BACKUP_INCOMPLETE',
      file,
      message: `${file} decodes, but does not end with \`-- PostgreSQL database cluster dump complete\`: the pg_dumpall that wrote it stopped early (${Buffer.byteLength(cut)} bytes of SQL). Check the backup job's log; run it with \`set -o pipefail\` so a failed pg_dumpall fails the job.`,
    });
  });

  it('fails a plain dump cut mid-COPY with BackupIncompleteError', async () => {
    await expect(inspect(dump.slice(0, dump.indexOf('2\tbob')), 'none')).rejects.toMatchObject({
      code: 'DRILL_BACKUP_INCOMPLETE',
    });
  });

  it('fails a custom-format archive with a plain-SQL name with BackupFormatError', async () => {
    const archive = Buffer.concat([
      Buffer.from('PGDMP'),
      Buffer.from([1, 15, 0, 4, 8, 1, 1]),
      Buffer.alloc(64, 7),
    ]);
    const file = nextPath('none');
    const failure = inspect(archive, 'none');
    await expect(failure).rejects.toBeInstanceOf(BackupFormatError);
    await expect(failure).rejects.toMatchObject({
      code: 'DRILL_BACKUP_FORMAT',
      file,
      message: `${file} is a pg_dump custom-format archive with a plain-SQL name; restore it with pg_restore, or name it .dump.`,
    });
  });

  it('fails a dump a tool rewrote with CRLF line endings, before any server, naming the file and the fix', async () => {
    const crlf = gzipSync(pgDumpallText().replaceAll('\n', '\r\n'));
    for (const headerOnly of [false, true]) {
      const file = nextPath();
      const failure = inspect(crlf, 'gzip', headerOnly);
      await expect(failure).rejects.toBeInstanceOf(BackupFormatError);
      await expect(failure).rejects.toMatchObject({
        file,
        message: expect.stringMatching(
          new RegExp(
            `^${file.replaceAll('.', '\\.')} has Windows line endings \\(CRLF: its first line ends in \\\\r\\\\n\\): .* Copy the backup in binary mode and drill that copy`,
          ),
        ),
      });
    }
  });

  it('fails text that is not a dump with BackupFormatError naming its first line', async () => {
    const file = nextPath();
    const failure = inspect(gzipSync('hello world\nthis is not a dump\n'));
    await expect(failure).rejects.toBeInstanceOf(BackupFormatError);
    await expect(failure).rejects.toMatchObject({
      code: 'DRILL_BACKUP_FORMAT',
      file,
      message: `${file} is not a plain pg_dumpall/pg_dump backup: its first line is \`hello world\`, expected \`-- PostgreSQL database cluster dump\`.`,
    });
  });

  it('shortens a long first line to 60 characters', async () => {
    const line = 'a'.repeat(100);
    await expect(inspect(`${line}\n`, 'none')).rejects.toMatchObject({
      message: expect.stringMatching(new RegExp(`its first line is \`${'a'.repeat(60)}…\`, expected`)),
    });
  });
});

describe('readBackupHeader', () => {
  // Big enough that the stream comes in many chunks and the head is done long before the end.
  const notes = Array.from({ length: 20_000 }, (_, i) => `row ${i} ${'x'.repeat(80)}`);
  const big = pgDumpallText({ notes });
  const bigGz = gzipSync(big);

  it('reads the banner, versions and \\restrict from the head only, not the whole file', async () => {
    const header = await inspect(bigGz, 'gzip', true);
    expect(header).toMatchObject({
      proven: 'header',
      kind: 'pg_dumpall',
      dumpedFrom: { text: '15.18' },
      dumpedBy: { text: '15.18' },
      restricted: true,
    });
    expect(header.sqlBytes).toBeGreaterThan(0);
    expect(header.sqlBytes).toBeLessThan(Buffer.byteLength(big));
  });

  it('leaves the end of the file to the restore: a damaged tail does not fail the header read', async () => {
    await expect(inspect(bigGz.subarray(0, bigGz.length - 3), 'gzip', true)).resolves.toMatchObject({
      proven: 'header',
    });
    await expect(inspect(bigGz.subarray(0, bigGz.length - 3))).rejects.toMatchObject({
      code: 'DRILL_BACKUP_TRUNCATED',
    });
  });

  it('fails a file that is not a dump, an empty one, and damage inside the head', async () => {
    await expect(inspect('hello\n', 'none', true)).rejects.toMatchObject({ code: 'DRILL_BACKUP_FORMAT' });
    await expect(inspect(Buffer.alloc(0), 'gzip', true)).rejects.toMatchObject({
      code: 'DRILL_BACKUP_EMPTY',
    });
    await expect(inspect(flipByte(bigGz, 20), 'gzip', true)).rejects.toMatchObject({
      code: 'DRILL_BACKUP_CORRUPT',
    });
  });
});

describe('checkRestorable', () => {
  const base: BackupInspection = {
    kind: 'pg_dumpall',
    proven: 'whole',
    sqlBytes: 1000,
    dumpedFrom: version('15.18'),
    dumpedBy: version('15.18'),
    restricted: false,
  };

  it('refuses a dump from a newer major, naming both versions and a fix', () => {
    const inspection = { ...base, dumpedFrom: version('18.1'), dumpedBy: version('18.1') };
    const check = () => checkRestorable('/b/x.sql.gz', inspection, version('15.18'), version('15.18'));
    expect(check).toThrow(DumpNewerThanTargetError);
    expect(check).toThrow(
      '/b/x.sql.gz was dumped from PostgreSQL 18.1 by pg_dump 18.1, but the target runs 15.18: a dump restores only into the same or a newer major. Restore into PostgreSQL 18 or newer (--target container --image postgres:18, or --pg-bindir with PostgreSQL 18 binaries).',
    );
  });

  it('refuses a dump of an old server made by a newer pg_dump', () => {
    const inspection = { ...base, dumpedBy: version('17.6') };
    expect(() => checkRestorable('/b/x.sql.gz', inspection, version('15.18'), version('15.18'))).toThrow(
      /dumped from PostgreSQL 15\.18 by pg_dump 17\.6, but the target runs 15\.18: .* Restore into PostgreSQL 17 or newer/,
    );
  });

  it('passes the same major, with no notes', () => {
    expect(checkRestorable('/b/x.sql.gz', base, version('15.9'), version('15.18'))).toEqual([]);
  });

  it('passes an older dump into a newer server', () => {
    expect(checkRestorable('/b/x.sql.gz', base, version('18.1'), version('18.1'))).toEqual([]);
  });

  it('refuses a restricted dump for a psql that does not know \\restrict', () => {
    const restricted = { ...base, restricted: true };
    const check = () => checkRestorable('/b/x.sql.gz', restricted, version('15.18'), version('15.13'));
    expect(check).toThrow(DumpNewerThanTargetError);
    expect(check).toThrow(
      '/b/x.sql.gz uses \\restrict (pg_dump 17.6 / 16.10 / 15.14 / 14.19 / 13.22 and later), which psql 15.13 does not know. Update the PostgreSQL client tools to the latest minor release.',
    );
  });

  it('passes a restricted dump for a psql that knows \\restrict, or whose version is unknown', () => {
    const restricted = { ...base, restricted: true };
    expect(checkRestorable('/b/x.sql.gz', restricted, version('15.18'), version('15.18'))).toEqual([]);
    expect(checkRestorable('/b/x.sql.gz', restricted, version('15.18'), undefined)).toEqual([]);
  });

  it('notes a dump that names no version, without refusing it', () => {
    const bare = { ...base, dumpedFrom: undefined, dumpedBy: undefined };
    expect(checkRestorable('/b/x.sql.gz', bare, version('15.18'), version('15.18'))).toEqual([
      'the dump names no PostgreSQL version; version compatibility not checked',
    ]);
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
