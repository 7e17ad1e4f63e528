import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { NoBackupsError } from '../errors.ts';
import { requireReadable } from './access-error.ts';
import type { BackupCandidate, BackupLook, BackupSource, Discovery, PassedOver } from './backup-source.ts';
import { type BackupNaming, classifyName, describeNaming } from './naming.ts';

/** Backups in a directory, such as the mounted backup volume. */
export function directorySource(dir: string, naming: BackupNaming): BackupSource {
  const location = resolve(dir);
  return {
    location,
    discover: () => discoverDirectory(location, naming),
    look: (candidate) => lookAt(candidate),
    open: (candidate) => createReadStream(candidate.path),
  };
}

async function discoverDirectory(dir: string, naming: BackupNaming): Promise<Discovery> {
  const names = await listBackupDir(dir);
  const candidates: BackupCandidate[] = [];
  const ignored: PassedOver[] = [];
  const rejected: PassedOver[] = [];
  for (const name of names.sort()) {
    const verdict = classifyName(name, naming);
    if (verdict.kind === 'ignored') {
      ignored.push({ name, reason: verdict.reason });
      continue;
    }
    if (verdict.kind === 'rejected') {
      rejected.push({ name, reason: verdict.reason });
      continue;
    }
    const looked = await candidateFor(dir, name, verdict);
    if ('reason' in looked) rejected.push(looked);
    else candidates.push(looked);
  }
  // Newest first; on the same second prefer the compressed file (what the CronJob writes), then the name.
  candidates.sort(
    (a, b) =>
      b.takenAt.getTime() - a.takenAt.getTime() ||
      (a.compression === b.compression ? 0 : a.compression === 'gzip' ? -1 : 1) ||
      a.name.localeCompare(b.name),
  );
  if (candidates[0]) await requireReadable(candidates[0]);
  return { location: dir, candidates, ignored, rejected };
}

/** The names in the backup directory, or the error saying why it cannot be listed. */
async function listBackupDir(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'it does not exist'
        : code === 'EACCES'
          ? 'permission denied'
          : code === 'ENOTDIR'
            ? 'it is not a directory'
            : `it cannot be read (${code ?? String(error)})`;
    throw new NoBackupsError(
      dir,
      `Cannot list backup directory ${dir}: ${why}. Check --backups / DRILL_BACKUPS.`,
      {
        cause: error,
      },
    );
  }
}

/** A name that looks like a backup: the candidate it is, or why it is rejected after all. */
async function candidateFor(
  dir: string,
  name: string,
  verdict: Extract<ReturnType<typeof classifyName>, { kind: 'backup' }>,
): Promise<BackupCandidate | PassedOver> {
  const path = join(dir, name);
  // stat follows symlinks: a link to a backup is a backup.
  const info = await stat(path).catch((error: NodeJS.ErrnoException) => error);
  if (info instanceof Error) return { name, reason: `cannot be read: ${info.code ?? info.message}` };
  if (verdict.format === 'directory' ? !info.isDirectory() : !info.isFile()) {
    return { name, reason: verdict.format === 'directory' ? 'not a directory' : 'not a regular file' };
  }
  return {
    name,
    path,
    takenAt: verdict.takenAt,
    sizeBytes: verdict.format === 'directory' ? await directorySize(path) : info.size,
    format: verdict.format,
    compression: verdict.compression,
  };
}

/** The bytes a directory-format backup holds (its files, one level deep, as pg_dump writes them). */
async function directorySize(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir)) {
    const info = await stat(join(dir, name)).catch(() => undefined);
    if (info?.isFile()) total += info.size;
  }
  return total;
}

/** Size and mtime of a backup file, or of a directory-format backup's files together. */
async function lookAt(candidate: BackupCandidate): Promise<BackupLook> {
  const info = await stat(candidate.path);
  if (!info.isDirectory()) return { sizeBytes: info.size, mtimeMs: info.mtimeMs };
  let sizeBytes = 0;
  let mtimeMs = info.mtimeMs;
  for (const name of await readdir(candidate.path)) {
    const file = await stat(join(candidate.path, name)).catch(() => undefined);
    if (!file?.isFile()) continue;
    sizeBytes += file.size;
    mtimeMs = Math.max(mtimeMs, file.mtimeMs);
  }
  return { sizeBytes, mtimeMs };
}

/** Throws the "nothing to drill" error, saying what was looked for and where. */
export function requireCandidates(discovery: Discovery, naming: BackupNaming): BackupCandidate {
  const chosen = discovery.candidates[0];
  if (chosen) return chosen;
  const seen =
    discovery.ignored.length + discovery.rejected.length === 0
      ? 'the directory is empty'
      : `${discovery.ignored.length} file(s) ignored, ${discovery.rejected.length} rejected: ${[
          ...discovery.rejected,
          ...discovery.ignored,
        ]
          .slice(0, 5)
          .map((p) => `${p.name} (${p.reason})`)
          .join('; ')}`;
  throw new NoBackupsError(
    discovery.location,
    `No backup found in ${discovery.location}: looked for ${describeNaming(naming)}; ${seen}. Point --backups at the backup volume or set --backup-pattern.`,
  );
}
