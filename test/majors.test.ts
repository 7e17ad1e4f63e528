/**
 * PostgreSQL 18, the production major, for real (issue #11): real dumps written by the 18 tools restore
 * and deep-verify in an 18 target; 15 and 17 dumps restore into 18 and the report calls it a cross-major
 * restore; an 18 dump aimed at a 15 or 17 target is refused before anything is dropped or restored; the
 * canary modes and a slice of the fault matrix run against a live 18 server. The 15, 17 and 18 servers
 * are the Debian-packaged images scripts/container-engine.sh builds (bookworm, trixie, sid).
 */
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finished, pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { seedCanary } from '../lib/drill/seed.ts';
import { probeContainerEngine } from '../lib/exec/container-engine.ts';
import { withClient } from '../lib/pg/databases.ts';
import type { DrillReport } from '../lib/report/report.ts';
import { executorFor } from '../lib/targets/attach.ts';
import type { StartedTarget, TargetHandle } from '../lib/targets/target.ts';
import { createAwkwardDatabases } from './support/awkward-cluster.ts';
import { createBystander, fingerprint, snapshotBystander } from './support/bystander.ts';
import { dumpAll, psql, startTestCluster, toolOutput, writeBackup } from './support/cluster.ts';
import {
  containerTestsAvailable,
  drillContainers,
  engineSkip,
  majorImage,
} from './support/container-engine.ts';
import { type SourceContainer, startSourceContainer } from './support/container-source.ts';
import { readReport, runCli, startCli } from './support/run-cli.ts';

const IMAGES = [majorImage(15), majorImage(17), majorImage(18)];
const available = await containerTestsAvailable(IMAGES);
const skip = engineSkip('the PostgreSQL 15/17/18 tests', available.ok ? undefined : available.reason);

const CANARY = 'backup_test';
const AT = '2026-11-30-020000';
const engine = { engine: true };

let pg18: SourceContainer;
let pg17: SourceContainer;
let pg15: StartedTarget;
let scratch: string;
let n = 0;
/** pg_dumpall of the 18 server, as its CronJob takes it. */
let dump18: string;

/** A fresh directory under the test's scratch space. */
async function fresh(name: string): Promise<string> {
  const dir = join(scratch, `${++n}-${name}`);
  await mkdir(dir, { recursive: true });
  await chmod(dir, 0o777);
  return dir;
}

/** A backup directory holding one plain pg_dumpall | gzip. */
async function plainBackups(name: string, sql: string): Promise<string> {
  const dir = await fresh(name);
  await writeBackup(dir, AT, sql);
  return dir;
}

/** pg_dump of one database in an archive format, run inside the source's container, onto this host. */
async function archiveBackups(
  source: TargetHandle,
  database: string,
  format: 'custom' | 'directory',
): Promise<string> {
  const dir = await fresh(`archive-${format}`);
  const executor = await executorFor(source, process.env);
  if (format === 'custom') {
    const file = join(dir, `postgres-backup-${AT}.dump`);
    const out = createWriteStream(file);
    const result = await executor.run('pg_dump', ['-Fc', '-d', database], { stdout: out });
    if (result.exitCode !== 0) throw new Error(`pg_dump -Fc: ${result.stderr}`);
    await finished(out);
    await chmod(file, 0o644);
    return dir;
  }
  // -Fd writes a directory where pg_dump runs: inside the container; tar carries it out.
  const inside = `/tmp/fd-${n}`;
  const result = await executor.run('pg_dump', ['-Fd', '-d', database, '-f', inside]);
  if (result.exitCode !== 0) throw new Error(`pg_dump -Fd: ${result.stderr}`);
  const target = join(dir, `postgres-backup-${AT}.dir`);
  await mkdir(target);
  await extractFromContainer(source, inside, target);
  return dir;
}

