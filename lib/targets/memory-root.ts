import { constants } from 'node:fs';
import { access, stat, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';

/**
 * Where a local throwaway cluster's directory goes (`lib/targets/local.ts`), said in one log line.
 *
 * A given `--temp-dir` / `DRILL_TEMP_DIR` (or `TMPDIR`, `TMP`, `TEMP`, which os.tmpdir() reads) is always
 * used. Otherwise a self-contained drill, whose cluster is the drill's own and small (the initdb template,
 * the canary it seeds, dumps, drops and restores, their WAL: under 100 MB), keeps it in memory, in
 * /dev/shm, when that is a tmpfs with room:
 * initdb's ~1000 files and each CREATE DATABASE's ~300 cost a file creation apiece, which on a
 * virtualised disk is most of the self-contained drill's start (0.67 ms per empty file on the bench
 * machine's ext4, 7 µs on its tmpfs; commit bbff289). A drill of the operator's backups is sized by
 * them, so it stays on disk.
 */
export const MEMORY_ROOT = '/dev/shm';

/** The variables os.tmpdir() reads on POSIX, in its order. */
const TEMP_VARS = ['TMPDIR', 'TMP', 'TEMP'] as const;

/** statfs(2)'s f_type of a tmpfs (linux/magic.h). */
export const TMPFS_MAGIC = 0x01021994;

/** What /dev/shm must have left for the cluster to go there: five times what it takes. */
export const MEMORY_ROOM = { freeBytes: 512 * 2 ** 20, availableBytes: 1024 * 2 ** 20 };

export interface ClusterRoot {
  dir: string;
  /** True when it is MEMORY_ROOT, in memory. */
  memory: boolean;
  /** For the log: where, and why there. */
  said: string;
}

export interface ClusterRootChoice {
  /** `--temp-dir` / `DRILL_TEMP_DIR`, when given. */
  tempDir: string | undefined;
  /** No `--backups`: the drill seeds and backs up its own canary. */
  selfContained: boolean;
  env: NodeJS.ProcessEnv;
  /** For tests: the tmpfs looked at, and the room it must have. */
  memoryRoot?: string;
  room?: typeof MEMORY_ROOM;
}

/** The parent of the cluster's directory: the one given, else memory when it may be, else the system temp dir. */
export async function clusterRoot(choice: ClusterRootChoice): Promise<ClusterRoot> {
  if (choice.tempDir !== undefined)
    return { dir: choice.tempDir, memory: false, said: `in ${choice.tempDir} (--temp-dir)` };
  const disk = tmpdir();
  // os.tmpdir()'s own order on POSIX: an operator who set any of them chose where temp data goes.
  const chosen = TEMP_VARS.find((name) => choice.env[name]);
  if (chosen) return { dir: disk, memory: false, said: `in ${disk} (${chosen})` };
  if (!choice.selfContained) return { dir: disk, memory: false, said: `in ${disk}` };
  const root = choice.memoryRoot ?? MEMORY_ROOT;
  const notThere = await memoryRefusal(root, choice.room ?? MEMORY_ROOM);
  if (notThere) return { dir: disk, memory: false, said: `in ${disk}, not in memory: ${notThere}` };
  return {
    dir: root,
    memory: true,
    said: `in memory, ${root} (a self-contained drill's cluster is small: --temp-dir DIR keeps it on disk)`,
  };
}

/** Why `root` cannot take the cluster, or undefined when it can. */
async function memoryRefusal(root: string, room: typeof MEMORY_ROOM): Promise<string | undefined> {
  const fs = await statfs(root).catch((error: NodeJS.ErrnoException) => error);
  if (fs instanceof Error) return `${root}: ${fs.code ?? fs.message}`;
  if (fs.type !== TMPFS_MAGIC) return `${root} is not a tmpfs`;
  const free = fs.bavail * fs.bsize;
  if (free < room.freeBytes) return `${root} has ${mib(free)} MiB free (${mib(room.freeBytes)} wanted)`;
  const available = process.availableMemory();
  if (available < room.availableBytes)
    return `${mib(available)} MiB of memory available (${mib(room.availableBytes)} wanted)`;
  const writable = await access(root, constants.W_OK | constants.X_OK).then(
    () => true,
    () => false,
  );
  if (!writable) return `${root} is not writable here`;
  // As root the server runs as another user, who must traverse it (lib/targets/local.ts, handOver).
  const { mode } = await stat(root);
  return process.geteuid?.() === 0 && (mode & 0o001) === 0
    ? `${root} (mode ${(mode & 0o7777).toString(8)}) is closed to the server's user`
    : undefined;
}

function mib(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(0);
}
