import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { clusterRoot } from './memory-root.ts';

/** Mount points of this machine by file system type, from /proc/mounts (the facts the choice reads). */
function mountsOf(type: string): string[] {
  return readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' '))
    .filter((fields) => fields[2] === type && fields[1])
    .map((fields) => (fields[1] as string).replace(/\\040/g, ' '));
}

const tmpfs = mountsOf('tmpfs').find((dir) => dir === '/dev/shm') ?? mountsOf('tmpfs')[0];
const disk = mountsOf('ext4')[0] ?? mountsOf('xfs')[0] ?? mountsOf('btrfs')[0] ?? mountsOf('overlay')[0];

describe('where a local throwaway cluster goes', () => {
  const selfContained = { tempDir: undefined, selfContained: true, env: {} };

  it('a given --temp-dir, always', async () => {
    for (const self of [true, false]) {
      const root = await clusterRoot({ tempDir: '/srv/drill/tmp', selfContained: self, env: {} });
      expect(root).toEqual({ dir: '/srv/drill/tmp', memory: false, said: 'in /srv/drill/tmp (--temp-dir)' });
    }
  });

  it('the system temp directory for a drill of backups, and wherever TMPDIR says', async () => {
    expect(await clusterRoot({ tempDir: undefined, selfContained: false, env: {} })).toEqual({
      dir: tmpdir(),
      memory: false,
      said: `in ${tmpdir()}`,
    });
    const root = await clusterRoot({ ...selfContained, env: { TMPDIR: tmpdir() } });
    expect(root).toMatchObject({ dir: tmpdir(), memory: false, said: `in ${tmpdir()} (TMPDIR)` });
  });

  it('wherever TMP or TEMP says: os.tmpdir() reads them too, so the run dir already went there', async () => {
    // The room is forced, so only the variable can keep the cluster out of memory.
    const roomy = { memoryRoot: tmpfs, room: { freeBytes: 0, availableBytes: 0 } };
    for (const name of ['TMP', 'TEMP']) {
      const root = await clusterRoot({ ...selfContained, ...roomy, env: { [name]: '/srv/drill/tmp' } });
      expect(root).toEqual({ dir: tmpdir(), memory: false, said: `in ${tmpdir()} (${name})` });
    }
  });

  it('not memory that is not there, or not a tmpfs', async (ctx) => {
    const missing = join(tmpdir(), 'no-such-shm');
    const gone = await clusterRoot({ ...selfContained, memoryRoot: missing });
    expect(gone).toEqual({
      dir: tmpdir(),
      memory: false,
      said: `in ${tmpdir()}, not in memory: ${missing}: ENOENT`,
    });
    if (!disk) return ctx.skip('the disk case: /proc/mounts lists no ext4, xfs, btrfs or overlay');
    const ondisk = await clusterRoot({ ...selfContained, memoryRoot: disk });
    expect(ondisk.said).toBe(`in ${tmpdir()}, not in memory: ${disk} is not a tmpfs`);
  });

  it('not a tmpfs directory the server cannot reach when the drill runs as root (it runs as another user)', async (ctx) => {
    if (!tmpfs) return ctx.skip('the memory case: /proc/mounts lists no tmpfs');
    if (process.geteuid?.() !== 0) return ctx.skip('the server runs as the drill itself when it is not root');
    const closed = await mkdtemp(join(tmpfs, 'memory-root-closed-'));
    try {
      await chmod(closed, 0o700);
      const root = await clusterRoot({
        ...selfContained,
        memoryRoot: closed,
        room: { freeBytes: 0, availableBytes: 0 },
      });
      expect(root).toEqual({
        dir: tmpdir(),
        memory: false,
        said: `in ${tmpdir()}, not in memory: ${closed} (mode 700) is closed to the server's user`,
      });
      await chmod(closed, 0o1777);
      expect(
        (
          await clusterRoot({
            ...selfContained,
            memoryRoot: closed,
            room: { freeBytes: 0, availableBytes: 0 },
          })
        ).memory,
      ).toBe(true);
    } finally {
      await rm(closed, { recursive: true, force: true });
    }
  });

  it('memory, for a self-contained drill, when the tmpfs has the room; else says what is short', async (ctx) => {
    if (!tmpfs) return ctx.skip('the memory case: /proc/mounts lists no tmpfs');
    const dir = tmpfs;
    const fs = await statfs(dir);
    const free = fs.bavail * fs.bsize;
    const roomy = await clusterRoot({
      ...selfContained,
      memoryRoot: dir,
      room: { freeBytes: 0, availableBytes: 0 },
    });
    expect(roomy).toEqual({
      dir,
      memory: true,
      said: `in memory, ${dir} (a self-contained drill's cluster is small: --temp-dir DIR keeps it on disk)`,
    });
    const tight = await clusterRoot({
      ...selfContained,
      memoryRoot: dir,
      room: { freeBytes: free + 2 ** 40, availableBytes: 0 },
    });
    expect(tight.memory).toBe(false);
    expect(tight.said).toMatch(
      new RegExp(`^in .*, not in memory: ${dir} has \\d+ MiB free \\(\\d+ wanted\\)$`),
    );
    const starved = await clusterRoot({
      ...selfContained,
      memoryRoot: dir,
      room: { freeBytes: 0, availableBytes: process.availableMemory() + 2 ** 40 },
    });
    expect(starved.said).toMatch(/not in memory: \d+ MiB of memory available \(\d+ wanted\)$/);
  });
});
