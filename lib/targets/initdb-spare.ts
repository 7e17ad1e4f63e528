import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir, rename, rm } from 'node:fs/promises';
import { setPriority } from 'node:os';
import { basename, dirname, join } from 'node:path';
import {
  type Census,
  censusMismatch,
  removeStale,
  sameFileSystem,
  type TemplateFound,
  type TemplateKey,
} from './initdb-cache.ts';

/** Lowest priority: the spare is made from the CPU this run leaves idle, not from its own start. */
const SPARE_NICE = 19;

/**
 * Spares (as ephemeralpg's pg_tmp keeps a cluster ready for the next call): while a run drills, a copy
 * of the template is made beside it, `<key>.spare-<random>`, for the next run to take with one rename
 * instead of copying ~1000 files on its own critical path. A spare is a copy of the template, never
 * started, and is checked against the template's manifest when taken, as a copy is.
 */
const SPARE = '.spare-';

/**
 * Removes the spares of a template that is being set aside: they are copies of the same bytes, and a
 * later template of the same key (same sizes) would take one as its own.
 */
export async function dropSpares(template: string): Promise<void> {
  const cacheDir = dirname(template);
  const prefix = `${basename(template)}${SPARE}`;
  const entries = await readdir(cacheDir).catch(() => [] as string[]);
  for (const entry of entries.filter((e) => e.startsWith(prefix)))
    await rm(join(cacheDir, entry), { recursive: true, force: true });
}

/**
 * Moves a spare of `key` to `dataDir` (an atomic claim: a run that loses it to another tries the next
 * one) and checks it against the manifest. False when there is none (or none whole: that one is removed).
 */
export async function takeSpare(
  cacheDir: string,
  key: TemplateKey,
  dataDir: string,
  expected: Census,
): Promise<boolean> {
  const entries = await readdir(cacheDir).catch(() => [] as string[]);
  for (const entry of entries.filter((e) => e.startsWith(`${key.name}${SPARE}`))) {
    const taken = await rename(join(cacheDir, entry), dataDir).then(
      () => true,
      () => false,
    );
    if (!taken) continue;
    if (censusMismatch(dataDir, expected) === undefined) return true;
    await rm(dataDir, { recursive: true, force: true });
  }
  return false;
}

/**
 * Makes one spare of the template for the next run, unless one is there already or the cache is on
 * another file system than the runs' temp directories (a rename could not move it). Never throws: a
 * spare that cannot be made only means the next run copies the template itself. `signal` abandons it
 * (the run is stopping and the copy, at the lowest priority, is not done: it is not waited for).
 */
export async function makeSpare(
  cacheDir: string,
  key: TemplateKey,
  found: Extract<TemplateFound, { kind: 'found' }>,
  runDir: string,
  signal: AbortSignal,
): Promise<void> {
  const tmp = join(cacheDir, `${key.name}.tmp-${randomBytes(6).toString('hex')}`);
  try {
    // A spare maker killed mid-copy (SIGKILL, a second signal) left its copy: gone after an hour.
    await removeStale(cacheDir, key.name);
    const entries = await readdir(cacheDir);
    if (entries.some((e) => e.startsWith(`${key.name}${SPARE}`))) return;
    // Unknown counts as another: a spare the next run could not rename into its own directory would
    // stay in the cache for good, and keep any other from being made.
    if ((await sameFileSystem(cacheDir, dirname(runDir))) !== true) return;
    await idleCopy(join(found.template, 'data'), tmp, signal);
    await rename(tmp, join(cacheDir, `${key.name}${SPARE}${randomBytes(6).toString('hex')}`));
  } catch {
    await rm(tmp, { recursive: true, force: true }).catch(() => {});
  }
}

/**
 * `cp -a` at the lowest CPU priority: while the run starts, its server, seed and dump and the drill's
 * own loading use both cores, and a copy beside them at normal priority would slow them down.
 */
function idleCopy(from: string, to: string, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile('cp', ['-a', '--', from, to], { signal }, (error) =>
      error ? reject(error) : resolve(),
    );
    if (child.pid !== undefined) {
      try {
        setPriority(child.pid, SPARE_NICE);
      } catch {
        // Already gone, or not ours to renice: the copy runs as it is.
      }
    }
  });
}
