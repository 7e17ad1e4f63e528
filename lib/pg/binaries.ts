import { execFile } from 'node:child_process';
import { access, constants, readdir, realpath } from 'node:fs/promises';
import { delimiter, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { ToolsNotFoundError } from '../errors.ts';
import { versionFromBanner } from '../exec/tool-output.ts';
import type { PgVersion } from './version.ts';

const run = promisify(execFile);

/** The programs a local throwaway cluster needs, all from one installation. */
export const LOCAL_TOOLS = ['initdb', 'postgres', 'psql', 'pg_dumpall', 'pg_restore'] as const;

/** Where distributions put versioned PostgreSQL installations (Debian/Ubuntu). */
export const DEFAULT_SEARCH_ROOTS = ['/usr/lib/postgresql'];

export interface BinDirSearch {
  /** `--pg-bindir`: used as given, nothing else is tried. */
  explicit?: string;
  /** The PATH to search for pg_config and initdb. */
  path: string;
  /** Directories holding one folder per major version with a `bin/` inside. */
  versionRoots: readonly string[];
  /** The programs the directory must hold (default LOCAL_TOOLS). */
  tools?: readonly string[];
  /**
   * The dump these binaries must take: only a directory of this major or newer is accepted (a dump
   * restores into the same or a newer major). Absent: the first directory found is taken.
   */
  dump?: { version: PgVersion; file: string };
}

export interface FoundBinDir {
  binDir: string;
  /** Every directory looked at, with how it was found and, when passed over, why. */
  tried: string[];
  /** The version its first tool reports (`initdb --version`), when it was asked. */
  version?: PgVersion;
  /** Why this one, for the log: which it took and what it passed over. */
  choice: string;
  /**
   * False when the dump is of a newer major than any directory here: the newest that runs is taken,
   * and the precheck refuses the dump naming both majors (the choice says so, and the fix).
   */
  fits: boolean;
}

/**
 * Finds a directory holding every tool of LOCAL_TOOLS: `--pg-bindir`, then PATH (`pg_config --bindir`,
 * then the directory `initdb` resolves to), then each major under the version roots, newest first.
 * With `dump`, a directory of an older major than the dump's is passed over (Debian keeps several
 * majors side by side in /usr/lib/postgresql/N), and when none fits, the error names the container fix.
 */
export async function findPgBinDir(search: BinDirSearch): Promise<FoundBinDir> {
  const probe = binDirProbe(search);
  if (search.explicit) return explicitBinDir(search, search.explicit, probe);
  const found = (await onPath(search, probe)) ?? (await underVersionRoots(search, probe));
  if (found) return found;
  const newestOlder = probe.newestOlder();
  if (newestOlder) return tooOld(search, probe.tried, newestOlder);
  const tools = probe.tools;
  const tried = probe.tried;
  const where = tried.length ? tried.join('; ') : ['PATH', ...search.versionRoots].join(', ');
  const searched = `no PostgreSQL binaries found (needed: ${tools.join(', ')}; tried: ${where})`;
  throw new ToolsNotFoundError(
    searched,
    `No${searched.slice(2)}. Install PostgreSQL (Debian: apt-get install postgresql), or pass --pg-bindir DIR, or use --target url for an existing scratch server.`,
  );
}

/** Looks at candidate directories one by one, remembering what it tried and the newest too-old one. */
interface BinDirProbe {
  tools: readonly string[];
  tried: string[];
  /** The directory found `how`, when it holds the tools (and, with a dump, fits it). */
  accept(dir: string | undefined, how: string): Promise<FoundBinDir | undefined>;
  newestOlder(): { dir: string; version: PgVersion } | undefined;
}

function binDirProbe(search: BinDirSearch): BinDirProbe {
  const tried: string[] = [];
  const tools = search.tools ?? LOCAL_TOOLS;
  const need = search.dump?.version.major;
  const seen = new Set<string>();
  let newestOlder: { dir: string; version: PgVersion } | undefined;
  const accept = async (dir: string | undefined, how: string): Promise<FoundBinDir | undefined> => {
    if (!dir || seen.has(dir)) return undefined;
    seen.add(dir);
    if (!(await hasTools(dir, tools))) {
      tried.push(`${dir} (${how})`);
      return undefined;
    }
    if (need === undefined) {
      tried.push(`${dir} (${how})`);
      return { binDir: dir, tried, choice: `PostgreSQL binaries: ${dir} (${how})`, fits: true };
    }
    const version = await binVersion(dir, tools[0] ?? 'initdb');
    if (!version.ok) {
      tried.push(`${dir} (${how}; does not run here: ${version.reason})`);
      return undefined;
    }
    if (version.version.major < need) {
      tried.push(`${dir} (${how}; PostgreSQL ${version.version.text}, older than the dump)`);
      if (!newestOlder || version.version.major > newestOlder.version.major)
        newestOlder = { dir, version: version.version };
      return undefined;
    }
    tried.push(`${dir} (${how}; PostgreSQL ${version.version.text})`);
    const passedOver = tried.slice(0, -1);
    return {
      binDir: dir,
      tried,
      version: version.version,
      choice: `PostgreSQL binaries: took ${dir} (PostgreSQL ${version.version.text}, ${how}) for a dump from PostgreSQL ${search.dump?.version.text}${passedOver.length ? `; passed over ${passedOver.join('; ')}` : ''}`,
      fits: true,
    };
  };
  return { tools, tried, accept, newestOlder: () => newestOlder };
}

/** `--pg-bindir`: used as given, nothing else is tried. */
async function explicitBinDir(
  search: BinDirSearch,
  explicit: string,
  probe: BinDirProbe,
): Promise<FoundBinDir> {
  const found = await probe.accept(explicit, '--pg-bindir');
  if (found) return found;
  const newestOlder = probe.newestOlder();
  if (newestOlder) return tooOld(search, probe.tried, newestOlder);
  const searched = `--pg-bindir ${explicit} does not hold all of ${probe.tools.join(', ')}`;
  throw new ToolsNotFoundError(
    searched,
    `${searched}. Point it at the bin directory of a PostgreSQL installation.`,
  );
}

/** PATH: `pg_config --bindir`, then the directory `initdb` resolves to. */
async function onPath(search: BinDirSearch, probe: BinDirProbe): Promise<FoundBinDir | undefined> {
  const pgConfig = await which('pg_config', search.path);
  if (pgConfig) {
    const out = await run(pgConfig, ['--bindir']).catch(() => undefined);
    const found = await probe.accept(out?.stdout.trim(), `pg_config --bindir of ${pgConfig}`);
    if (found) return found;
  }
  const initdb = await which('initdb', search.path);
  if (initdb) return probe.accept(dirname(await realpath(initdb)), `initdb on PATH`);
  return undefined;
}

/** Each major under the version roots, newest first. */
async function underVersionRoots(search: BinDirSearch, probe: BinDirProbe): Promise<FoundBinDir | undefined> {
  for (const root of search.versionRoots) {
    const versions = await readdir(root).catch(() => [] as string[]);
    versions.sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a));
    for (const version of versions) {
      const found = await probe.accept(join(root, version, 'bin'), `under ${root}`);
      if (found) return found;
    }
  }
  return undefined;
}

