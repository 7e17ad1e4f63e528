import { readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';

/**
 * The mark a drill leaves in each temp directory it makes (its run directory, the throwaway cluster's,
 * a template's copy): its pid, host, pid namespace and the process's start time. A drill killed
 * outright (SIGKILL, OOM) cleans up nothing; the next drill on the host removes what the mark proves is
 * a dead drill's, and nothing else.
 */
const MARK = '.pg-restore-drill-owner';
/** The names drills give their temp directories (the tests' initdb cache has no mark and stays). */
const PREFIX = 'pg-restore-drill-';

/**
 * The pid namespace (`pid:[inode]`) and a process's start time (clock ticks since boot, /proc's field
 * 22): a pid means one process only within its namespace, and only while the process that had it lives.
 * Empty where /proc is not there (not Linux): the pid alone then.
 */
async function pidNamespace(): Promise<string> {
  return readlink('/proc/self/ns/pid').catch(() => '');
}

async function startTime(pid: number): Promise<string> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  // After the command's closing parenthesis (a command may hold spaces): state is field 3, start 22.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
}

/** Marks `dir` as this process's. */
export async function markOwned(dir: string): Promise<void> {
  const fields = [process.pid, hostname(), await pidNamespace(), await startTime(process.pid)];
  await writeFile(join(dir, MARK), `${fields.map((f) => String(f) || '-').join(' ')}\n`, { mode: 0o644 });
}

/** Takes the mark away: `dir` outlives its drill on purpose (--keep) and is never a dead drill's. */
export async function unmarkOwned(dir: string): Promise<void> {
  await rm(join(dir, MARK), { force: true });
}

/** Is the process of the mark alive: its pid taken (EPERM: someone else's) by the process it names? */
async function ownerAlive(pid: number, started: string): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  // The pid is taken: by the drill, unless its start time says another process has it since.
  return started === '-' || (await startTime(pid)) === started;
}

/**
 * Removes, in each of `roots`, the marked directories of drills that are gone: the mark names this host
 * and this pid namespace, and no process of that pid and start time lives. A directory without a mark,
 * of another host or pid namespace (a --temp-dir or /dev/shm shared with a container), of a live drill,
 * or kept on purpose (--keep takes its mark away) is left alone. Returns what it removed; never throws.
 */
export async function sweepDeadDrills(roots: readonly string[]): Promise<string[]> {
  const removed: string[] = [];
  const here = { host: hostname(), namespace: (await pidNamespace()) || '-' };
  for (const root of new Set(roots)) {
    const entries = await readdir(root).catch(() => [] as string[]);
    for (const entry of entries.filter((e) => e.startsWith(PREFIX))) {
      const dir = join(root, entry);
      const mark = await readFile(join(dir, MARK), 'utf8').catch(() => '');
      const [pid, host, namespace = '-', started = '-'] = mark.trim().split(' ');
      const owner = Number(pid);
      if (!Number.isSafeInteger(owner) || owner <= 0) continue;
      if (host !== here.host || namespace !== here.namespace || (await ownerAlive(owner, started))) continue;
      const gone = await rm(dir, { recursive: true, force: true }).then(
        () => true,
        () => false,
      );
      if (gone) removed.push(dir);
    }
  }
  return removed;
}
