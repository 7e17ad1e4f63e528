import { execFile } from 'node:child_process';
import { access, constants, readdir, realpath } from 'node:fs/promises';
import { delimiter, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { ToolsNotFoundError } from '../errors.ts';

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
}

/**
 * Finds a directory holding every tool of LOCAL_TOOLS: `--pg-bindir`, then PATH (`pg_config --bindir`,
 * then the directory `initdb` resolves to), then the newest major under the version roots.
 */
export async function findPgBinDir(search: BinDirSearch): Promise<{ binDir: string; tried: string[] }> {
  const tried: string[] = [];
  const tools = search.tools ?? LOCAL_TOOLS;
  const accept = async (dir: string | undefined, how: string) => {
    if (!dir) return undefined;
    tried.push(`${dir} (${how})`);
    return (await hasTools(dir, tools)) ? dir : undefined;
  };
  if (search.explicit) {
    const found = await accept(search.explicit, '--pg-bindir');
    if (found) return { binDir: found, tried };
    const searched = `--pg-bindir ${search.explicit} does not hold all of ${tools.join(', ')}`;
    throw new ToolsNotFoundError(
      searched,
      `${searched}. Point it at the bin directory of a PostgreSQL installation.`,
    );
  }
  const pgConfig = await which('pg_config', search.path);
  if (pgConfig) {
    const out = await run(pgConfig, ['--bindir']).catch(() => undefined);
    const found = await accept(out?.stdout.trim(), `pg_config --bindir of ${pgConfig}`);
    if (found) return { binDir: found, tried };
  }
  const initdb = await which('initdb', search.path);
  if (initdb) {
    const found = await accept(dirname(await realpath(initdb)), `initdb on PATH`);
    if (found) return { binDir: found, tried };
  }
  for (const root of search.versionRoots) {
    const versions = await readdir(root).catch(() => [] as string[]);
    versions.sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a));
    for (const version of versions) {
      const found = await accept(join(root, version, 'bin'), `under ${root}`);
      if (found) return { binDir: found, tried };
    }
  }
  const where = tried.length ? tried.join('; ') : ['PATH', ...search.versionRoots].join(', ');
  const searched = `no PostgreSQL binaries found (needed: ${tools.join(', ')}; tried: ${where})`;
  throw new ToolsNotFoundError(
    searched,
    `No${searched.slice(2)}. Install PostgreSQL (Debian: apt-get install postgresql), or pass --pg-bindir DIR, or use --target url for an existing scratch server.`,
  );
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
