import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { lstatSync, readdirSync } from 'node:fs';
import { lstat, mkdir, readdir, readFile, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * Bumped whenever what a template holds, or how it is checked, changes: a template of another format
 * has another key, so it is never used (and a stale one is never mistaken for a current one).
 */
export const INITDB_CACHE_FORMAT = 1;

/** Written into a template's directory last, before the rename that publishes it. */
export const MANIFEST = 'template.json';

/** Fillers that died leave `<key>.tmp-*` behind; one older than this is removed by the next filler. */
const STALE_MS = 60 * 60 * 1000;

/**
 * The default cache: `$XDG_CACHE_HOME/pg-restore-drill/initdb`, else `~/.cache/pg-restore-drill/initdb`;
 * undefined when neither variable gives an absolute directory (a pod without HOME).
 */
export function defaultInitdbCacheDir(env: NodeJS.ProcessEnv): string | undefined {
  const xdg = env.XDG_CACHE_HOME;
  if (xdg && isAbsolute(xdg)) return join(xdg, 'pg-restore-drill', 'initdb');
  const home = env.HOME;
  if (home && isAbsolute(home)) return join(home, '.cache', 'pg-restore-drill', 'initdb');
  return undefined;
}

/** What a template was made from: any difference is another template. */
export interface TemplateFacts {
  format: number;
  /** realpath of the bin directory. */
  binDir: string;
  /** `postgres -V`. */
  version: string;
  /** The postgres binary's size, mtime and inode: a reinstalled or rebuilt server is another template. */
  binary: { size: number; mtimeMs: number; ino: number };
  /** initdb's arguments, but for its -D. */
  initdbArgs: readonly string[];
  /** Who owns the files (the server's user): uid:gid. */
  owner: string;
}

export interface TemplateKey {
  /** `<version>-<hash of the facts>`: the template's directory name in the cache. */
  name: string;
  facts: TemplateFacts;
}

/** The key of the template that `initdb initdbArgs` of `binDir` makes, its files owned by `owner`. */
export async function templateKey(
  binDir: string,
  initdbArgs: readonly string[],
  owner: { uid: number; gid: number },
): Promise<TemplateKey> {
  const real = await realpath(binDir);
  const postgres = join(real, 'postgres');
  const [banner, binary] = await Promise.all([run(postgres, ['-V'], { timeout: 10_000 }), stat(postgres)]);
  const version = banner.stdout.trim();
  const facts: TemplateFacts = {
    format: INITDB_CACHE_FORMAT,
    binDir: real,
    version,
    binary: { size: binary.size, mtimeMs: binary.mtimeMs, ino: binary.ino },
    initdbArgs: [...initdbArgs],
    owner: `${owner.uid}:${owner.gid}`,
  };
  const hash = createHash('sha256').update(JSON.stringify(facts)).digest('hex').slice(0, 24);
  return { name: `${/\d+(?:\.\d+)+/.exec(version)?.[0] ?? 'postgres'}-${hash}`, facts };
}

/** The files of a directory tree: how many, their bytes, and a digest of every path, size and mode. */
export interface Census {
  files: number;
  bytes: number;
  digest: string;
}

/**
 * Counts a data directory's files (and directories) and digests their paths, sizes and modes. Walked
 * with the synchronous calls on purpose: about 1000 entries in 10 ms, where the promise API takes 25-50.
 */
export function census(dir: string): Census {
  const lines: string[] = [];
  let bytes = 0;
  const walk = (rel: string): void => {
    for (const entry of readdirSync(join(dir, rel), { withFileTypes: true })) {
      const path = rel ? `${rel}/${entry.name}` : entry.name;
      const info = lstatSync(join(dir, path));
      lines.push(`${path}\t${info.isDirectory() ? 'd' : info.size}\t${(info.mode & 0o7777).toString(8)}`);
      if (info.isDirectory()) walk(path);
      else bytes += info.size;
    }
  };
  walk('');
  lines.sort();
  const digest = createHash('sha256').update(lines.join('\n')).digest('hex');
  return { files: lines.length, bytes, digest };
}

export type TemplateLookup =
  | { kind: 'copied'; template: string }
  /** No template of this key yet. */
  | { kind: 'absent'; template: string }
  /** A template that is there but must not be used (half-written, another format, unreadable). */
  | { kind: 'unusable'; template: string; reason: string }
  /** A whole template whose copy failed here (a signal, a full disk): left as it is, not replaced. */
  | { kind: 'copy-failed'; template: string; reason: string };

/** A whole template of `key`: its path and the census its manifest holds; else why there is none. */
export type TemplateFound =
  | { kind: 'found'; template: string; census: Census }
  | Extract<TemplateLookup, { kind: 'absent' | 'unusable' }>;

/**
 * Reads the template's manifest: only a template published by a complete fill, naming this key, is
 * found. Its files are compared with the census when they are copied (copyTemplate, takeSpare).
 */
export async function readTemplate(cacheDir: string, key: TemplateKey): Promise<TemplateFound> {
  const template = join(cacheDir, key.name);
  let manifest: { facts?: unknown; census?: Census };
  try {
    manifest = JSON.parse(await readFile(join(template, MANIFEST), 'utf8'));
  } catch (error) {
    // Nothing at all there (no cache yet, or a path that cannot hold one): absent, not unusable.
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR') return { kind: 'absent', template };
    const there =
      code === 'ENOENT'
        ? await stat(template).then(
            () => true,
            () => false,
          )
        : true;
    if (!there) return { kind: 'absent', template };
    return { kind: 'unusable', template, reason: `its ${MANIFEST} cannot be read (${errorText(error)})` };
  }
  if (JSON.stringify(manifest.facts) !== JSON.stringify(key.facts) || !manifest.census) {
    return { kind: 'unusable', template, reason: `its ${MANIFEST} names other binaries or another format` };
  }
  return { kind: 'found', template, census: manifest.census };
}

/** Whether the data directory holds exactly what the manifest counted; else why not. */
export function censusMismatch(dataDir: string, expected: Census): string | undefined {
  const copied = census(dataDir);
  if (copied.digest === expected.digest) return undefined;
  return `it holds ${copied.files} entries of ${copied.bytes} bytes where its ${MANIFEST} counted ${expected.files} of ${expected.bytes} (half-written or changed)`;
}

/**
 * Copies a found template to `dataDir` (which must not exist), modes and ownership preserved (`cp -a`);
 * the copy must hold exactly the files the manifest counted. A copy that does not is removed again.
 */
export async function copyTemplate(
  found: Extract<TemplateFound, { kind: 'found' }>,
  dataDir: string,
): Promise<TemplateLookup> {
  const { template } = found;
  try {
    await run('cp', ['-a', '--', join(template, 'data'), dataDir]);
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true });
    return { kind: 'copy-failed', template, reason: `cp -a failed (${errorText(error)})` };
  }
  const mismatch = censusMismatch(dataDir, found.census);
  if (mismatch) {
    await rm(dataDir, { recursive: true, force: true });
    return { kind: 'unusable', template, reason: mismatch };
  }
  return { kind: 'copied', template };
}

