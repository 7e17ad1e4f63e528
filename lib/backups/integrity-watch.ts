import type { Gunzip } from 'node:zlib';
import { type DumpRequirements, dumpRequirements } from '../dump/dump-requirements.ts';
import {
  BackupCorruptError,
  BackupFormatError,
  BackupIncompleteError,
  BackupTruncatedError,
  BackupUnreadableError,
  type DrillError,
} from '../errors.ts';
import type { PgVersion } from '../pg/version.ts';
import type { BackupCandidate } from './backup-source.ts';
import { DUMP_KINDS, type DumpKind, detectKind, endsWithTrailer, readVersions } from './dump-header.ts';

/** The head is scanned for the version lines only this far: they sit in the first database's header. */
const HEAD_LIMIT_BYTES = 8 * 1024 * 1024;
const TAIL_BYTES = 4096;

/**
 * gunzip's output chunks. zlib's default (16 KiB) makes 64 000 chunks of a 1 GB dump, each handed
 * through every stage and written to psql's pipe on its own: measured on a 337 MB backup, the feed's
 * CPU (the drill's process, zlib's thread included) falls from about 5 s to about 2.5 s with 256 KiB,
 * below the 5.3 s of a `gunzip -c` process. A few chunks of this size are all the stages hold.
 */
export const GUNZIP_CHUNK_BYTES = 256 * 1024;

/** What the head of a plain dump says: its kind, the versions that made it, `\restrict`. */
export interface DumpHeader {
  kind: DumpKind;
  dumpedFrom?: PgVersion;
  dumpedBy?: PgVersion;
  /** The dump wraps its parts in `\restrict` (pg_dump ≥ 17.6 / 16.10 / 15.14 / 14.19 / 13.22). */
  restricted: boolean;
}

/** What watching a plain backup's bytes established, once they were seen to their end. */
export interface WatchedBackup extends DumpHeader {
  /** Uncompressed size of the SQL. */
  sqlBytes: number;
  requirements?: DumpRequirements;
}

/**
 * The integrity checks of a plain backup, fed the bytes as they stream past: the precheck's own read
 * of the file, or (one pass, into a throwaway or scratch server) the very stream the restore reads.
 * It keeps the head (for the banner and version lines) and the last few KiB (for the trailer), nothing
 * else; with `requirements` it also runs the dump lexer to list extensions and tablespaces.
 */
export interface IntegrityWatch {
  /** The gunzip stage the bytes pass through (none for an uncompressed .sql). */
  gunzip(stage: Gunzip | undefined): void;
  /** A chunk of SQL, after gunzip. */
  sql(chunk: Buffer): void;
  /** The SQL stream ended: gunzip (or the file) delivered its last byte. */
  end(): void;
  /** The head has been read far enough for `header()`. */
  readonly headDone: boolean;
  /** Bytes of SQL seen so far. */
  readonly sqlBytes: number;
  /** The banner and versions, or the error naming the file when the head is not a plain dump's. */
  header(): DumpHeader;
  /** The header, the bytes seen so far, and the requirements of the SQL seen so far. */
  partial(): WatchedBackup;
  /**
   * The verdict once the stream has settled, `error` being what broke it (if anything): the backup
   * whole, or the error naming the file and the check that failed. `undefined` when the stream was
   * stopped before its end for a reason that says nothing about the file (psql stopped reading): then
   * nothing about the end of the file is known.
   */
  verdict(
    error?: unknown,
  ): { ok: true; backup: WatchedBackup } | { ok: false; error: DrillError } | undefined;
}

export function integrityWatch(
  candidate: BackupCandidate,
  options: { requirements: boolean },
): IntegrityWatch {
  return new Watch(candidate, options.requirements ? dumpRequirements() : undefined);
}

type Verdict = ReturnType<IntegrityWatch['verdict']>;

class Watch implements IntegrityWatch {
  readonly #candidate: BackupCandidate;
  readonly #needs: ReturnType<typeof dumpRequirements> | undefined;
  #head = '';
  #headDone = false;
  #tail: Buffer = Buffer.alloc(0);
  #sqlBytes = 0;
  #ended = false;
  #gunzip: Gunzip | undefined;

  constructor(candidate: BackupCandidate, needs: ReturnType<typeof dumpRequirements> | undefined) {
    this.#candidate = candidate;
    this.#needs = needs;
    // Handed around as plain functions (the restore's stream stage calls them unbound).
    this.gunzip = this.gunzip.bind(this);
    this.sql = this.sql.bind(this);
    this.end = this.end.bind(this);
  }

  gunzip(stage: Gunzip | undefined): void {
    this.#gunzip = stage;
  }

