import { execFile } from 'node:child_process';
import { chmod, mkdir, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/**
 * Real PostgreSQL binaries of newer majors, runnable on this (older) Debian host, laid out as Debian
 * lays out several majors side by side: `ROOT/N/bin`. Each major's whole tree comes out of the
 * localhost/postgres:N image (scripts/container-engine.sh) into `dir/rootfs-N`; its glibc and libraries
 * are newer than the host's, so each program in `ROOT/N/bin` is a two-line wrapper that runs the real
 * one with that tree's own dynamic loader and libraries (`--argv0` keeps the wrapper's path as the
 * program's, so PostgreSQL finds its siblings, `share/` and `lib/` beside it, as installed).
 * `ROOT/15` is this host's own PostgreSQL 15. Needs root and podman.
 */
export async function extractedMajors(dir: string, majors: readonly number[]): Promise<string> {
  const root = join(dir, 'layout', 'usr', 'lib', 'postgresql');
  await mkdir(root, { recursive: true });
  await mkdir(join(dir, 'layout', 'usr', 'share', 'postgresql'), { recursive: true });
  await symlink('/usr/lib/postgresql/15', join(root, '15'));
  for (const major of majors) {
    const rootfs = join(dir, `rootfs-${major}`);
    await mkdir(rootfs);
    const { stdout } = await execFileAsync('podman', ['create', `localhost/postgres:${major}`]);
    const id = stdout.trim();
    try {
      // To a file: podman export opens /dev/stdout, which a socket (node's pipes) is not.
      const tarball = `${rootfs}.tar`;
      await execFileAsync('podman', ['export', '-o', tarball, id]);
      await execFileAsync('tar', ['-x', '-f', tarball, '-C', rootfs]);
      await rm(tarball);
    } finally {
      await execFileAsync('podman', ['rm', id]);
    }
    const real = join(rootfs, 'usr', 'lib', 'postgresql', String(major));
    const bin = join(root, String(major), 'bin');
    await mkdir(bin, { recursive: true });
    const loader = join(rootfs, 'usr', 'lib', 'x86_64-linux-gnu', 'ld-linux-x86-64.so.2');
    const libraries = [
      join(rootfs, 'usr', 'lib', 'x86_64-linux-gnu'),
      join(rootfs, 'lib', 'x86_64-linux-gnu'),
    ];
    for (const tool of await readdir(join(real, 'bin'))) {
      await writeFile(
        join(bin, tool),
        `#!/bin/sh\nexec ${loader} --library-path ${libraries.join(':')} --argv0 "$0" ${join(real, 'bin', tool)} "$@"\n`,
        { mode: 0o755 },
      );
    }
    await symlink(join(real, 'lib'), join(root, String(major), 'lib'));
    await symlink(
      join(rootfs, 'usr', 'share', 'postgresql', String(major)),
      join(dir, 'layout', 'usr', 'share', 'postgresql', String(major)),
    );
  }
  await chmod(dir, 0o755);
  return root;
}
