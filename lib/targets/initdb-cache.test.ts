import { chmod, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultInitdbCacheDir, sameFileSystem, templateKey } from './initdb-cache.ts';

describe('initdb cache key and place', () => {
  let bin = '';
  const owner = { uid: 1000, gid: 1000 };
  const args = ['-U', 'postgres', '--no-sync'];
  const fakePostgres = (banner: string) =>
    writeFile(join(bin, 'postgres'), `#!/bin/sh\necho '${banner}'\n`).then(() =>
      chmod(join(bin, 'postgres'), 0o755),
    );

  beforeAll(async () => {
    bin = await mkdtemp(join(tmpdir(), 'drill-key-'));
    await fakePostgres('postgres (PostgreSQL) 15.18');
  });
  afterAll(() => rm(bin, { recursive: true, force: true }));

  it('names the template by version and changes with the version, the binary, the options and the owner', async () => {
    const base = await templateKey(bin, args, owner);
    expect(base.name).toMatch(/^15\.18-[0-9a-f]{24}$/);
    expect((await templateKey(bin, args, owner)).name).toBe(base.name);
    expect((await templateKey(bin, [...args, '-k'], owner)).name).not.toBe(base.name);
    expect((await templateKey(bin, args, { uid: 0, gid: 0 })).name).not.toBe(base.name);
    await utimes(join(bin, 'postgres'), new Date('2020-01-01'), new Date('2020-01-01'));
    const touched = await templateKey(bin, args, owner);
    expect(touched.name).not.toBe(base.name);
    await fakePostgres('postgres (PostgreSQL) 15.19');
    const upgraded = await templateKey(bin, args, owner);
    expect(upgraded.name).toMatch(/^15\.19-/);
    expect(upgraded.facts.version).toBe('postgres (PostgreSQL) 15.19');
  });

  it('lives under XDG_CACHE_HOME, else ~/.cache, else nowhere', () => {
    expect(defaultInitdbCacheDir({ XDG_CACHE_HOME: '/x/cache', HOME: '/home/u' })).toBe(
      '/x/cache/pg-restore-drill/initdb',
    );
    expect(defaultInitdbCacheDir({ XDG_CACHE_HOME: 'relative', HOME: '/home/u' })).toBe(
      '/home/u/.cache/pg-restore-drill/initdb',
    );
    expect(defaultInitdbCacheDir({ HOME: '/home/u' })).toBe('/home/u/.cache/pg-restore-drill/initdb');
    expect(defaultInitdbCacheDir({ HOME: '' })).toBeUndefined();
    expect(defaultInitdbCacheDir({})).toBeUndefined();
  });
});

describe('whether the cache and a run share a file system', () => {
  it('tells one file system from another, judging a path not made yet by its nearest existing ancestor', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'drill-fs-'));
    try {
      expect(await sameFileSystem(dir, join(dir, 'not', 'made', 'yet'))).toBe(true);
      // procfs is a file system of its own on every Linux machine.
      expect(await sameFileSystem(dir, '/proc/self')).toBe(false);
      expect(await sameFileSystem(join(dir, 'cache'), '/proc')).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
