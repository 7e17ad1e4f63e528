import { lstat, realpath } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Why the initdb cache at `dir` must not be used, or undefined when it may. A template found there is
 * started as a server that holds the restored data, with trust on its socket: whoever can write one
 * could plant a pg_hba.conf or a setting that runs code. So, as ssh's StrictModes has it for its keys,
 * the cache must be a real directory of this user that no one else may write, in directories where no
 * one else can replace it (each owned by this user or root, and not writable by others unless sticky,
 * as /tmp). A cache not made yet is judged by the directories it would be made in.
 */
export async function cacheDistrust(dir: string, euid: number): Promise<string | undefined> {
  const own = await lstat(dir).catch(() => undefined);
  if (own) {
    if (own.isSymbolicLink()) return `${dir} is a symbolic link`;
    if (!own.isDirectory()) return `${dir} is not a directory`;
    if (own.uid !== euid) return `${dir} belongs to uid ${own.uid}, not to this user (uid ${euid})`;
    if (own.mode & 0o022) return `${dir} may be written by its group or others (mode ${octal(own.mode)})`;
  }
  let parent = await nearestExisting(dirname(dir));
  for (;;) {
    const info = await lstat(parent).catch(() => undefined);
    if (info) {
      const sticky = (info.mode & 0o1000) !== 0;
      if (info.uid !== euid && info.uid !== 0) return `${parent} belongs to uid ${info.uid}`;
      if (info.mode & 0o022 && !sticky)
        return `${parent} may be written by others (mode ${octal(info.mode)})`;
    }
    const up = dirname(parent);
    if (up === parent) return undefined;
    parent = up;
  }
}

/** The real path of `dir`, or of its nearest ancestor that exists (symbolic links resolved). */
async function nearestExisting(dir: string): Promise<string> {
  for (let at = dir; ; at = dirname(at)) {
    const real = await realpath(at).catch(() => undefined);
    if (real !== undefined || dirname(at) === at) return real ?? at;
  }
}

function octal(mode: number): string {
  return (mode & 0o7777).toString(8);
}
