import { open } from 'node:fs/promises';
import type { BackupCandidate } from './backup-source.ts';

/** How many backups, the newest included, the growth rate is read from (the backup CronJob keeps 7). */
export const SERIES_LENGTH = 7;

/** One backup of the series the RTO forecast fits its growth rate to. */
export interface SizePoint {
  file: string;
  takenAt: string;
  /** Bytes on disk (compressed for a .sql.gz). */
  fileBytes: number;
  /**
   * For a gzip backup: the ISIZE field of its last gzip member, the uncompressed length mod 2^32
   * (RFC 1952); absent when the file does not start as gzip or is too short to hold a trailer.
   */
  isize?: number;
}

const GZIP_MAGIC = [0x1f, 0x8b];
/** A gzip member is at least a 10-byte header and an 8-byte trailer. */
const GZIP_MIN_BYTES = 18;

/**
 * The newest backup and up to SERIES_LENGTH − 1 predecessors of the same format and compression (the
 * sizes of a .sql.gz and a .dump say nothing of each other), newest first, each with its gzip ISIZE:
 * two 4-byte reads a file, never a decompression.
 */
export async function sizeSeries(
  candidates: readonly BackupCandidate[],
  newest: BackupCandidate,
  length = SERIES_LENGTH,
): Promise<SizePoint[]> {
  const same = candidates
    .filter(
      (c) =>
        c.format === newest.format &&
        c.compression === newest.compression &&
        c.takenAt.getTime() <= newest.takenAt.getTime(),
    )
    .sort((a, b) => b.takenAt.getTime() - a.takenAt.getTime())
    .slice(0, length);
  const points: SizePoint[] = [];
  for (const candidate of same) {
    const point: SizePoint = {
      file: candidate.name,
      takenAt: candidate.takenAt.toISOString(),
      fileBytes: candidate.sizeBytes,
    };
    if (candidate.compression === 'gzip') {
      const isize = await gzipIsize(candidate.path).catch(() => undefined);
      if (isize !== undefined) point.isize = isize;
    }
    points.push(point);
  }
  return points;
}

/**
 * The ISIZE of a gzip file's last member: its last four bytes, little-endian. Undefined for a file that
 * does not begin with the gzip magic or is shorter than one member (nothing to read a size from).
 */
export async function gzipIsize(path: string): Promise<number | undefined> {
  const file = await open(path, 'r');
  try {
    const { size } = await file.stat();
    if (size < GZIP_MIN_BYTES) return undefined;
    const head = Buffer.alloc(2);
    await file.read(head, 0, 2, 0);
    if (head[0] !== GZIP_MAGIC[0] || head[1] !== GZIP_MAGIC[1]) return undefined;
    const tail = Buffer.alloc(4);
    await file.read(tail, 0, 4, size - 4);
    return tail.readUInt32LE(0);
  } finally {
    await file.close();
  }
}
