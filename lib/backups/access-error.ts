import { constants, type Stats } from 'node:fs';
import { access, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DrillError } from '../errors.ts';
import type { BackupCandidate } from './backup-source.ts';

/** Who the drill runs as: what a permission check is made against. */
export interface DrillIdentity {
  uid: number;
  gid: number;
  groups: readonly number[];
}

/**
 * The newest backup exists but the drill's user may not read it (EACCES): the backup job wrote it for
 * its own user only. Not the backup's fault, so exit 2 like every other environment problem.
 */
export class BackupAccessDeniedError extends DrillError {
  static override readonly code = 'DRILL_BACKUP_ACCESS_DENIED';
  override readonly exitCode = 2;
  readonly file: string;
  readonly owner: { uid: number; gid: number; mode: string };
  constructor(file: string, owner: { uid: number; gid: number; mode: string }, message: string) {
    super(message);
    this.file = file;
    this.owner = owner;
  }
}

/** The drill process's own identity (POSIX), for the message. */
export function processIdentity(): DrillIdentity {
  return {
    uid: process.getuid?.() ?? -1,
    gid: process.getgid?.() ?? -1,
    groups: process.getgroups?.() ?? [],
  };
}

/** `rw-r-----` of a mode. */
function symbolic(mode: number): string {
  const bits = 'rwxrwxrwx';
  return [...bits].map((ch, i) => ((mode >> (8 - i)) & 1 ? ch : '-')).join('');
}

/** The error for `file` (stat'ed as `info`) that `identity` cannot read: its owner, mode and the fix. */
export function accessDeniedError(
  file: string,
  info: Stats,
  identity: DrillIdentity,
): BackupAccessDeniedError {
  const mode = (info.mode & 0o777).toString(8).padStart(4, '0');
  const groupReads = (info.mode & (info.isDirectory() ? 0o050 : 0o040)) !== 0;
  const fix = groupReads
    ? `its group ${info.gid} may read it: add ${info.gid} to the drill pod's supplementalGroups`
    : `make the backup job write it group-readable (umask 027 before pg_dumpall, or chmod 0640 after it) and add its group ${info.gid} to the drill pod's supplementalGroups`;
  return new BackupAccessDeniedError(
    file,
    { uid: info.uid, gid: info.gid, mode },
    `${file} cannot be read by the drill (uid ${identity.uid}, gid ${identity.gid}, groups ${identity.groups.join(',') || 'none'}): permission denied; it is owned by uid ${info.uid}, gid ${info.gid}, mode ${mode} (${symbolic(info.mode)}). Fix: ${fix} (k8s/components/backup-access, docs/deploy.md "Reading the backups").`,
  );
}

/** Throws BackupAccessDeniedError when the drill may not read `path` (a directory: list and enter it). */
async function checkOne(path: string, mode: number, identity: DrillIdentity): Promise<void> {
  try {
    await access(path, mode);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EACCES') return;
    throw accessDeniedError(path, await stat(path), identity);
  }
}

/**
 * Proves the drill's user may read the chosen backup before any work, naming the owner, mode and fix when
 * it may not. A directory-format backup: the directory and each of its files. Other errors (the file
 * vanished) are left to the steps that read it.
 */
export async function requireReadable(
  candidate: BackupCandidate,
  identity: DrillIdentity = processIdentity(),
): Promise<void> {
  if (candidate.format !== 'directory') return checkOne(candidate.path, constants.R_OK, identity);
  await checkOne(candidate.path, constants.R_OK | constants.X_OK, identity);
  for (const entry of await readdir(candidate.path, { withFileTypes: true })) {
    if (entry.isFile()) await checkOne(join(candidate.path, entry.name), constants.R_OK, identity);
  }
}