/** Copies a directory out of the source's container (the engine's archive API, unpacked with tar). */
async function extractFromContainer(source: TargetHandle, path: string, into: string): Promise<void> {
  const probe = await probeContainerEngine(process.env);
  if (!probe.ok) throw new Error(probe.reason);
  const archive = await probe.client.container.dockerode
    .getContainer(source.tools.kind === 'container' ? source.tools.containerId : '')
    .getArchive({ path: `${path}/.` });
  const tar = spawn('tar', ['-x', '-C', into, '--no-same-owner'], { stdio: ['pipe', 'ignore', 'inherit'] });
  const exited = new Promise<number | null>((done) => tar.once('close', done));
  await pipeline(archive, tar.stdin);
  if ((await exited) !== 0) throw new Error(`tar -x of ${path} failed`);
  await chmod(into, 0o755);
}

/** A CLI drill; the report it wrote, and no container of its own left behind. */
async function drill(args: string[], env: NodeJS.ProcessEnv = {}) {
  const reports = await fresh('report');
  const run = await runCli([...args, '--progress', 'off', '--report-dir', reports], env, engine);
  const report = await readReport(reports);
  expect(await drillContainers(report.runId)).toEqual([]);
  return { ...run, report };
}

/** A --verify deep drill of `backups` in the :18 container. */
function deepInto18(backups: string) {
  return drill([
    '--target',
    'container',
    '--image',
    majorImage(18),
    '--backups',
    backups,
    '--verify',
    'deep',
  ]);
}

function check(report: DrillReport, id: string) {
  return report.checks.find((c) => c.id === id);
}

/** The precheck facts every case here is about: which majors met. */
function majors(report: DrillReport) {
  const fits = check(report, 'precheck-dump-fits-the-target');
  return {
    dumpedBy: report.dump?.dumpedBy?.major,
    server: Number(report.target?.serverVersion.split('.')[0]),
    crossMajor: fits?.facts.crossMajor,
  };
}

beforeAll(async () => {
  if (skip) return;
  scratch = await mkdtemp(join(tmpdir(), 'majors-test-'));
  await chmod(scratch, 0o755);
  // Each one that started is kept for afterAll even when another did not: none is left running.
  const [s18, s17, s15] = await Promise.allSettled([
    startSourceContainer(majorImage(18)),
    startSourceContainer(majorImage(17)),
    startTestCluster(),
  ]);
  if (s18.status === 'fulfilled') pg18 = s18.value;
  if (s17.status === 'fulfilled') pg17 = s17.value;
  if (s15.status === 'fulfilled') pg15 = s15.value;
  for (const started of [s18, s17, s15]) if (started.status === 'rejected') throw started.reason;
  for (const source of [pg18.handle, pg17.handle, pg15.handle]) await seedCanary(source, CANARY);
  // The 18 source is shaped unlike our fixture: awkward names and COPY corners, fresh statistics.
  await createAwkwardDatabases(pg18.handle);
  await psql(pg18.handle, CANARY, 'ANALYZE');
  dump18 = await dumpAll(pg18.handle);
}, 300_000);

