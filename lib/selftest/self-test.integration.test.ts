/**
 * Each self-test fault against a real cluster (the canary and the awkward databases, their real
 * pg_dumpall) and the real checks: the real check goes red on it; a check made unable to fail lets it
 * through and the self-test says so, naming the check; a fault that cannot be applied proves nothing
 * and says that too. The faults never outlive their check: afterwards the backup file and every table
 * are as they were.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAwkwardDatabases, dumpAllBytes } from '../../test/support/awkward-cluster.ts';
import { dumpArchive, psql, startTestCluster } from '../../test/support/cluster.ts';
import type { BackupCandidate, BackupSource } from '../backups/backup-source.ts';
import { directorySource } from '../backups/directory-source.ts';
import { parseBackupPattern } from '../backups/naming.ts';
import { seedCanary } from '../drill/seed.ts';
import { copyDigest, type TableDigest } from '../dump/copy-digest.ts';
import type { Executor } from '../exec/executor.ts';
import { connect } from '../pg/databases.ts';
import { executorFor } from '../targets/attach.ts';
import type { StartedTarget } from '../targets/target.ts';
import { defaultCanaryContract } from '../verify/canary-contract.ts';
import { verifyDeep } from '../verify/deep.ts';
import { pass } from '../verify/verdict.ts';
import { canaryFault } from './canary-fault.ts';
import { faultVerdict } from './outcome.ts';
import { precheckFault } from './precheck-faults.ts';
import { rowFault } from './row-fault.ts';

const naming = parseBackupPattern('postgres-backup-{timestamp}', 'YYYY-MM-DD-HHmmss');
const clock = () => performance.now();
let cluster: StartedTarget;
let executor: Executor;
let scratch: string;
let digests: TableDigest[];

async function digestsOf(dump: Buffer): Promise<TableDigest[]> {
  const digest = copyDigest();
  await pipeline(Readable.from([dump]), digest, async (source: AsyncIterable<Buffer>) => {
    for await (const _ of source);
  });
  return digest.digests;
}

/** The one backup of a fresh directory `name`: a source and its candidate. */
async function backupIn(name: string, file: string, bytes: Buffer) {
  const dir = join(scratch, name);
  await mkdir(dir);
  await writeFile(join(dir, file), bytes);
  const source: BackupSource = directorySource(dir, naming);
  const backup = (await source.discover()).candidates[0] as BackupCandidate;
  return { source, backup, sha: () => readFile(join(dir, file)).then(sha256) };
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

beforeAll(async () => {
  cluster = await startTestCluster();
  await seedCanary(cluster.handle, 'backup_test');
  await createAwkwardDatabases(cluster.handle);
  // A table no row of which can be changed: one NOT NULL uuid column (no NULL, no arithmetic).
  await psql(cluster.handle, 'postgres', 'CREATE DATABASE stubborn');
  await psql(
    cluster.handle,
    'stubborn',
    "CREATE TABLE locked (u uuid NOT NULL PRIMARY KEY); INSERT INTO locked VALUES ('6f1c0c4e-2d36-4b9a-9d7e-0a1b2c3d4e5f')",
  );
  executor = await executorFor(cluster.handle, process.env);
  scratch = await mkdtemp(join(tmpdir(), 'selftest-'));
  digests = await digestsOf(await dumpAllBytes(cluster.handle));
});
afterAll(async () => {
  await cluster?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

describe('the precheck against faulted copies of a real pg_dumpall', () => {
  it('goes red on a truncated and on a bit-flipped gzip copy, and the file is untouched', async () => {
    const { source, backup, sha } = await backupIn(
      'gzip',
      'postgres-backup-2026-11-21-030000.sql.gz',
      gzipSync(await dumpAllBytes(cluster.handle)),
    );
    const before = await sha();
    const truncated = await precheckFault({ backup, source, executor, fault: 'truncated' });
    const flipped = await precheckFault({ backup, source, executor, fault: 'bit-flipped' });
    const half = Math.floor(backup.sizeBytes / 2);
    expect(truncated).toMatchObject({
      result: 'went red',
      code: 'DRILL_BACKUP_TRUNCATED',
      check: 'precheck: backup is whole',
      applied: `${backup.name} cut after ${half} of its ${backup.sizeBytes} bytes`,
      said: `${backup.path} is truncated: the gzip stream ends after ${half} bytes without its trailer. The copy or the backup job was cut short; use an older backup and fix the job.`,
    });
    expect(flipped).toMatchObject({ result: 'went red', code: 'DRILL_BACKUP_CORRUPT' });
    expect(faultVerdict(flipped).ok).toBe(true);
    expect(await sha()).toBe(before);
  });

  it('catches a precheck made unable to fail: the self-test fails, naming the check', async () => {
    const { source, backup } = await backupIn(
      'blind',
      'postgres-backup-2026-11-21-030000.sql.gz',
      gzipSync(await dumpAllBytes(cluster.handle)),
    );
    // Reads every byte it is given, and never finds anything wrong.
    const blind = async (_backup: BackupCandidate, open: () => Readable) => {
      for await (const _ of open());
    };
    for (const fault of ['truncated', 'bit-flipped'] as const) {
      const outcome = await precheckFault({ backup, source, executor, fault, precheck: blind });
      expect(outcome.result).toBe('stayed green');
      const verdict = faultVerdict(outcome);
      expect(verdict.ok).toBe(false);
      expect(verdict.summary).toBe(
        `self-test failed: \`precheck: backup is whole\` could not go red: a ${outcome.fault} (${outcome.applied}) passed it (the precheck found it whole)`,
      );
    }
  });

  it('cannot see a flipped bit in an uncompressed .sql backup (no checksum), and says so; a cut one it sees', async () => {
    const { source, backup } = await backupIn(
      'plain',
      'postgres-backup-2026-11-21-030000.sql',
      await dumpAllBytes(cluster.handle),
    );
    const flipped = await precheckFault({ backup, source, executor, fault: 'bit-flipped' });
    expect(flipped.result).toBe('stayed green');
    expect(faultVerdict(flipped).summary).toContain(
      `an uncompressed ${backup.name} carries no checksum, so a flipped bit inside it is invisible to the precheck`,
    );
    const truncated = await precheckFault({ backup, source, executor, fault: 'truncated' });
    expect(truncated).toMatchObject({ result: 'went red', code: 'DRILL_BACKUP_INCOMPLETE' });
  });

  /** The one custom-format archive of `database` in a fresh directory `name`: a source and its candidate. */
  async function archiveIn(name: string, database: string) {
    const dir = join(scratch, name);
    await mkdir(dir);
    await dumpArchive(
      cluster.handle,
      database,
      'custom',
      join(dir, 'postgres-backup-2026-11-21-030000.dump'),
    );
    const source = directorySource(dir, naming);
    return { source, backup: (await source.discover()).candidates[0] as BackupCandidate };
  }

  it('goes red on a truncated custom-format archive read through stdin', async () => {
    const { source, backup } = await archiveIn('custom', 'backup_test');
    const truncated = await precheckFault({ backup, source, executor, fault: 'truncated' });
    expect(truncated).toMatchObject({ result: 'went red', code: 'DRILL_BACKUP_CORRUPT' });
  });

  it("cannot see a bit flipped in the text of a custom-format archive's table of contents, and says so", async () => {
    // The self-test flips the archive's middle byte. In the canary's small archive that byte falls in
    // the table of contents' binary fields (a length, a flag, a dependency id) or in its text, as the
    // OIDs' widths shift it by a byte from one cluster to the next: red or green by chance. A table
    // comment of 20,000 letters (schema text, never compressed) makes most of this archive text, so
    // its middle byte is a letter of that comment, which pg_restore reads as it is.
    await psql(cluster.handle, 'postgres', 'CREATE DATABASE toc_text');
    try {
      await psql(
        cluster.handle,
        'toc_text',
        `CREATE TABLE notes (id int PRIMARY KEY); COMMENT ON TABLE notes IS '${'abcdefghij'.repeat(2000)}'`,
      );
      const { source, backup } = await archiveIn('custom-text', 'toc_text');
      const flipped = await precheckFault({ backup, source, executor, fault: 'bit-flipped' });
      expect(flipped.result).toBe('stayed green');
      expect(flipped.said).toContain('a pg_dump archive checksums only its compressed data blocks');
    } finally {
      // The deep-verification tests below compare every database of the cluster with its backup.
      await psql(cluster.handle, 'postgres', 'DROP DATABASE toc_text');
    }
  });
});

describe('deep verification against one changed row', () => {
  const request = () => ({
    executor,
    expected: digests,
    databaseFor: (d: string) => d,
    timeZone: 'UTC',
    clock,
  });

  const ownSessions = (database: string) => connect(cluster.handle.connection, database);
  it.each([
    ['read through psql', undefined],
    ["read in the check's own sessions (as the drill reads)", ownSessions],
  ])('goes red on a row changed in an awkward database, and the change never commits: %s', async (_, way) => {
    const weird = digests.filter((d) => d.database === 'Weird "Name" db');
    const outcome = await rowFault({ ...request(), expected: weird, ...(way ? { connect: way } : {}) });
    expect(outcome).toMatchObject({ result: 'went red', check: 'verify: every table matches the backup' });
    // The smallest table with rows (one), its first column nullable: set to NULL.
    expect(outcome.applied).toBe(
      'Weird "Name" db: public."Odd ""Table"" name"."Col A" set to NULL in one row (of 1)',
    );
    expect(outcome.said).toMatch(
      /^0 of 1 table\(s\) verified; 1 differ from the dump: Weird "Name" db public\."Odd ""Table"" name": dump 1 row\(s\) digest ([0-9a-f]{16}), restored 1 row\(s\) digest (?!\1)[0-9a-f]{16}$/,
    );
    // Afterwards every table of every database still matches its dump: nothing was committed.
    const after = await verifyDeep({
      executor,
      expected: digests,
      timeZone: 'UTC',
      clock,
      connect: ownSessions,
    });
    expect(after.tables.filter((t) => t.unverified === undefined && !t.verified)).toEqual([]);
    expect(after.verdict.ok).toBe(true);
  });

  it('catches a deep check made unable to fail (it passes whatever it read)', async () => {
    const blind = async (options: Parameters<typeof verifyDeep>[0]) => {
      const real = await verifyDeep(options);
      return { ...real, verdict: pass('row counts only: every table has its rows') };
    };
    const outcome = await rowFault({ ...request(), verify: blind });
    expect(outcome.result).toBe('stayed green');
    expect(faultVerdict(outcome).summary).toMatch(
      /^self-test failed: `verify: every table matches the backup` could not go red: a changed row \(.+ set to .+ in one row \(of \d+\)\) passed it \(row counts only: every table has its rows\)$/,
    );
  });

  it('proves nothing, and says so, where no row can be changed', async () => {
    const outcome = await rowFault({
      ...request(),
      expected: digests.filter((d) => d.database === 'stubborn'),
    });
    expect(outcome.result).toBe('inconclusive');
    expect(outcome.said).toBe(
      'no row could be changed (stubborn: pg-restore-drill self-test: no row of public.locked could be changed)',
    );
    expect(faultVerdict(outcome).ok).toBe(false);
  });
});

describe('the canary users check against a canary missing a user', () => {
  const request = () => ({
    executor,
    connection: cluster.handle.connection,
    database: 'backup_test',
    contract: defaultCanaryContract('backup_test'),
    settings: { encoding: 'UTF8', timeZone: 'UTC' },
    basis: { kind: 'contract' as const },
  });

  it('goes red, and charlie is still there afterwards', async () => {
    const outcome = await canaryFault(request());
    expect(outcome).toEqual({
      fault: 'missing user',
      check: 'verify: users are exactly alice, bob and charlie',
      applied: 'backup_test: public.users: user charlie (name) deleted',
      isolation: "in a transaction of the check's own psql session, rolled back; no other session saw it",
      result: 'went red',
      said: 'public.users.name holds [alice, bob], expected exactly [alice, bob, charlie]',
    });
    expect(
      await psql(cluster.handle, 'backup_test', "SELECT string_agg(name, ',' ORDER BY name) FROM users"),
    ).toBe('alice,bob,charlie\n');
  });

  it('catches a users check made unable to fail', async () => {
    const outcome = await canaryFault({ ...request(), check: () => pass('users look fine') });
    expect(outcome.result).toBe('stayed green');
    expect(faultVerdict(outcome).summary).toBe(
      'self-test failed: `verify: users are exactly alice, bob and charlie` could not go red: a missing user (backup_test: public.users: user charlie (name) deleted) passed it (users look fine)',
    );
  });
});
