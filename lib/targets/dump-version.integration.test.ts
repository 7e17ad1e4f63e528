import { chmod, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dumpAll, dumpArchive, startTestCluster, writeBackup } from '../../test/support/cluster.ts';
import type { BackupCandidate } from '../backups/backup-source.ts';
import { seedCanary } from '../drill/seed.ts';
import { newestDumpVersion } from './dump-version.ts';
import type { StartedTarget } from './target.ts';

let source: StartedTarget;
let dir: string;

beforeAll(async () => {
  source = await startTestCluster();
  await seedCanary(source.handle, 'backup_test');
  dir = await mkdtemp(join(tmpdir(), 'dump-version-test-'));
  await chmod(dir, 0o777);
});
afterAll(async () => {
  await source?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function candidate(path: string, format: BackupCandidate['format'], compression: 'gzip' | 'none') {
  return {
    name: path,
    path,
    takenAt: new Date(),
    sizeBytes: (await stat(path)).size,
    format,
    compression,
  } as BackupCandidate;
}

describe('newestDumpVersion: the version a backup names, read without any PostgreSQL tool', () => {
  it('reads real pg_dumpall | gzip, -Fc and -Fd output of this PostgreSQL', async () => {
    const server = source.handle.serverVersion;
    const plain = await writeBackup(dir, '2026-11-30-020000', await dumpAll(source.handle));
    const custom = join(dir, 'c.dump');
    const directory = join(dir, 'd.dir');
    await dumpArchive(source.handle, 'backup_test', 'custom', custom);
    await dumpArchive(source.handle, 'backup_test', 'directory', directory);
    const found = [
      await newestDumpVersion(await candidate(plain, 'plain', 'gzip')),
      await newestDumpVersion(await candidate(custom, 'custom', 'none')),
      await newestDumpVersion(await candidate(directory, 'directory', 'none')),
    ].map((v) => v && { major: v.major, minor: v.minor });
    expect(found).toEqual([1, 2, 3].map(() => ({ major: server.major, minor: server.minor })));
  });

  it('names none for a file that is not a dump, or a damaged one, and leaves the verdict to the precheck', async () => {
    const junk = join(dir, 'junk.sql.gz');
    await writeFile(junk, 'not gzip at all');
    const notArchive = join(dir, 'junk.dump');
    await writeFile(notArchive, 'PGDMX');
    expect([
      await newestDumpVersion(await candidate(junk, 'plain', 'gzip')),
      await newestDumpVersion(await candidate(notArchive, 'custom', 'none')),
    ]).toEqual([undefined, undefined]);
  });
});
