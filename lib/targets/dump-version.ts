import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { BackupCandidate } from '../backups/backup-source.ts';
import { readVersions } from '../backups/dump-header.ts';
import { type PgVersion, parseVersion } from '../pg/version.ts';

/** A plain dump names its versions in its first lines; this much is always enough. */
const HEAD_BYTES = 64 * 1024;

/**
 * The newest PostgreSQL version a backup names (the server it was dumped from, the pg_dump that wrote
 * it), read from its head without any PostgreSQL tool: a local target must choose its binaries by it
 * before it can run one. Undefined when the backup names none or cannot be read; the precheck steps
 * then judge the file properly.
 */
export async function newestDumpVersion(candidate: BackupCandidate): Promise<PgVersion | undefined> {
  const versions: Versions =
    candidate.format === 'plain'
      ? await plainVersions(candidate).catch((): Versions => ({}))
      : await archiveVersions(
          candidate.format === 'directory' ? join(candidate.path, 'toc.dat') : candidate.path,
        ).catch((): Versions => ({}));
  return [versions.from, versions.by]
    .filter((v): v is PgVersion => v !== undefined)
    .sort((a, b) => b.major - a.major)[0];
}

type Versions = { from?: PgVersion; by?: PgVersion };

async function plainVersions(candidate: BackupCandidate): Promise<Versions> {
  const file = createReadStream(candidate.path);
  const stream: Readable = candidate.compression === 'gzip' ? file.pipe(createGunzip()) : file;
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of stream) {
      chunks.push(chunk as Buffer);
      size += (chunk as Buffer).length;
      if (size >= HEAD_BYTES) break;
    }
  } catch {
    // A head that reads is enough; a damaged rest is the integrity check's to report.
  } finally {
    file.destroy();
    stream.destroy();
  }
  return readVersions(Buffer.concat(chunks).toString('utf8'));
}

/**
 * The header of a custom-format archive (or a directory archive's toc.dat), as pg_dump's WriteHead
 * writes it: `PGDMP`, format version (3 bytes), int size, offset size, format, compression, creation
 * time (7 ints), then the strings dbname, the server's version and pg_dump's own version.
 */
async function archiveVersions(path: string): Promise<Versions> {
  const handle = await open(path, 'r');
  const buf = Buffer.alloc(4096);
  const { bytesRead } = await handle.read(buf, 0, buf.length, 0).finally(() => handle.close());
  const head = buf.subarray(0, bytesRead);
  if (head.subarray(0, 5).toString('latin1') !== 'PGDMP') return {};
  const [vmaj = 0, vmin = 0] = [head[5], head[6]];
  const intSize = head[8] ?? 4;
  let at = 11;
  const readInt = (): number => {
    const sign = head[at] ?? 0;
    let value = 0;
    for (let i = 0; i < intSize; i++) value += (head[at + 1 + i] ?? 0) * 2 ** (8 * i);
    at += 1 + intSize;
    return sign ? -value : value;
  };
  const readStr = (): string | undefined => {
    const length = readInt();
    if (length < 0) return undefined;
    const text = head.subarray(at, at + length).toString('utf8');
    at += length;
    return text;
  };
  // Format 1.15 (PostgreSQL 16) made compression one byte (the algorithm); before it was an int.
  if (vmaj > 1 || (vmaj === 1 && vmin >= 15)) at += 1;
  else readInt();
  for (let i = 0; i < 7; i++) readInt();
  readStr();
  const from = readStr();
  const by = readStr();
  const version = (text: string | undefined) => (text ? parseVersion(text.split(' ')[0] ?? text) : undefined);
  return { from: version(from), by: version(by) };
}
