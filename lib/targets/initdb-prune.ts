import { readdir, readFile, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { MANIFEST, moveAway } from './initdb-cache.ts';
import { dropSpares } from './initdb-spare.ts';

/**
 * A template no run has used for this long is removed from the cache by the next run that uses another:
 * a key names the exact postgres binary (its version, size, mtime, inode), so every package update
 * leaves the old key's ~40 MB template behind for good otherwise.
 */
export const PRUNE_UNUSED_DAYS = 30;
const PRUNE_UNUSED_MS = PRUNE_UNUSED_DAYS * 24 * 60 * 60 * 1000;

/** Marks a template as used now: its manifest's mtime is when a run last took it. Never throws. */
export async function touchTemplate(template: string, now: Date): Promise<void> {
  await utimes(join(template, MANIFEST), now, now).catch(() => {});
}

/**
 * Removes the templates of other keys (and their spares) that no run used for PRUNE_UNUSED_DAYS.
 * Only a directory whose manifest is a template's (a `facts.format`) is ever removed: whatever else a
 * `--initdb-cache DIR` holds is not the drill's. Returns the names removed; never throws.
 */
export async function pruneTemplates(cacheDir: string, keep: string, now: Date): Promise<string[]> {
  const removed: string[] = [];
  const entries = await readdir(cacheDir).catch(() => [] as string[]);
  for (const name of entries) {
    if (name === keep || name.includes('.tmp-') || name.includes('.spare-')) continue;
    const template = join(cacheDir, name);
    const manifest = join(template, MANIFEST);
    const used = await stat(manifest).catch(() => undefined);
    if (!used || now.getTime() - used.mtimeMs <= PRUNE_UNUSED_MS) continue;
    if (!(await isTemplateManifest(manifest))) continue;
    await dropSpares(template).catch(() => {});
    await moveAway(template).catch(() => {});
    removed.push(name);
  }
  return removed;
}

async function isTemplateManifest(path: string): Promise<boolean> {
  try {
    const manifest = JSON.parse(await readFile(path, 'utf8')) as { facts?: { format?: unknown } };
    return typeof manifest.facts?.format === 'number';
  } catch {
    return false;
  }
}
