import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/**
 * Runs `work` on a tmpfs mounted at `dir` (made if missing) with mount options `options` (`size=…`,
 * `mode=…`, `ro`), then unmounts it (lazily: a process of the test that still holds a file there must
 * not fail the test's cleanup). A file system of the test's own: a full disk, a read-only one, or
 * simply another device than the test's temp directory. Needs root, as the tests run in CI.
 */
export async function onTmpfs<T>(
  dir: string,
  options: string,
  work: (dir: string) => Promise<T>,
): Promise<T> {
  await mkdir(dir, { recursive: true });
  await execFileAsync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir]);
  try {
    return await work(dir);
  } finally {
    await execFileAsync('umount', ['-l', dir]);
  }
}