  sql(chunk: Buffer): void {
    this.#sqlBytes += chunk.length;
    this.#needs?.write(chunk);
    if (!this.#headDone) {
      this.#head += chunk.toString('utf8');
      // Test only the new text (plus a line's overlap) so a long roles section stays linear.
      const fresh = this.#head.slice(-(chunk.length + 128));
      this.#headDone = this.#head.length >= HEAD_LIMIT_BYTES || /^-- Dumped by pg_dump version /m.test(fresh);
    }
    // A big chunk is its own tail (held, not copied); small ones are gathered up to a few KiB.
    if (chunk.length >= TAIL_BYTES) this.#tail = chunk;
    else {
      this.#tail = Buffer.concat([this.#tail, chunk]);
      if (this.#tail.length > TAIL_BYTES * 2)
        this.#tail = this.#tail.subarray(this.#tail.length - TAIL_BYTES);
    }
  }

  end(): void {
    this.#ended = true;
  }

  get headDone(): boolean {
    return this.#headDone;
  }

  get sqlBytes(): number {
    return this.#sqlBytes;
  }

  header(): DumpHeader {
    const file = this.#candidate.path;
    const head = this.#head;
    if (head.startsWith('PGDMP')) {
      throw new BackupFormatError(
        file,
        `${file} is a pg_dump custom-format archive with a plain-SQL name; restore it with pg_restore, or name it .dump.`,
      );
    }
    // pg_dump ends its lines with \n alone: a \r before it means a tool rewrote the file after the dump.
    const firstEnd = head.indexOf('\n');
    if (firstEnd > 0 && head[firstEnd - 1] === '\r') {
      throw new BackupFormatError(
        file,
        `${file} has Windows line endings (CRLF: its first line ends in \\r\\n): pg_dump writes \\n alone, so a tool rewrote the file after the dump (a transfer in text mode, unix2dos, an editor). psql would not restore it as written: COPY rows would carry the \\r into their last column, and \`\\.\` would not end a COPY block. Copy the backup in binary mode and drill that copy, and fix the transfer for the backups to come.`,
      );
    }
    const kind = detectKind(head);
    if (!kind) {
      throw new BackupFormatError(
        file,
        `${file} is not a plain pg_dumpall/pg_dump backup: its first line is \`${firstLine(head)}\`, expected \`${DUMP_KINDS.pg_dumpall.banner}\`.`,
      );
    }
    const versions = readVersions(head);
    return {
      kind,
      dumpedFrom: versions.from,
      dumpedBy: versions.by,
      restricted: /^\\restrict \S+$/m.test(head),
    };
  }

  partial(): WatchedBackup {
    this.#needs?.end();
    return {
      ...this.header(),
      sqlBytes: this.#sqlBytes,
      ...(this.#needs ? { requirements: this.#needs.result } : {}),
    };
  }

  verdict(error?: unknown): Verdict {
    try {
      const code = (error as NodeJS.ErrnoException | undefined)?.code;
      if (typeof code === 'string' && code.startsWith('Z_')) {
        return {
          ok: false,
          error: streamError(this.#candidate.path, error, this.#gunzip?.bytesWritten ?? 0),
        };
      }
      // Anything else that broke the stream before its end (psql closing its input) says nothing of the
      // file. At its end, gunzip stopping short of the file's size is the file's fault (see #whole).
      if (!this.#ended) return undefined;
      return { ok: true, backup: this.#whole() };
    } catch (failure) {
      return { ok: false, error: failure as DrillError };
    }
  }

  /** The checks at the end of the stream: gzip's end at the file's end, the banner, the trailer. */
  #whole(): WatchedBackup {
    const file = this.#candidate.path;
    const gunzip = this.#gunzip;
    // zlib stops at the end of the last gzip member and quietly drops what follows (zero padding from a
    // crashed writer, a second file glued on); `bytesWritten` says how far it really read.
    if (gunzip && gunzip.bytesWritten < this.#candidate.sizeBytes) {
      throw new BackupCorruptError(
        file,
        `${file} is corrupt: ${this.#candidate.sizeBytes - gunzip.bytesWritten} byte(s) follow the end of the gzip stream at byte ${gunzip.bytesWritten}. The file was damaged or appended to after it was written; use an older backup and check the volume.`,
      );
    }
    const found = this.header();
    if (!endsWithTrailer(this.#tail.toString('utf8'), found.kind)) {
      throw new BackupIncompleteError(
        file,
        `${file} decodes, but does not end with \`${DUMP_KINDS[found.kind].trailer}\`: the ${found.kind} that wrote it stopped early (${this.#sqlBytes} bytes of SQL). Check the backup job's log; run it with \`set -o pipefail\` so a failed ${found.kind} fails the job.`,
      );
    }
    return this.partial();
  }
}

/** A read error named for the operator: truncated, corrupt, or unreadable. */
export function streamError(file: string, error: unknown, offset: number): DrillError {
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
