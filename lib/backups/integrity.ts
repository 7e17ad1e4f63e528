import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { TableDigest } from '../dump/copy-digest.ts';
import type { DumpRequirements } from '../dump/dump-requirements.ts';
import type { DumpedSequence } from '../dump/setval.ts';
import { BackupEmptyError, DumpNewerThanTargetError } from '../errors.ts';
import { bufferReleaser } from '../exec/buffer-release.ts';
import type { PgVersion } from '../pg/version.ts';
import type { ArchiveToc } from './archive-integrity.ts';
import type { BackupCandidate } from './backup-source.ts';
import { type DumpKind, psqlKnowsRestrict } from './dump-header.ts';
import { GUNZIP_CHUNK_BYTES, type IntegrityWatch, integrityWatch, streamError } from './integrity-watch.ts';

/** What reading a backup established. */
export interface BackupInspection {
  kind: DumpKind;
  /**
   * How much of the file was proven: `whole` (read to its end: gzip, trailer, header), or `header`
   * (only its head was read; the rest is proven on the restore's own stream, see restoreBackup).
   */
  proven: 'whole' | 'header';
  /** Uncompressed size of the SQL (of the head alone while only the header was read). */
  sqlBytes: number;
  dumpedFrom?: PgVersion;
  dumpedBy?: PgVersion;
  /** The dump wraps its parts in `\restrict` (pg_dump ≥ 17.6 / 16.10 / 15.14 / 14.19 / 13.22). */
  restricted: boolean;
  /** For pg_dump archives: what `pg_restore -l` listed. */
  toc?: ArchiveToc;
  /** For pg_dump archives: what each table holds, read while proving every block decompresses. */
  digests?: TableDigest[];
  /** For pg_dump archives: the sequence values it sets, read with the digests. */
  sequences?: DumpedSequence[];
  /**
   * Extensions and tablespaces the dump needs of the target (see checkExtensions, checkTablespaces):
   * of the whole dump, or of its head (the globals part) when only the header was read.
   */
  requirements?: DumpRequirements;
}

function notEmpty(candidate: BackupCandidate): void {
  if (candidate.sizeBytes === 0) {
    throw new BackupEmptyError(
      candidate.path,
      `${candidate.path} is empty (0 bytes): the backup job wrote nothing.`,
    );
  }
}

/** Feeds `raw` (gunzipped if need be) to the watch until its end, or until `enough()` says stop. */
async function watchStream(
  candidate: BackupCandidate,
  raw: Readable,
  watch: IntegrityWatch,
  enough: () => boolean,
): Promise<unknown> {
  const gunzip =
    candidate.compression === 'gzip' ? createGunzip({ chunkSize: GUNZIP_CHUNK_BYTES }) : undefined;
  watch.gunzip(gunzip);
  // A whole backup read here (canary modes) is as many fresh Buffers as a restore's feed.
  const release = bufferReleaser();
  const scan = async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) {
      watch.sql(chunk);
      release(chunk.length);
      if (enough()) return;
    }
    watch.end();
  };
  try {
    if (gunzip) await pipeline(raw, gunzip, scan);
    else await pipeline(raw, scan);
    return undefined;
  } catch (error) {
    return error;
  } finally {
    raw.destroy();
  }
}

/**
 * Proves a plain backup whole before any server sees it: not empty, the gzip stream decodes to its end
 * (CRC and length checked by zlib), the dump opens with a known banner and ends with its trailer.
 * `gzip -t` alone proves nothing: `pg_dumpall | gzip` without pipefail gzips a truncated dump perfectly.
 */
export async function inspectPlainBackup(
  candidate: BackupCandidate,
  raw: Readable,
): Promise<BackupInspection> {
  notEmpty(candidate);
  const watch = integrityWatch(candidate, { requirements: true });
  const error = await watchStream(candidate, raw, watch, () => false);
  const verdict = watch.verdict(error);
  if (!verdict) throw streamError(candidate.path, error, 0);
  if (!verdict.ok) throw verdict.error;
  return { ...verdict.backup, proven: 'whole' };
}

/**
 * Reads only the head of a plain backup (the banner, the version lines, the globals part of a
 * pg_dumpall): what a restore into a throwaway or scratch server needs to know before it starts. The
 * rest of the file (gzip to its end, the trailer) is proven on the restore's own stream. A small dump
 * whose end comes first is proven whole here.
 */
export async function readBackupHeader(candidate: BackupCandidate, raw: Readable): Promise<BackupInspection> {
  notEmpty(candidate);
  const watch = integrityWatch(candidate, { requirements: true });
  const error = await watchStream(candidate, raw, watch, () => watch.headDone);
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  // Stopping the read early ends the pipeline prematurely: only a gzip error says the head is damaged.
  if (watch.headDone && !(typeof code === 'string' && code.startsWith('Z_'))) {
    return { ...watch.partial(), proven: 'header' };
  }
  const verdict = watch.verdict(error);
  if (!verdict) throw streamError(candidate.path, error, 0);
  if (!verdict.ok) throw verdict.error;
  return { ...verdict.backup, proven: 'whole' };
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