afterAll(async () => {
  await Promise.all([pg18?.stop(), pg17?.stop(), pg15?.stop()]);
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

describe.skipIf(skip)('PostgreSQL 18 dumps restore and deep-verify in an 18 target', () => {
  it('the sources are the majors they claim', () => {
    expect([
      pg15.handle.serverVersion.major,
      pg17.handle.serverVersion.major,
      pg18.handle.serverVersion.major,
    ]).toEqual([15, 17, 18]);
  });

  it('self-contained: the backup is taken by pg_dumpall 18 inside the :18 container', async () => {
    const { code, stdout, report } = await drill([
      '--target',
      'container',
      '--image',
      majorImage(18),
      '--verify',
      'deep',
    ]);
    expect(code, stdout).toBe(0);
    expect(majors(report)).toEqual({ dumpedBy: 18, server: 18, crossMajor: null });
    expect(report.verdict).toBe('passed');
  });

  it('a real pg_dumpall 18 (\\restrict, transaction_timeout) of databases shaped unlike ours', async () => {
    expect(dump18).toMatch(/^\\restrict \S+$/m);
    expect(dump18).toMatch(/^SET transaction_timeout = 0;$/m);
    expect(dump18).toMatch(/^-- Dumped by pg_dump version 18\.\d+/m);
    const backups = await plainBackups('dumpall-18', dump18);
    const { code, stdout, report } = await deepInto18(backups);
    expect(code, stdout).toBe(0);
    expect(majors(report)).toEqual({ dumpedBy: 18, server: 18, crossMajor: null });
    const tables = report.deep?.tables ?? [];
    expect(tables.length).toBeGreaterThan(20);
    expect(tables.filter((t) => !t.digestMatch)).toEqual([]);
  });

  it('a pg_dumpall 18 --statistics: its statistics blocks restore too', async () => {
    const withStats = await toolOutput(pg18.handle, 'pg_dumpall', ['-w', '--statistics']);
    expect(withStats).toMatch(/pg_catalog\.pg_restore_relation_stats\(/);
    expect(withStats).toMatch(/pg_catalog\.pg_restore_attribute_stats\(/);
    const backups = await plainBackups('dumpall-18-stats', withStats);
    const { code, stdout, report } = await deepInto18(backups);
    expect(code, stdout).toBe(0);
    expect(report.verdict).toBe('passed');
  });

  it.each(['custom', 'directory'] as const)(
    'a pg_dump 18 %s-format archive of the canary',
    async (format) => {
      const backups = await archiveBackups(pg18.handle, CANARY, format);
      const { code, stdout, stderr, report } = await deepInto18(backups);
      expect(code, stdout + stderr).toBe(0);
      expect(majors(report)).toEqual({ dumpedBy: 18, server: 18, crossMajor: null });
      expect(report.dump?.kind).toBe('pg_dump');
      expect((report.deep?.tables ?? []).map((t) => [t.table, t.digestMatch])).toEqual([
        ['public.transactions', true],
        ['public.users', true],
      ]);
    },
  );
});

describe.skipIf(skip)('15 and 17 dumps restore into 18: a cross-major restore', () => {
  it.each([15, 17] as const)('a pg_dumpall %i restores into :18 with --verify deep', async (major) => {
    const sql = await dumpAll(major === 15 ? pg15.handle : pg17.handle);
    expect(sql).toMatch(new RegExp(`^-- Dumped by pg_dump version ${major}\\.\\d+`, 'm'));
    const backups = await plainBackups(`dumpall-${major}`, sql);
    const { code, stdout, report } = await deepInto18(backups);
    expect(code, stdout).toBe(0);
    expect(majors(report)).toEqual({ dumpedBy: major, server: 18, crossMajor: { from: major, to: 18 } });
    expect(check(report, 'precheck-dump-fits-the-target')?.message).toContain(
      `a cross-major restore: PostgreSQL ${major} → 18`,
    );
    expect(stdout).toContain(`a cross-major restore: PostgreSQL ${major} → 18`);
  });
});

describe.skipIf(skip)('an 18 dump aimed at an older major is refused before anything runs', () => {
  it.each([15, 17] as const)(
    'into a :%i container: the precheck fails naming both majors and the fix',
    async (major) => {
      const backups = await plainBackups(`refused-${major}`, dump18);
      const { code, report } = await drill([
        '--target',
        'container',
        '--image',
        majorImage(major),
        '--backups',
        backups,
      ]);
      expect(code).toBe(1);
      const fits = check(report, 'precheck-dump-fits-the-target');
      expect(fits?.status).toBe('failed');
      expect(fits?.code).toBe('DRILL_DUMP_NEWER_THAN_TARGET');
      expect(fits?.message).toMatch(
        new RegExp(
          `dumped from PostgreSQL 18\\.\\d+ by pg_dump 18\\.\\d+, but the target runs ${major}\\.\\d+`,
        ),
      );
      expect(fits?.message).toContain('--target container --image postgres:18');
      // Nothing ran after it: no drop, no restore.
      expect(report.checks.filter((c) => c.phase !== 'precheck').map((c) => c.status)).not.toContain(
        'passed',
      );
      expect(report.restore).toBeNull();
    },
  );

  it('--target local with only older binaries: the precheck refuses it, and the log names the container fix', async () => {
    const backups = await plainBackups('refused-local', dump18);
    const temp = await fresh('temp');
    const { code, stderr, report } = await drill([
      '--target',
      'local',
      '--backups',
      backups,
      '--temp-dir',
      temp,
    ]);
    expect(code).toBe(1);
    const fits = check(report, 'precheck-dump-fits-the-target');
    expect(fits?.code).toBe('DRILL_DUMP_NEWER_THAN_TARGET');
    expect(fits?.message).toMatch(
      /dumped from PostgreSQL 18\.\d+ by pg_dump 18\.\d+, but the target runs 15\.\d+/,
    );
    expect(report.restore).toBeNull();
    expect(stderr).toMatch(
      /no PostgreSQL 18 \(or newer\) here for \S+postgres-backup-2026-11-30-020000\.sql\.gz, dumped by PostgreSQL 18\.\d+ \(tried: .*PostgreSQL 15\.\d+, older than the dump\)\); taking \S+ \(PostgreSQL 15\.\d+\), and the precheck will refuse the dump/,
    );
    expect(stderr).toContain('Use --target container --image postgres:18');
    expect(await readdirOrEmpty(temp)).toEqual([]);
  });
});

async function readdirOrEmpty(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => []);
}

describe.skipIf(skip)('canary modes and the fault matrix against a live PostgreSQL 18 server', () => {
  let backups: string;
  /** The live server's pg_dumpall: the backup of every case here. */
  let liveDump: string;
  let bystanderBefore: Awaited<ReturnType<typeof snapshotBystander>>;

  beforeAll(async () => {
    if (skip) return;
    await createBystander(pg18.handle, 'bystander-secret-18');
    bystanderBefore = await snapshotBystander(pg18.handle);
    liveDump = await dumpAll(pg18.handle);
    backups = await plainBackups('live-18', liveDump);
    // Taken after the backup: every case starts from the canary as the backup holds it (a failed
    // canary-mode restore leaves it without its tables).
    await psql(pg18.handle, 'postgres', `CREATE DATABASE canary_pristine TEMPLATE ${CANARY}`);
  }, 120_000);

  beforeEach(async () => {
    await psql(pg18.handle, 'postgres', `DROP DATABASE IF EXISTS ${CANARY} WITH (FORCE)`);
    await psql(pg18.handle, 'postgres', `CREATE DATABASE ${CANARY} TEMPLATE canary_pristine`);
  });

  async function canaryUsers(): Promise<string[]> {
    return withClient(pg18.handle.connection, CANARY, async (client) => {
      const { rows } = await client.query<{ name: string }>('SELECT name FROM public.users ORDER BY id');
      return rows.map((r) => r.name);
    });
  }

  /**
   * Nothing but the canary touched, and nothing of the drill's left on the server: no copy database,
   * no advisory drill lock (class 'pgRD'), no session of its tools (given 10 s to wind down).
   */
  async function expectBystanderUntouched(): Promise<void> {
    const after = await snapshotBystander(pg18.handle);
    expect(fingerprint(after)).toEqual(fingerprint(bystanderBefore));
    const left = () =>
      withClient(pg18.handle.connection, 'postgres', async (client) => {
        const { rows } = await client.query<{ what: string }>(
          `SELECT 'database ' || datname AS what FROM pg_database WHERE datname LIKE 'drill\\_%'
           UNION ALL SELECT 'advisory lock' FROM pg_locks WHERE locktype = 'advisory' AND classid = 1885819460
           UNION ALL SELECT 'session ' || coalesce(query, '') FROM pg_stat_activity
            WHERE application_name LIKE 'pg-restore-drill%' AND pid <> pg_backend_pid()`,
        );
        return rows.map((r) => r.what);
      });
    let leftovers = await left();
    for (let i = 0; i < 50 && leftovers.length > 0; i++) {
      await sleep(200);
      leftovers = await left();
    }
    expect(leftovers).toEqual([]);
  }

  /** The live dump with `statement` inside the canary's section, after its data, before its constraints. */
  function intoCanarySection(dump: string, statement: string): string {
    const banner = dump.indexOf(`-- Database "${CANARY}" dump`);
    const at = dump.indexOf('\nALTER TABLE ONLY public.transactions\n', banner);
    if (banner < 0 || at < banner) throw new Error('no canary section to put it in');
    return `${dump.slice(0, at + 1)}${statement}\n${dump.slice(at + 1)}`;
  }

  it.each(['canary', 'canary-copy'] as const)('--mode %s on the live 18 server passes', async (mode) => {
    const temp = await fresh('temp');
    const { code, stdout, stderr, report } = await drill(
      ['--target', 'url', '--mode', mode, '--backups', backups, '--temp-dir', temp],
      pg18.cliEnv,
    );
    expect(code, stdout + stderr).toBe(0);
    expect(report.target?.serverVersion).toMatch(/^18\./);
    expect(await canaryUsers()).toEqual(['alice', 'bob', 'charlie']);
    await expectBystanderUntouched();
  });

  // The fault matrix's faults that do not need to kill this server's processes (test/fault-matrix.test.ts
  // tries all of them on a local 15 server), on 18: detected, and nothing but the canary touched.
  it('fault: corrupt gzip: the precheck fails, the canary untouched', async () => {
    const bytes = gzipSync(dump18);
    const mid = Math.floor(bytes.length / 2);
    bytes[mid] = (bytes[mid] ?? 0) ^ 0xff;
    const dir = await fresh('corrupt');
    await writeFile(join(dir, `postgres-backup-${AT}.sql.gz`), bytes);
    const { code, report } = await drill(
      ['--target', 'url', '--mode', 'canary', '--backups', dir, '--temp-dir', await fresh('temp')],
      pg18.cliEnv,
    );
    expect(code).toBe(1);
    expect(check(report, 'precheck-backup-is-whole')?.code).toBe('DRILL_BACKUP_CORRUPT');
    expect(await canaryUsers()).toEqual(['alice', 'bob', 'charlie']);
    await expectBystanderUntouched();
  });

  it("fault: a statement in the canary's section fails mid-way: the restore fails naming its line", async () => {
    const broken = intoCanarySection(liveDump, 'SELECT no_such_function();');
    const line = broken.split('\n').indexOf('SELECT no_such_function();') + 1;
    const dir = await plainBackups('section-fails', broken);
    const { code, report } = await drill(
      ['--target', 'url', '--mode', 'canary', '--backups', dir, '--temp-dir', await fresh('temp')],
      pg18.cliEnv,
    );
    expect(code).toBe(1);
    const restore = check(report, 'restore-completed');
    expect(restore?.code).toBe('DRILL_RESTORE_FAILED');
    expect(restore?.message).toContain(
      `line ${line}: ERROR 42883: function no_such_function() does not exist`,
    );
    await expectBystanderUntouched();
  });

  it('fault: SIGTERM mid-restore: stops, lets go of its lock and sessions, reports interrupted, exits 143', async () => {
    const slow = intoCanarySection(liveDump, 'SELECT pg_sleep(60);');
    const dir = await plainBackups('sigterm', slow);
    const reports = await fresh('report');
    const temp = await fresh('temp');
    const run = startCli(
      ['--target', 'url', '--mode', 'canary', '--backups', dir, '--temp-dir', temp, '--report-dir', reports],
      pg18.cliEnv,
      engine,
    );
    // As the fault matrix does: SIGTERM once the restore's session sits in the section's pg_sleep.
    const sleeping = () =>
      withClient(pg18.handle.connection, 'postgres', async (client) => {
        const { rows } = await client.query(
          // Canary mode restores into the run's drill_<run id> beside the canary, then swaps it in.
          `SELECT 1 FROM pg_stat_activity WHERE datname LIKE 'drill\\_%' AND query = 'SELECT pg_sleep(60);' AND state = 'active'`,
        );
        return rows.length > 0;
      });
    for (let i = 0; i < 300 && !(await sleeping()); i++) await sleep(100);
    expect(await sleeping()).toBe(true);
    const signalled = Date.now();
    run.child.kill('SIGTERM');
    const { code, stdout } = await run.done;
    expect(code, stdout).toBe(143);
    console.info(`the drill on 18 exited ${((Date.now() - signalled) / 1000).toFixed(1)} s after SIGTERM`);
    expect((await readReport(reports)).verdict).toBe('interrupted');
    await expectBystanderUntouched();
  });
});
