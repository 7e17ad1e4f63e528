import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { copyDigest } from '../dump/copy-digest.ts';
import { requirementsFromToc } from '../dump/dump-requirements.ts';
import { BackupCorruptError, BackupEmptyError, BackupFormatError } from '../errors.ts';
import type { Executor } from '../exec/executor.ts';
import { collector } from '../exec/tool-output.ts';
import { type PgVersion, parseVersion } from '../pg/version.ts';
import type { BackupCandidate } from './backup-source.ts';
import type { BackupInspection } from './integrity.ts';

/** What `pg_restore -l` says of an archive, beyond what every inspection says. */
export interface ArchiveToc {
  dbname: string | undefined;
  tocEntries: number;
  /** `schema.table` of every TABLE DATA entry: the tables whose rows the archive holds. */
  tables: string[];
}

/**
 * Proves a pg_dump archive (custom `-Fc` or directory `-Fd`) whole before any server sees it: the
 * table of contents reads (`pg_restore -l`, milliseconds) and every data block decompresses
 * (`pg_restore -f /dev/null`: `-l` alone passes an archive whose data is corrupt). Both run the target's
 * own pg_restore, with no server involved.
 */
export async function inspectArchive(
  candidate: BackupCandidate,
  executor: Executor,
  openFile: () => Readable,
): Promise<BackupInspection> {
  const file = candidate.path;
  if (candidate.format === 'directory' && !executor.readsHostPaths) {
    throw new BackupFormatError(
      file,
      `${file} is a directory-format archive: pg_restore must read it as a directory, which ${executor.where} cannot. Use --target local, or a custom-format (-Fc) backup.`,
    );
  }
  if (candidate.format === 'custom') {
    if (candidate.sizeBytes === 0)
      throw new BackupEmptyError(file, `${file} is empty (0 bytes): the backup job wrote nothing.`);
    const handle = await open(file, 'r');
    const magic = Buffer.alloc(5);
    await handle.read(magic, 0, 5, 0).finally(() => handle.close());
    if (magic.toString('latin1') !== 'PGDMP') {
      throw new BackupFormatError(
        file,
        `${file} is named like a pg_dump custom-format archive but does not start with PGDMP (it starts with \`${magic.toString('latin1').replace(/[^\x20-\x7e]/g, '.')}\`).`,
      );
    }
  }
  const pathArgs = candidate.format === 'directory' || executor.readsHostPaths ? [file] : [];
  const input = () => (pathArgs.length ? {} : { stdin: openFile() });
  const listing = collector();
  const list = await executor.run('pg_restore', ['-l', ...pathArgs], { ...input(), stdout: listing.sink });
  if (list.exitCode !== 0) {
    throw new BackupCorruptError(
      file,
      `${file} is corrupt: pg_restore cannot read its table of contents: ${firstError(list.stderr)}. Use an older backup and check the backup job.`,
    );
  }
  // The whole archive as SQL, through the COPY digests: every block decompresses (the integrity check)
  // and deep verification learns what each table holds, in one pass.
  const digest = copyDigest({ database: fromToc(listing.text()).toc.dbname ?? 'postgres' });
  const full = await executor.run('pg_restore', ['-f', '-', ...pathArgs], {
    ...input(),
    stdout: digest.resume(),
  });
  if (full.exitCode !== 0) {
    throw new BackupCorruptError(
      file,
      `${file} is corrupt: its table of contents reads, but its data does not: ${firstError(full.stderr)}. Use an older backup and check the backup job.`,
    );
  }
  return {
    ...fromToc(listing.text()),
    kind: 'pg_dump',
    proven: 'whole',
    sqlBytes: candidate.sizeBytes,
    restricted: false,
    digests: digest.digests,
    sequences: digest.sequences,
    requirements: requirementsFromToc(listing.text(), fromToc(listing.text()).toc.dbname),
  };
}

function firstError(stderr: string): string {
  return stderr.split('\n').find((l) => l.includes('error')) ?? (stderr.trim() || 'no message');
}

/** Reads the header and the TABLE DATA entries of `pg_restore -l` output. */
export function fromToc(listing: string): { toc: ArchiveToc; dumpedFrom?: PgVersion; dumpedBy?: PgVersion } {
  const header = (name: string) => new RegExp(`^;\\s+${name}:\\s*(.+)$`, 'm').exec(listing)?.[1]?.trim();
  const tables = [...listing.matchAll(/^\d+; \d+ \d+ TABLE DATA (\S+) (\S+) \S+$/gm)].map(
    (m) => `${m[1]}.${m[2]}`,
  );
  const from = header('Dumped from database version');
  const by = header('Dumped by pg_dump version');
  return {
    toc: { dbname: header('dbname'), tocEntries: Number(header('TOC Entries') ?? 0), tables },
    // `15.18 (Debian 15.18-0+deb12u1)`: the version is the first word.
    dumpedFrom: from ? parseVersion(from.split(' ')[0] ?? from) : undefined,
    dumpedBy: by ? parseVersion(by.split(' ')[0] ?? by) : undefined,
  };
}