export type FillResult =
  | { filled: true; template: string }
  | { filled: false; template: string; reason: string };

/**
 * Publishes a copy of the freshly made, never started `dataDir` as the template of `key`: copied into
 * `<key>.tmp-<random>` with its manifest, then renamed to `<key>` (atomic). A filler that loses the race
 * to another removes its copy. `replace` first moves an unusable template of this key out of the way.
 * Throws when the cache directory cannot be made or written (the caller runs on without the cache), or
 * when `signal` stops the copy (its half is removed).
 */
export async function fillTemplate(
  cacheDir: string,
  key: TemplateKey,
  dataDir: string,
  replace: boolean,
  signal?: AbortSignal,
): Promise<FillResult> {
  const template = join(cacheDir, key.name);
  await makeDirs(cacheDir);
  await removeStale(cacheDir, key.name);
  const tmp = join(cacheDir, `${key.name}.tmp-${randomBytes(6).toString('hex')}`);
  try {
    await mkdir(tmp, { mode: 0o700 });
    await run('cp', ['-a', '--', dataDir, join(tmp, 'data')], { signal });
    const counted = census(join(tmp, 'data'));
    const manifest = { facts: key.facts, census: counted, filledAt: new Date().toISOString() };
    await writeFile(join(tmp, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
    if (replace) await moveAway(template);
    await rename(tmp, template);
    return { filled: true, template };
  } catch (error) {
    await rm(tmp, { recursive: true, force: true });
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOTEMPTY' || code === 'EEXIST') {
      return { filled: false, template, reason: 'another run filled it first' };
    }
    throw error;
  }
}

/**
 * `mkdir -p`, mode 0700, one level at a time: node's recursive mkdir says ENOENT where a level cannot
 * be made (a read-only file system, EROFS), and the log line must say the real reason.
 */
async function makeDirs(dir: string): Promise<void> {
  const parent = dirname(dir);
  if (
    parent !== dir &&
    !(await stat(parent).then(
      (s) => s.isDirectory(),
      () => false,
    ))
  )
    await makeDirs(parent);
  await mkdir(dir, { mode: 0o700 }).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EEXIST') throw error;
  });
}

/** Renames an unusable template aside, then removes it: never half-removed under its own name. */
export async function moveAway(template: string): Promise<void> {
  const aside = `${template}.tmp-${randomBytes(6).toString('hex')}-unusable`;
  const moved = await rename(template, aside).then(
    () => true,
    () => false,
  );
  if (moved) await rm(aside, { recursive: true, force: true });
}

/** Removes the copies of fillers (and spare makers) of this key that died mid-way (older than STALE_MS). */
export async function removeStale(cacheDir: string, name: string): Promise<void> {
  const entries = await readdir(cacheDir).catch(() => [] as string[]);
  for (const entry of entries) {
    if (!entry.startsWith(`${name}.tmp-`)) continue;
    const path = join(cacheDir, entry);
    const info = await lstat(path).catch(() => undefined);
    if (info && Date.now() - info.mtimeMs > STALE_MS) await rm(path, { recursive: true, force: true });
  }
}

export function errorText(error: unknown): string {
  const err = error as NodeJS.ErrnoException & { stderr?: string };
  return (err.stderr?.trim() || err.message).split('\n')[0] ?? String(error);
}

/**
 * Whether two paths are on one file system (so that a rename moves a directory from one to the other),
 * each judged by its nearest existing ancestor when it is not made yet; undefined when either cannot be
 * told. Each caller says what unknown means for it.
 */
export async function sameFileSystem(a: string, b: string): Promise<boolean | undefined> {
  const [one, other] = await Promise.all([deviceOf(a), deviceOf(b)]);
  return one === undefined || other === undefined ? undefined : one === other;
}

async function deviceOf(path: string): Promise<number | undefined> {
  for (let at = path; ; at = dirname(at)) {
    const info = await stat(at).catch(() => undefined);
    if (info) return info.dev;
    if (dirname(at) === at) return undefined;
  }
}
