import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { TableDigest } from '../dump/copy-digest.ts';
import { type DumpRequirements, dumpRequirements } from '../dump/dump-requirements.ts';
import {
  BackupCorruptError,
  BackupEmptyError,
  BackupFormatError,
  BackupIncompleteError,
  BackupTruncatedError,
  BackupUnreadableError,
  DumpNewerThanTargetError,
} from '../errors.ts';
import type { PgVersion } from '../pg/version.ts';
import type { ArchiveToc } from './archive-integrity.ts';
import type { BackupCandidate } from './backup-source.ts';
import {
  DUMP_KINDS,
  type DumpKind,
  detectKind,
  endsWithTrailer,
  psqlKnowsRestrict,
  readVersions,
} from './dump-header.ts';

/** The head is scanned for the version lines only this far: they sit in the first database's header. */
const HEAD_LIMIT_BYTES = 8 * 1024 * 1024;
const TAIL_BYTES = 4096;

/** What reading a backup end to end established. */
export interface BackupInspection {
  kind: DumpKind;
  /** Uncompressed size of the SQL. */
  sqlBytes: number;
  dumpedFrom?: PgVersion;
  dumpedBy?: PgVersion;
  /** The dump wraps its parts in `\restrict` (pg_dump ≥ 17.6 / 16.10 / 15.14 / 14.19 / 13.22). */
  restricted: boolean;
  /** For pg_dump archives: what `pg_restore -l` listed. */
  toc?: ArchiveToc;
  /** For pg_dump archives: what each table holds, read while proving every block decompresses. */
  digests?: TableDigest[];
  /** Extensions and tablespaces the dump needs of the target (see checkExtensions, checkTablespaces). */
  requirements?: DumpRequirements;
}

/**
 * Proves a plain backup whole before any server sees it: not empty, the gzip stream decodes to its end
 * (CRC and length checked by zlib), the dump opens with a known banner and ends with its trailer.
 * `gzip -t` alone proves nothing: `pg_dumpall | gzip` without pipefail gzips a truncated dump perfectly.
 */
export async function inspectBackup(candidate: BackupCandidate, raw: Readable): Promise<BackupInspection> {
  const file = candidate.path;
  if (candidate.sizeBytes === 0) {
    throw new BackupEmptyError(file, `${file} is empty (0 bytes): the backup job wrote nothing.`);
  }
  let compressedBytes = 0;
  raw.on('data', (chunk: Buffer) => {
    compressedBytes += chunk.length;
  });
  let head = '';
  let headDone = false;
  let tail = Buffer.alloc(0);
  let sqlBytes = 0;
  const needs = dumpRequirements();
  const scan = async function* (source: AsyncIterable<Buffer>) {
    for await (const chunk of source) {
      sqlBytes += chunk.length;
      needs.write(chunk);
      if (!headDone) {
        head += chunk.toString('utf8');
        // Test only the new text (plus a line's overlap) so a long roles section stays linear.
        const fresh = head.slice(-(chunk.length + 128));
        headDone = head.length >= HEAD_LIMIT_BYTES || /^-- Dumped by pg_dump version /m.test(fresh);
      }
      tail = Buffer.concat([tail, chunk]);
      if (tail.length > TAIL_BYTES * 2) tail = tail.subarray(tail.length - TAIL_BYTES);
    }
    needs.end();
    yield* [];
  };
  const gunzip = candidate.compression === 'gzip' ? createGunzip() : undefined;
  // zlib stops at the end of the last gzip member and quietly drops what follows (zero padding from a
  // crashed writer, a second file glued on); `bytesWritten` says how far it really read.
  const trailing = () =>
    new BackupCorruptError(
      file,
      `${file} is corrupt: ${candidate.sizeBytes - (gunzip?.bytesWritten ?? 0)} byte(s) follow the end of the gzip stream at byte ${gunzip?.bytesWritten}. The file was damaged or appended to after it was written; use an older backup and check the volume.`,
    );
  try {
    if (gunzip) await pipeline(raw, gunzip, scan);
    else await pipeline(raw, scan);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (
      gunzip &&
      (code === 'ABORT_ERR' || code === 'ERR_STREAM_PREMATURE_CLOSE') &&
      gunzip.bytesWritten < candidate.sizeBytes
    ) {
      throw trailing();
    }
    throw streamError(file, error, compressedBytes);
  }
  if (gunzip && gunzip.bytesWritten < candidate.sizeBytes) throw trailing();
  if (head.startsWith('PGDMP')) {
    throw new BackupFormatError(
      file,
      `${file} is a pg_dump custom-format archive with a plain-SQL name; restore it with pg_restore, or name it .dump.`,
    );
  }
  const kind = detectKind(head);
  if (!kind) {
    throw new BackupFormatError(
      file,
      `${file} is not a plain pg_dumpall/pg_dump backup: its first line is \`${firstLine(head)}\`, expected \`${DUMP_KINDS.pg_dumpall.banner}\`.`,
    );
  }
  if (!endsWithTrailer(tail.toString('utf8'), kind)) {
    throw new BackupIncompleteError(
      file,
      `${file} decodes, but does not end with \`${DUMP_KINDS[kind].trailer}\`: the ${kind} that wrote it stopped early (${sqlBytes} bytes of SQL). Check the backup job's log; run it with \`set -o pipefail\` so a failed ${kind} fails the job.`,
    );
  }
  const versions = readVersions(head);
  return {
    kind,
    sqlBytes,
    dumpedFrom: versions.from,
    dumpedBy: versions.by,
    restricted: /^\\restrict \S+$/m.test(head),
    requirements: needs.result,
  };
}

