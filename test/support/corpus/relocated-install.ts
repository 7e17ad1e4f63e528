import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

// A copy of the machine's PostgreSQL installation that has one extension more than the machine: the
// source cluster of the "extension the target lacks" case runs from it, the drill's target from the
// original. PostgreSQL finds share/ relative to its bin/ (the relative path between the configured
// bindir and sharedir, applied to the running binary's real location), so a copy of both trees that
// keeps their relative layout is a relocatable install; `pg_config --sharedir` of the copy proves it.

/** A SQL-only extension: a control file and one `--1.0.sql` script. */
export interface SqlExtension {
  name: string;
  /** The body of `NAME--1.0.sql`. */
  script: string;
}

export interface RelocatedInstall {
  /** The copy's bin directory: start a cluster with these binaries to have the extension. */
  binDir: string;
  shareDir: string;
  remove(): Promise<void>;
}

async function pgConfig(binDir: string, flag: string): Promise<string> {
  return (await execFileAsync(join(binDir, 'pg_config'), [flag])).stdout.trim();
}

/** The longest common directory of two absolute paths. */
function commonDir(a: string, b: string): string {
  const x = a.split(sep);
  const y = b.split(sep);
  let i = 0;
  while (i < x.length && x[i] === y[i]) i++;
  return x.slice(0, i).join(sep) || sep;
}

/**
 * Copies the installation of `binDir` (its parent, e.g. /usr/lib/postgresql/15, and its sharedir, e.g.
 * /usr/share/postgresql/15) under a fresh directory in `parent`, adds the extensions, and checks the
 * copy resolves its own share directory. Readable by the `postgres` OS user (the server runs as it).
 */
export async function relocatedInstall(
  binDir: string,
  parent: string,
  extensions: SqlExtension[],
): Promise<RelocatedInstall> {
  const shareDir = await pgConfig(binDir, '--sharedir');
  const installDir = dirname(binDir);
  const prefix = commonDir(installDir, shareDir);
  const root = await mkdtemp(join(parent, 'pg-install-'));
  const remove = () => rm(root, { recursive: true, force: true });
  try {
    await chmod(root, 0o755);
    const copy = (from: string) => {
      const to = join(root, relative(prefix, from));
      return mkdir(dirname(to), { recursive: true }).then(() => execFileAsync('cp', ['-a', from, to]));
    };
    await copy(installDir);
    await copy(shareDir);
    const copyBin = join(root, relative(prefix, binDir));
    const copyShare = join(root, relative(prefix, shareDir));
    const resolved = await pgConfig(copyBin, '--sharedir');
    if (resolved !== copyShare) {
      throw new Error(
        `the copied PostgreSQL in ${root} resolves its share directory to ${resolved}, not ${copyShare}: this installation is not relocatable`,
      );
    }
    for (const extension of extensions) {
      const dir = join(copyShare, 'extension');
      await writeFile(
        join(dir, `${extension.name}.control`),
        `comment = 'corpus: an extension only the source has'\ndefault_version = '1.0'\nrelocatable = true\n`,
      );
      await writeFile(join(dir, `${extension.name}--1.0.sql`), extension.script);
    }
    return { binDir: copyBin, shareDir: copyShare, remove };
  } catch (error) {
    await remove();
    throw error;
  }
}
