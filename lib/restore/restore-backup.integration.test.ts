/**
 * restoreBackup in one pass (the precheck read only the header) against a real server with the real
 * psql: a whole backup is proven on the restore's own stream; a damaged one fails with the backup's
 * error naming the file, whatever psql made of the broken input.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dumpAll, psql, startTestCluster } from '../../test/support/cluster.ts';
import type { BackupCandidate, BackupSource } from '../backups/backup-source.ts';
import { readBackupHeader } from '../backups/integrity.ts';
import { seedCanary } from '../drill/seed.ts';
import { hostExecutor } from '../exec/host.ts';
import { hostBinDir, type StartedTarget } from '../targets/target.ts';
import { type RestoreRequest, restoreBackup } from './restore-backup.ts';

const TRAILER = '-- PostgreSQL database cluster dump complete';
let source: StartedTarget;
let target: StartedTarget;
let dump: string;
let dir: string;
let files = 0;

beforeAll(async () => {
  [source, target] = await Promise.all([startTestCluster(), startTestCluster()]);
  await seedCanary(source.handle, 'backup_test');
  // A real pg_dumpall, with ~2 MB of incompressible comments before its trailer: its end comes long
  // after its head, as in any real backup.
  const real = await dumpAll(source.handle);
  const filler = Array.from({ length: 20_000 }, () => `-- ${randomBytes(48).toString('hex')}`).join('\n');
  dump = real.replace(TRAILER, `${filler}\n\n${TRAILER}`);
  dir = await mkdtemp(join(tmpdir(), 'drill-one-pass-'));
});
afterAll(async () => {
  await Promise.all([source?.stop(), target?.stop()]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Writes `bytes` as a backup, reads its header as the one-pass precheck does, and restores it. */
async function restoreFile(bytes: Buffer) {
  const path = join(dir, `postgres-backup-2026-11-2${++files}-030000.sql.gz`);
  await writeFile(path, bytes);
  const backup: BackupCandidate = {
    name: path.slice(dir.length + 1),
    path,
    takenAt: new Date('2026-11-24T03:00:00Z'),
    sizeBytes: bytes.length,
    format: 'plain',
    compression: 'gzip',
  };
  const files_: BackupSource = {
    location: dir,
    discover: () => Promise.reject(new Error('not used')),
    look: () => Promise.resolve({ sizeBytes: bytes.length, mtimeMs: 0 }),
    open: () => createReadStream(path),
  };
  const inspection = await readBackupHeader(backup, createReadStream(path));
  const request: RestoreRequest = {
    backup,
    inspection,
    source: files_,
    growthCheckIntervalSeconds: 5,
    executor: hostExecutor(hostBinDir(target.handle), target.handle.connection, process.env),
    connection: target.handle.connection,
    mode: 'cluster',
    canary: 'backup_test',
    restoreInto: 'backup_test',
    scratchMark: 'test',
    jobs: 1,
    rtoSeconds: 60,
    rtoCeilingSeconds: 120,
    allowedErrors: [],
    digest: false,
    signal: new AbortController().signal,
    clock: () => performance.now(),
  };
  return { path, inspection, restored: restoreBackup(request) };
}

async function dropCanary(): Promise<void> {
  await psql(target.handle, 'postgres', 'DROP DATABASE IF EXISTS backup_test');
}

describe('restoreBackup in one pass', () => {
  it('proves a whole backup on the stream psql reads, after a precheck that read only its head', async () => {
    const { inspection, restored } = await restoreFile(gzipSync(dump));
    expect(inspection.proven).toBe('header');
    const outcome = await restored;
    expect(outcome.inspection).toMatchObject({
      proven: 'whole',
      kind: 'pg_dumpall',
      sqlBytes: Buffer.byteLength(dump),
    });
    expect(outcome.summary).toMatch(
      /the backup proved whole on this same stream \(gzip decoded to its end, /,
    );
    expect(
      await psql(target.handle, 'backup_test', "SELECT string_agg(name, ',' ORDER BY id) FROM users"),
    ).toBe('alice,bob,charlie\n');
    await dropCanary();
  });

  const damaged: { what: string; bytes: () => Buffer; code: string; message: RegExp }[] = [
    {
      what: 'a flipped CRC',
      bytes: () => {
        const gz = gzipSync(dump);
        gz[gz.length - 6] = (gz[gz.length - 6] ?? 0) ^ 0xff;
        return gz;
      },
      code: 'DRILL_BACKUP_CORRUPT',
      message: /is corrupt: gzip says "incorrect data check"/,
    },
    {
      what: 'a gzip cut short',
      bytes: () => gzipSync(dump).subarray(0, -100),
      code: 'DRILL_BACKUP_TRUNCATED',
      message: /is truncated: the gzip stream ends/,
    },
    {
      what: 'a dump without its trailer',
      bytes: () => gzipSync(dump.slice(0, dump.lastIndexOf(TRAILER))),
      code: 'DRILL_BACKUP_INCOMPLETE',
      message: /does not end with `-- PostgreSQL database cluster dump complete`/,
    },
    {
      what: 'zero bytes after the gzip stream',
      bytes: () => Buffer.concat([gzipSync(dump), Buffer.alloc(300)]),
      code: 'DRILL_BACKUP_CORRUPT',
      message: /300 byte\(s\) follow the end of the gzip stream/,
    },
  ];
  it.each(damaged)('fails $what with the backup error naming the file', async ({ bytes, code, message }) => {
    const { path, inspection, restored } = await restoreFile(bytes());
    expect(inspection.proven).toBe('header');
    const failure = await restored.then(
      () => undefined,
      (error: unknown) => error as { code?: string; message?: string },
    );
    await dropCanary();
    expect(failure?.code).toBe(code);
    expect(failure?.message).toMatch(message);
    expect(failure?.message).toContain(path);
  });
});
