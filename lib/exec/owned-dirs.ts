import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';

/**
 * The mark a drill leaves in each temp directory it makes (its run directory, the throwaway cluster's,
 * a template's copy): its pid and host. A drill killed outright (SIGKILL, OOM) cleans up nothing; the
 * next drill on the host removes what the mark proves is a dead drill's, and nothing else.
 */
const MARK = '.pg-restore-drill-owner';
/** The names drills give their temp directories (the tests' initdb cache has no mark and stays). */
const PREFIX = 'pg-restore-drill-';

/** Marks `dir` as this process's (on this host). */
export async function markOwned(dir: string): Promise<void> {
  await writeFile(join(dir, MARK), `${process.pid} ${hostname()}\n`, { mode: 0o644 });
}

/** Is `pid` a live process here? EPERM: alive, someone else's. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes, in each of `roots`, the marked directories of drills that are gone: the mark names this host
 * and a pid no process has. A directory without a mark, of another host (a --temp-dir on a shared
 * volume), or of a live drill is left alone. Returns what it removed; never throws.
 */
export async function sweepDeadDrills(roots: readonly string[]): Promise<string[]> {
  const removed: string[] = [];
  const host = hostname();
  for (const root of new Set(roots)) {
    const entries = await readdir(root).catch(() => [] as string[]);
    for (const entry of entries.filter((e) => e.startsWith(PREFIX))) {
      const dir = join(root, entry);
      const mark = await readFile(join(dir, MARK), 'utf8').catch(() => undefined);
      const [pid, markHost] = (mark ?? '').trim().split(' ');
      const owner = Number(pid);
      if (!Number.isSafeInteger(owner) || owner <= 0 || markHost !== host || alive(owner)) continue;
      const gone = await rm(dir, { recursive: true, force: true }).then(
        () => true,
        () => false,
      );
      if (gone) removed.push(dir);
    }
  }
  return removed;
}
