/**
 * `--target local` with several PostgreSQL majors installed side by side (the Debian layout,
 * /usr/lib/postgresql/N): it takes binaries of a major that can take the dump, says which it took and
 * what it passed over, and when none can, stops before any server starts and names the container fix.
 * The 17 and 18 binaries are the real ones of the localhost/postgres:17 and :18 images
 * (test/support/extracted-majors.ts); 15 is this host's.
 */
import { chmod, copyFile, mkdir, mkdtemp, readdir, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedCanary } from '../lib/drill/seed.ts';
import { silentLogger } from '../lib/log.ts';
import { startLocalTarget } from '../lib/targets/local.ts';
import type { StartedTarget } from '../lib/targets/target.ts';
import { dumpAll, dumpArchive, startTestCluster, writeBackup } from './support/cluster.ts';
import { containerTestsAvailable, engineSkip, majorImage } from './support/container-engine.ts';
import { extractedMajors } from './support/extracted-majors.ts';
import { readReport, runCli } from './support/run-cli.ts';

const AT = '2026-11-30-020000';
const available =
  process.getuid?.() !== 0
    ? { ok: false as const, reason: 'not root (podman export of the images)' }
    : await containerTestsAvailable([majorImage(17), majorImage(18)]);
const skip = engineSkip('the local several-majors tests', available.ok ? undefined : available.reason);

let scratch: string;
/** 15 (this host's), 17 and 18 side by side. */
let allMajors: string;
/** 15 and 17 only. */
let olderMajors: string;
const dumps: Partial<Record<15 | 17 | 18, string>> = {};
/** pg_dump -Fc of the canary by the 18 binaries. */
let custom18: string;
let n = 0;

beforeAll(async () => {
  if (skip) return;
  scratch = await mkdtemp(join(tmpdir(), 'local-majors-test-'));
  // The throwaway servers run as the postgres user and reach their binaries through it.
  await chmod(scratch, 0o755);
  allMajors = await extractedMajors(join(scratch, 'pg'), [17, 18]);
  olderMajors = join(scratch, 'older');
  await mkdir(olderMajors);
  for (const major of ['15', '17']) await symlink(join(allMajors, major), join(olderMajors, major));
  // Each source cluster from its own major's binaries: real pg_dumpall output of 15, 17 and 18.
  for (const major of [15, 17, 18] as const) {
    const source: StartedTarget =
      major === 15
        ? await startTestCluster()
        : await startLocalTarget({
            binDir: join(allMajors, String(major), 'bin'),
            tempRoot: tmpdir(),
            baseEnv: process.env,
            log: silentLogger,
          });
    try {
      expect(source.handle.serverVersion.major).toBe(major);
      await seedCanary(source.handle, 'backup_test');
      dumps[major] = await dumpAll(source.handle);
      if (major === 18) {
        custom18 = join(scratch, 'custom-18.dump');
        await dumpArchive(source.handle, 'backup_test', 'custom', custom18);
      }
    } finally {
      await source.stop();
    }
  }
}, 300_000);

afterAll(async () => {
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

async function drill(major: 15 | 17 | 18 | 'custom 18', roots: string) {
  const backups = join(scratch, `backups-${++n}`);
  const reports = join(scratch, `reports-${n}`);
  const temp = join(scratch, `temp-${n}`);
  for (const dir of [backups, temp]) await mkdir(dir, { mode: 0o777 });
  if (major === 'custom 18') await copyFile(custom18, join(backups, `postgres-backup-${AT}.dump`));
  else await writeBackup(backups, AT, dumps[major] as string);
  const args = ['--target', 'local', '--backups', backups, '--pg-search-roots', roots, '--temp-dir', temp];
  const run = await runCli([...args, '--verify', 'deep', '--progress', 'off', '--report-dir', reports]);
  return { ...run, report: await readReport(reports), tempLeft: await readdir(temp) };
}

describe.skipIf(skip)('--target local with several majors installed', () => {
  it('an 18 dump: passes over the 15 on PATH and takes the 18 binaries, and says so', async () => {
    const { code, stdout, stderr, report } = await drill(18, allMajors);
    expect(code, stdout + stderr).toBe(0);
    expect(stderr).toMatch(
      new RegExp(
        `PostgreSQL binaries: took ${allMajors}/18/bin \\(PostgreSQL 18\\.\\d+, under ${allMajors}\\) for a dump from PostgreSQL 18\\.\\d+; passed over .*PostgreSQL 15\\.\\d+, older than the dump`,
      ),
    );
    expect(report.target?.description).toContain(`${allMajors}/18/bin`);
    expect(report.target?.serverVersion).toMatch(/^18\./);
  });

  it('an 18 custom-format archive: its header chooses the 18 binaries too', async () => {
    const { code, stdout, stderr, report } = await drill('custom 18', allMajors);
    expect(code, stdout + stderr).toBe(0);
    expect(stderr).toMatch(
      /PostgreSQL binaries: took \S+\/18\/bin \(PostgreSQL 18\.\d+, under \S+\) for a dump from PostgreSQL 18\./,
    );
    expect(report.dump?.kind).toBe('pg_dump');
    expect(report.target?.serverVersion).toMatch(/^18\./);
  });

  it('a 17 dump: takes a major that can take it (18, the newest here): a cross-major restore', async () => {
    const { code, stdout, stderr, report } = await drill(17, allMajors);
    expect(code, stdout + stderr).toBe(0);
    expect(report.target?.serverVersion).toMatch(/^18\./);
    const fits = report.checks.find((c) => c.id === 'precheck-dump-fits-the-target');
    expect(fits?.facts.crossMajor).toEqual({ from: 17, to: 18 });
  });

  it('an 18 dump where only 15 and 17 are installed: takes 17, the precheck refuses it, the log names the fix', async () => {
    const { code, stderr, report, tempLeft } = await drill(18, olderMajors);
    expect(code).toBe(1);
    expect(report.target?.serverVersion).toMatch(/^17\./);
    const fits = report.checks.find((c) => c.id === 'precheck-dump-fits-the-target');
    expect(fits?.code).toBe('DRILL_DUMP_NEWER_THAN_TARGET');
    expect(fits?.message).toMatch(
      /dumped from PostgreSQL 18\.\d+ by pg_dump 18\.\d+, but the target runs 17\.\d+/,
    );
    expect(report.restore).toBeNull();
    expect(tempLeft).toEqual([]);
    expect(stderr).toMatch(
      new RegExp(
        `no PostgreSQL 18 \\(or newer\\) here for \\S+\\.sql\\.gz, dumped by PostgreSQL 18\\.\\d+ \\(tried: .*${olderMajors}/17/bin \\(under ${olderMajors}; PostgreSQL 17\\.\\d+, older than the dump\\).*\\); taking ${olderMajors}/17/bin \\(PostgreSQL 17\\.\\d+\\)`,
      ),
    );
    expect(stderr).toContain(
      'Use --target container --image postgres:18 (the server and its tools come in the image), or install PostgreSQL 18 here (Debian: apt-get install postgresql-18)',
    );
  });
});