function streamError(file: string, error: unknown, offset: number): Error {
  const err = error as NodeJS.ErrnoException;
  if (err.code === 'Z_BUF_ERROR') {
    return new BackupTruncatedError(
      file,
      `${file} is truncated: the gzip stream ends after ${offset} bytes without its trailer. The copy or the backup job was cut short; use an older backup and fix the job.`,
      { cause: error },
    );
  }
  if (typeof err.code === 'string' && err.code.startsWith('Z_')) {
    return new BackupCorruptError(
      file,
      `${file} is corrupt: gzip says "${err.message}" near compressed byte ${offset}. The file was damaged after it was written; use an older backup and check the volume.`,
      { cause: error },
    );
  }
  return new BackupUnreadableError(file, `${file} cannot be read: ${err.message}.`, { cause: error });
}

function firstLine(text: string): string {
  const line = text.split('\n', 1)[0] ?? '';
  return line.length > 60 ? `${line.slice(0, 60)}…` : line;
}

/**
 * Refuses a dump the target cannot replay: one from a newer major (pg_dump 17 writes
 * `SET transaction_timeout`, 18 writes statistics calls), or a restricted dump for a psql too old to know
 * `\restrict`.
 */
export function checkRestorable(
  file: string,
  inspection: BackupInspection,
  server: PgVersion,
  psql: PgVersion | undefined,
): string[] {
  const notes: string[] = [];
  const newest = [inspection.dumpedFrom, inspection.dumpedBy]
    .filter((v): v is PgVersion => v !== undefined)
    .sort((a, b) => b.major - a.major)[0];
  if (newest && newest.major > server.major) {
    throw new DumpNewerThanTargetError(
      file,
      `${file} was dumped from PostgreSQL ${inspection.dumpedFrom?.text ?? '?'} by pg_dump ${inspection.dumpedBy?.text ?? '?'}, but the target runs ${server.text}: a dump restores only into the same or a newer major. Restore into PostgreSQL ${newest.major} or newer (--target container --image postgres:${newest.major}, or --pg-bindir with PostgreSQL ${newest.major} binaries).`,
    );
  }
  if (!newest) notes.push('the dump names no PostgreSQL version; version compatibility not checked');
  if (inspection.restricted && psql && !psqlKnowsRestrict(psql)) {
    throw new DumpNewerThanTargetError(
      file,
      `${file} uses \\restrict (pg_dump 17.6 / 16.10 / 15.14 / 14.19 / 13.22 and later), which psql ${psql.text} does not know. Update the PostgreSQL client tools to the latest minor release.`,
    );
  }
  return notes;
}

/**
 * A restore into a newer major than the dump was taken from: the upgrade path ("SQL dumps can restore
 * to different PostgreSQL versions"), named in the report so a pass says what it proved.
 */
export function crossMajor(
  inspection: Pick<BackupInspection, 'dumpedFrom' | 'dumpedBy'>,
  server: PgVersion,
): { from: number; to: number } | undefined {
  const source = inspection.dumpedFrom ?? inspection.dumpedBy;
  return source && source.major < server.major ? { from: source.major, to: server.major } : undefined;
}
