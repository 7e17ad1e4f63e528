import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../errors.ts';
import { markOwned } from '../exec/owned-dirs.ts';

/**
 * The run's own temp directory, in --temp-dir (else the system's). A --temp-dir that is not there, is
 * a file, or may not be written is the operator's setting to fix: said as such (exit 2), before any
 * server starts.
 */
export async function makeRunDir(tempDir: string | undefined): Promise<string> {
  const dir = await mkdtemp(join(tempDir ?? tmpdir(), 'pg-restore-drill-run-')).catch(
    (error: NodeJS.ErrnoException) => {
      const why = WHY[error.code ?? ''];
      if (tempDir === undefined || !why) throw error;
      throw new ConfigError(
        'temp-dir',
        `--temp-dir / DRILL_TEMP_DIR ${tempDir}: ${why}: give an existing directory the drill can write, on a file system with room for the restored cluster.`,
        { cause: error },
      );
    },
  );
  await markOwned(dir);
  return dir;
}

const WHY: Record<string, string> = {
  ENOENT: 'no such directory',
  ENOTDIR: 'not a directory',
  EACCES: 'the drill may not write there',
  EROFS: 'the drill may not write there',
};
