import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

// What a drill left on the file system: snapshots of directories before and after (paths, types,
// modes, owners, sizes, mtimes) and their differences, to show that nothing outside the drill's own
// temp dir was created or changed.

export interface FsEntry {
  type: 'dir' | 'file' | 'link' | 'other' | 'absent';
  mode: number;
  uid: number;
  size: number;
  mtimeMs: number;
}

export type FsSnapshot = Map<string, FsEntry>;

const ABSENT: FsEntry = { type: 'absent', mode: 0, uid: -1, size: 0, mtimeMs: 0 };

/**
 * The entry at `path` and below it, `depth` levels down (0: the path itself, 1: with its children,
 * Infinity: the whole tree). A missing path is recorded as absent; entries that vanish while being
 * read (another process's temp files) are skipped. `rootMtime: false` leaves out the mtime of `path`
 * itself: a directory the drill may work in (its --temp-dir) changes mtime when the drill's own
 * subdirectory comes and goes; what it holds afterwards still counts.
 */
export async function snapshot(
  path: string,
  depth = Number.POSITIVE_INFINITY,
  options: { rootMtime?: boolean } = {},
): Promise<FsSnapshot> {
  const out: FsSnapshot = new Map();
  const visit = async (at: string, left: number): Promise<void> => {
    const stat = await lstat(at).catch(() => undefined);
    if (!stat) {
      if (at === path) out.set(at, ABSENT);
      return;
    }
    const type = stat.isDirectory()
      ? 'dir'
      : stat.isFile()
        ? 'file'
        : stat.isSymbolicLink()
          ? 'link'
          : 'other';
    out.set(at, {
      type,
      mode: stat.mode & 0o7777,
      uid: stat.uid,
      size: type === 'dir' ? 0 : stat.size,
      mtimeMs: stat.mtimeMs,
    });
    if (type !== 'dir' || left <= 0) return;
    const names = await readdir(at).catch(() => [] as string[]);
    for (const name of names.sort()) await visit(join(at, name), left - 1);
  };
  await visit(path, depth);
  const top = out.get(path);
  if (top && options.rootMtime === false) out.set(path, { ...top, mtimeMs: 0 });
  return out;
}

function describe(entry: FsEntry): string {
  return entry.type === 'absent'
    ? 'absent'
    : `${entry.type} ${entry.mode.toString(8)} uid ${entry.uid} ${entry.size} B mtime ${new Date(entry.mtimeMs).toISOString()}`;
}

/** Every difference between two snapshots, one line each: `+ path (…)`, `- path (…)`, `~ path: before → after`. */
export function diffSnapshots(before: FsSnapshot, after: FsSnapshot): string[] {
  const lines: string[] = [];
  for (const [path, entry] of after) {
    const was = before.get(path);
    if (!was) lines.push(`+ ${path} (${describe(entry)})`);
    else if (describe(was) !== describe(entry))
      lines.push(`~ ${path}: ${describe(was)} → ${describe(entry)}`);
  }
  for (const [path, entry] of before) if (!after.has(path)) lines.push(`- ${path} (${describe(entry)})`);
  return lines.sort();
}

/**
 * In a directory shared with other processes (/tmp), the footprint a misplaced tablespace leaves:
 * an entry that existed before and was chmodded to 0700 (CREATE TABLESPACE takes its LOCATION over
 * that way), or a new entry holding a `PG_<major>_<catversion>` directory (a tablespace's own
 * subdirectory). Other processes' ordinary comings and goings are not counted.
 */
export async function tablespaceFootprints(before: FsSnapshot, after: FsSnapshot): Promise<string[]> {
  const found: string[] = [];
  for (const [path, entry] of after) {
    const was = before.get(path);
    if (was && was.type !== 'absent' && was.mode !== entry.mode && entry.mode === 0o700) {
      found.push(`~ ${path}: mode ${was.mode.toString(8)} → 700`);
    }
    if (!was && entry.type === 'dir') {
      const names = await readdir(path).catch(() => [] as string[]);
      const tablespace = names.find((name) => /^PG_\d+_\d+$/.test(name));
      if (tablespace) found.push(`+ ${path} holding ${tablespace}`);
    }
  }
  return found;
}