/**
 * No directory here can take the dump: the newest that runs is taken all the same, so the drill's
 * precheck refuses the dump as a FAIL with its report (naming both majors), and the log says why and
 * names the ways out.
 */
function tooOld(
  search: BinDirSearch,
  tried: string[],
  taken: { dir: string; version: PgVersion },
): FoundBinDir {
  const dump = search.dump as { version: PgVersion; file: string };
  const major = dump.version.major;
  return {
    binDir: taken.dir,
    tried,
    version: taken.version,
    fits: false,
    choice: `PostgreSQL binaries: no PostgreSQL ${major} (or newer) here for ${dump.file}, dumped by PostgreSQL ${dump.version.text} (tried: ${tried.join('; ')}); taking ${taken.dir} (PostgreSQL ${taken.version.text}), and the precheck will refuse the dump: a dump restores only into the same or a newer major. Use --target container --image postgres:${major} (the server and its tools come in the image), or install PostgreSQL ${major} here (Debian: apt-get install postgresql-${major}) and pass --pg-bindir /usr/lib/postgresql/${major}/bin.`,
  };
}

/** `TOOL --version` of a bin directory: its PostgreSQL version, or why it does not run here. */
export async function binVersion(
  dir: string,
  tool: string,
): Promise<{ ok: true; version: PgVersion } | { ok: false; reason: string }> {
  try {
    const { stdout } = await run(join(dir, tool), ['--version'], { timeout: 10_000 });
    const version = versionFromBanner(stdout);
    return version
      ? { ok: true, version }
      : { ok: false, reason: `${tool} --version said ${JSON.stringify(stdout.trim())}` };
  } catch (error) {
    const err = error as Error & { stderr?: string };
    return { ok: false, reason: (err.stderr?.trim() || err.message).split('\n')[0] ?? err.message };
  }
}

async function hasTools(dir: string, tools: readonly string[]): Promise<boolean> {
  for (const tool of tools) {
    if (!(await isExecutable(join(dir, tool)))) return false;
  }
  return true;
}

async function isExecutable(file: string): Promise<boolean> {
  return access(file, constants.X_OK).then(
    () => true,
    () => false,
  );
}

/** The first executable of that name on PATH. */
export async function which(name: string, path: string): Promise<string | undefined> {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const file = join(dir, name);
    if (await isExecutable(file)) return file;
  }
  return undefined;
}
