import { randomBytes } from 'node:crypto';
import { mkdir, open, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ConfigError } from '../errors.ts';

/** Why a path cannot be written, in words, from the error's code. */
function why(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EROFS':
      return 'the file system is read-only';
    case 'ENOTDIR':
      return 'a part of the path is a file, not a directory';
    case 'EEXIST':
      return 'it exists and is not a directory';
    case 'EISDIR':
      return 'it is a directory';
    case 'ENOSPC':
      return 'no space left on the device';
    default:
      return error.code ?? error.message;
  }
}

/** Creates the directory (and its parents) and a probe file in it, then removes the probe. */
async function probeDirectory(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const info = await stat(dir);
  if (!info.isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'EEXIST' });
  const probe = join(dir, `.pg-restore-drill-probe-${process.pid}-${randomBytes(4).toString('hex')}`);
  await (await open(probe, 'wx')).close();
  await rm(probe, { force: true });
}

/** Opens the file for appending (never truncating what is there); a file it had to create goes again. */
async function probeFile(file: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const existed = await stat(file).then(
    () => true,
    () => false,
  );
  await (await open(file, 'a')).close();
  if (!existed) await rm(file, { force: true });
}

/**
 * The report directory and the JUnit file must be writable before anything starts: a drill that
 * restores for an hour and then cannot write its verdict has told nobody anything. Throws a ConfigError
 * (exit 2) naming the setting, the path and why.
 */
export async function checkOutputPaths(paths: {
  reportDir: string;
  junit: string | undefined;
}): Promise<void> {
  try {
    await probeDirectory(paths.reportDir);
  } catch (error) {
    throw new ConfigError(
      'report-dir',
      `Cannot write the report to --report-dir / DRILL_REPORT_DIR ${paths.reportDir}: ${why(error as NodeJS.ErrnoException)}. Point it at a writable directory.`,
    );
  }
  if (paths.junit === undefined) return;
  try {
    await probeFile(paths.junit);
  } catch (error) {
    throw new ConfigError(
      'junit',
      `Cannot write the JUnit report to --junit / DRILL_JUNIT ${paths.junit}: ${why(error as NodeJS.ErrnoException)}. Point it at a writable file path.`,
    );
  }
}
