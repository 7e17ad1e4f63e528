/**
 * The whole drill, as an operator runs it: the CLI against a real throwaway cluster, with backups made
 * by a real pg_dumpall and damaged by the test.
 */
import { randomBytes } from 'node:crypto';
import { readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { noEngineConfigured } from '../lib/exec/container-engine.ts';
import {
  dumpAll,
  psql,
  slowDump,
  startTestCluster,
  writeBackup,
  writeBackupBytes,
} from './support/cluster.ts';
import { restorePsqlUnder } from './support/drill-processes.ts';
import { drillSetup } from './support/drill-setup.ts';
import { cliEnv, readReport, runCli, startCli } from './support/run-cli.ts';

const ALL_STEPS = [
  'backup: newest backup found',
  // A throwaway server in cluster mode: the precheck reads the header, the restore's stream the rest.
  'precheck: backup header read',
  'precheck: dump fits the target',
  'drop: canary snapshot taken',
  'drop: canary dropped and gone',
  'restore: completed',
  'restore: within the RTO budget',
  'verify: canary exists again',
  'verify: users are exactly alice, bob and charlie',
  'verify: transactions are as expected',
  'verify: canary foreign key present',
  'verify: foreign keys validated, no orphans',
  'verify: sequences beyond their columns',
];
/** The last steps read every table back and check every database; --verify canary skips them, saying why. */
const DEEP_STEPS = [
  'verify: every table matches the backup',
  'verify: foreign keys and sequences in every database',
];

const setup = drillSetup('drill-cli-test-');

describe('self-contained mode', () => {
  it('passes every check, prints the restore time and writes report.json and one JUnit case per check', async () => {
    const reports = await setup.freshDir('self-contained');
    const junit = join(reports, 'junit.xml');
    const { code, stdout } = await runCli([
      '--report-dir',
      reports,
      '--junit',
      junit,
      '--temp-dir',
      setup.scratch,
    ]);
    expect(code, stdout).toBe(0);
    expect(stdout).toMatch(/restore {3}\d+\.\d\d s \(RTO budget 300 s\)/);
    const report = await readReport(reports);
    expect(report.verdict).toBe('passed');
    expect(report.checks.map((c) => [c.name, c.status])).toEqual([
      ...ALL_STEPS.map((name) => [name, 'passed']),
      ...DEEP_STEPS.map((name) => [name, 'skipped']),
    ]);
    expect(report.backup?.file).toMatch(/^postgres-backup-\d{4}-\d\d-\d\d-\d{6}\.sql\.gz$/);
    expect(report.restore?.skippedStatements.map((s) => s.statement)).toEqual([
      'CREATE ROLE postgres;',
      'ALTER ROLE postgres WITH …',
    ]);
    const xml = await readFile(junit, 'utf8');
    const cases = [...xml.matchAll(/<testcase [^>]*name="restore drill of backup_test &gt; ([^"]+)"/g)].map(
      (m) => m[1],
    );
    expect(cases).toEqual([...ALL_STEPS, ...DEEP_STEPS]);
    expect(xml).toMatch(/failures="0"/);
    // Nothing of the run is left behind in the temp directory.
    expect(await readdir(setup.scratch)).toEqual(['self-contained']);
  });
});

describe('--backups DIR', () => {
  it('restores the newest good backup as a whole cluster and verifies the canary', async () => {
    const dir = await setup.freshDir('good');
    await writeBackup(dir, '2026-11-20-030000', setup.goodDump);
    await writeBackup(dir, '2026-11-21-030000', setup.goodDump);
    await writeFile(join(dir, 'notes.txt'), 'not a backup');
    const reports = await setup.freshDir('good-report');
    const { code, stdout } = await runCli(['--backups', dir, '--report-dir', reports]);
    expect(code, stdout).toBe(0);
    const report = await readReport(reports);
    expect(report.backup?.file).toBe('postgres-backup-2026-11-21-030000.sql.gz');
    expect(report.checks.find((c) => c.id === 'backup-newest-backup-found')?.facts.ignored).toEqual([
      { name: 'notes.txt', reason: expect.stringMatching(/^does not match postgres-backup-/) },
    ]);
    expect(report.checks.find((c) => c.id === 'drop-canary-snapshot-taken')?.message).toMatch(
      /absent before the restore/,
    );
    expect(report.counts).toEqual({ passed: ALL_STEPS.length, failed: 0, skipped: DEEP_STEPS.length });
  });

  /**
   * One pass into the throwaway server: the precheck reads the header, and the rest of the file is
   * checked on the restore's own stream. Damage in the head fails the precheck; damage further on fails
   * `restore: completed` with the backup's own error, naming the file and the check, and nothing is
   * verified from the partial restore (the throwaway server is discarded).
   */
  const BEFORE_THE_RESTORE = ['backup-newest-backup-found'];
  /** The good dump with ~2 MB of incompressible comment lines before its trailer: its end comes long after its head. */
  const TRAILER = '-- PostgreSQL database cluster dump complete';
  const longDump = () =>
    setup.goodDump.replace(
      TRAILER,
      `${Array.from({ length: 20_000 }, () => `-- ${randomBytes(48).toString('hex')}`).join('\n')}\n\n${TRAILER}`,
    );
  const THROUGH_THE_DROP = [
    'backup-newest-backup-found',
    'precheck-backup-header-read',
    'precheck-dump-fits-the-target',
    'drop-canary-snapshot-taken',
    'drop-canary-dropped-and-gone',
  ];
  const damages: {
    what: string;
    damage: (gz: Buffer) => Buffer;
    failedCheck: string;
    code: string;
    reason: RegExp;
    passed: string[];
  }[] = [
    {
      what: 'corrupt in its head',
      damage: (gz) => flip(gz, 12),
      failedCheck: 'precheck-backup-header-read',
      code: 'DRILL_BACKUP_CORRUPT',
      reason: /is corrupt: gzip says/,
      passed: BEFORE_THE_RESTORE,
    },
    {
      what: 'corrupt at its end (the CRC)',
      damage: (gz) => flip(gz, gz.length - 6),
      failedCheck: 'restore-completed',
      code: 'DRILL_BACKUP_CORRUPT',
      reason: /is corrupt: gzip says "incorrect data check"/,
      passed: THROUGH_THE_DROP,
    },
    {
      what: 'truncated',
      damage: (gz) => gz.subarray(0, gz.length - 100),
      failedCheck: 'restore-completed',
      code: 'DRILL_BACKUP_TRUNCATED',
      reason: /is truncated/,
      passed: THROUGH_THE_DROP,
    },
    {
      what: 'missing the cluster trailer',
      damage: () => {
        const dump = longDump();
        return gzipSync(dump.slice(0, dump.lastIndexOf(TRAILER)));
      },
      failedCheck: 'restore-completed',
      code: 'DRILL_BACKUP_INCOMPLETE',
      reason: /does not end with `-- PostgreSQL database cluster dump complete`/,
      passed: THROUGH_THE_DROP,
    },
    {
      what: 'followed by bytes after its gzip stream',
      damage: (gz) => Buffer.concat([gz, Buffer.alloc(512)]),
      failedCheck: 'restore-completed',
      code: 'DRILL_BACKUP_CORRUPT',
      reason: /is corrupt: 512 byte\(s\) follow the end of the gzip stream/,
      passed: THROUGH_THE_DROP,
    },
  ];
  it.each(damages)(
    'fails when the newest backup is $what, names it, and never falls back to the older good one',
    async ({ damage, failedCheck, code: errorCode, reason, passed }) => {
      const dir = await setup.freshDir('damaged');
      await writeBackup(dir, '2026-11-20-030000', setup.goodDump);
      const newest = await writeBackupBytes(dir, '2026-11-21-030000', damage(gzipSync(longDump())));
      const reports = await setup.freshDir('damaged-report');
      const { code, stdout } = await runCli(['--backups', dir, '--report-dir', reports]);
      expect(code, stdout).toBe(1);
      expect(stdout).toContain(newest);
      const report = await readReport(reports);
      expect(report.verdict).toBe('failed');
      expect(report.backup?.file).toBe('postgres-backup-2026-11-21-030000.sql.gz');
      const failed = report.checks.find((c) => c.id === failedCheck);
      expect([failed?.status, failed?.code]).toEqual(['failed', errorCode]);
      expect(failed?.message).toMatch(reason);
      expect(failed?.message).toContain(newest);
      expect(report.checks.filter((c) => c.status === 'passed').map((c) => c.id)).toEqual(passed);
      expect(new Set(report.checks.filter((c) => c.phase === 'verify').map((c) => c.status))).toEqual(
        new Set(['skipped']),
      );
    },
  );

  it('exits 2 when the directory holds no backup, saying what was looked for and where', async () => {
    const dir = await setup.freshDir('empty');
    await writeFile(join(dir, 'postgres-backup-2026-13-01-030000.sql.gz'), 'x');
    const { code, stderr } = await runCli(['--backups', dir]);
    expect(code).toBe(2);
    expect(stderr).toContain(
      `No backup found in ${dir}: looked for postgres-backup-{timestamp}{.sql.gz,.sql,.dump,.dir}`,
    );
    expect(stderr).toContain(
      'postgres-backup-2026-13-01-030000.sql.gz (timestamp `2026-13-01-030000` is not a valid',
    );
  });

  it('fails a restore that breaks part-way, naming the line of the backup and the error', async () => {
    const broken = setup.goodDump.replace(
      '\nALTER TABLE ONLY public.transactions\n',
      '\nSELECT no_such_function();\nALTER TABLE ONLY public.transactions\n',
    );
    const line = broken.split('\n').indexOf('SELECT no_such_function();') + 1;
    expect(line).toBeGreaterThan(0);
    const dir = await setup.freshDir('broken');
    await writeBackup(dir, '2026-11-21-030000', broken);
    const reports = await setup.freshDir('broken-report');
    const { code, stdout } = await runCli(['--backups', dir, '--report-dir', reports]);
    expect(code, stdout).toBe(1);
    const report = await readReport(reports);
    const restore = report.checks.find((c) => c.id === 'restore-completed');
    expect(restore?.status).toBe('failed');
    expect(restore?.code).toBe('DRILL_RESTORE_FAILED');
    expect(restore?.message).toBe(
      `Restore failed: the dump hit an error and psql stopped there (ON_ERROR_STOP): line ${line}: ERROR 42883: function no_such_function() does not exist`,
    );
    expect(restore?.facts.errors).toMatchObject([{ line, sqlstate: '42883' }]);
    expect(report.checks.filter((c) => c.phase === 'verify').map((c) => c.status)).toEqual(
      Array(8).fill('skipped'),
    );
  });

  it('fails when the backup does not hold the canary', async () => {
    const other = await startTestCluster();
    try {
      await psql(other.handle, 'postgres', 'CREATE DATABASE app');
      const dir = await setup.freshDir('no-canary');
      await writeBackup(dir, '2026-11-21-030000', await dumpAll(other.handle));
      const reports = await setup.freshDir('no-canary-report');
      const { code } = await runCli(['--backups', dir, '--report-dir', reports]);
      expect(code).toBe(1);
      const report = await readReport(reports);
      expect(report.checks.find((c) => c.id === 'restore-completed')?.status).toBe('passed');
      const back = report.checks.find((c) => c.id === 'verify-canary-exists-again');
      expect([back?.status, back?.message]).toEqual([
        'failed',
        'backup_test was not restored: the backup does not hold backup_test',
      ]);
    } finally {
      await other.stop();
    }
  });

  it('refuses a dump from a newer PostgreSQL major before touching the server', async () => {
    const newer = setup.goodDump.replaceAll(
      '-- Dumped from database version 15.',
      '-- Dumped from database version 18.',
    );
    const dir = await setup.freshDir('newer');
    const file = await writeBackup(dir, '2026-11-21-030000', newer);
    const reports = await setup.freshDir('newer-report');
    const { code } = await runCli(['--backups', dir, '--report-dir', reports]);
    expect(code).toBe(1);
    const report = await readReport(reports);
    const fits = report.checks.find((c) => c.id === 'precheck-dump-fits-the-target');
    expect(fits?.code).toBe('DRILL_DUMP_NEWER_THAN_TARGET');
    expect(fits?.message).toMatch(
      new RegExp(`^${file.replaceAll('.', '\\.')} was dumped from PostgreSQL 18\\.\\d+ `),
    );
    expect(report.checks.find((c) => c.id === 'drop-canary-dropped-and-gone')?.status).toBe('skipped');
  });
});

describe('--target url', () => {
  it('refuses a whole-cluster restore into a server it did not start unless told it is scratch', async () => {
    const { connection } = setup.source.handle;
    const env = {
      PGHOST: connection.host,
      PGPORT: String(connection.port),
      PGUSER: connection.user,
      PGPASSWORD: connection.password,
    };
    // Self-contained (no --backups) it would seed its canary there and copy the whole server: refused first.
    const selfContained = await runCli(['--target', 'url'], env);
    expect(selfContained.code).toBe(2);
    expect(selfContained.stderr).toMatch(
      /--target url is a live server \(no --scratch\): give --backups DIR, the backups to drill, or declare the server disposable with --scratch/,
    );
    const backups = await setup.freshDir('refused-cluster-backups');
    await writeBackup(backups, '2026-11-21-030000', setup.goodDump);
    const { code, stderr } = await runCli(['--target', 'url', '--backups', backups], env);
    expect(code).toBe(2);
    expect(stderr).toMatch(/Refusing to restore a whole cluster into existing server .* pass --scratch/);
    // Told it is scratch, it still refuses a server that holds databases other than the canary.
    await psql(setup.source.handle, 'postgres', 'CREATE DATABASE bystander');
    try {
      const scratchRun = await runCli(['--target', 'url', '--scratch'], env);
      expect(scratchRun.code).toBe(2);
      expect(scratchRun.stderr).toMatch(/already holds database\(s\) bystander/);
    } finally {
      await psql(setup.source.handle, 'postgres', 'DROP DATABASE bystander');
    }
  });

  it('runs the self-contained drill on an empty scratch server', async () => {
    const empty = await startTestCluster();
    try {
      const { connection } = empty.handle;
      const reports = await setup.freshDir('url-report');
      const { code, stdout } = await runCli(['--target', 'url', '--scratch', '--report-dir', reports], {
        DATABASE_URL: `postgres://${connection.user}@127.0.0.1:${connection.port}/postgres`,
        PGPASSWORD: connection.password,
      });
      expect(code, stdout).toBe(0);
      const report = await readReport(reports);
      expect(report.target?.kind).toBe('url');
      expect(JSON.stringify(report)).not.toContain(connection.password);
    } finally {
      await empty.stop();
    }
  });
});

describe('two drills at once', () => {
  it('the second drill on the same server exits 2 naming the first one', async () => {
    const shared = await startTestCluster();
    try {
      const { connection } = shared.handle;
      const env = {
        DATABASE_URL: `postgres://${connection.user}@127.0.0.1:${connection.port}/postgres`,
        PGPASSWORD: connection.password,
      };
      const dir = await setup.freshDir('two-slow');
      await writeBackup(dir, '2026-11-21-030000', slowDump(setup.goodDump));
      const firstReports = await setup.freshDir('two-a');
      const first = startCli(
        ['--target', 'url', '--scratch', '--backups', dir, '--report-dir', firstReports],
        env,
      );
      // The first drill holds the lock while its restore's psql runs (/proc shows it).
      await restorePsqlUnder(first.child.pid as number, () => first.child.exitCode !== null);
      const second = await runCli(
        ['--target', 'url', '--scratch', '--backups', dir, '--report-dir', await setup.freshDir('two-b')],
        env,
      );
      expect(second.code).toBe(2);
      const holder =
        /^pg-restore-drill: Another drill is running on this server: pg-restore-drill (\S+) \(backend pid \d+ from 127\.0\.0\.1, since [^)]+\) holds the drill lock\./m.exec(
          second.stderr,
        );
      first.child.kill('SIGTERM');
      expect((await first.done).code).toBe(143);
      expect(holder?.[1]).toBe((await readReport(firstReports)).runId);
    } finally {
      await shared.stop();
    }
  });
});

describe('nothing to restore into', () => {
  it('exits 2 naming both ways out when there is neither a container engine nor PostgreSQL binaries', async () => {
    // A PATH holding only node, no DOCKER_HOST (runCli drops it), and no version roots to fall back on.
    const bin = await setup.freshDir('only-node/bin');
    await symlink(process.execPath, join(bin, 'node'));
    const { code, stderr } = await runCli([], {
      PATH: bin,
      DRILL_PG_SEARCH_ROOTS: join(setup.scratch, 'nowhere'),
    });
    expect(code).toBe(2);
    // With no socket or DOCKER_HOST for testcontainers to try, the drill does not load it to ask.
    const unasked = noEngineConfigured(cliEnv());
    expect(unasked).toMatch(/^nothing to ask: DOCKER_HOST is not set and none of .*docker\.sock exists$/);
    expect(stderr.trim()).toBe(
      `no container engine answered (${unasked}): looking for local PostgreSQL binaries\npg-restore-drill: Nothing to restore into: no container engine answered (${unasked}), and no PostgreSQL binaries found (needed: initdb, postgres, psql, pg_dumpall, pg_restore; tried: PATH, ${join(setup.scratch, 'nowhere')}). Either start a container engine (Docker, or podman with DOCKER_HOST=unix:///run/podman/podman.sock) for --target container, or install the PostgreSQL server binaries (Debian: apt-get install postgresql; or --pg-bindir DIR) for --target local.`,
    );
  });
});

describe('interruption', () => {
  it('on SIGTERM mid-restore stops psql, removes the throwaway cluster, reports and exits 143', async () => {
    const dir = await setup.freshDir('slow');
    await writeBackup(dir, '2026-11-21-030000', slowDump(setup.goodDump));
    const temp = await setup.freshDir('slow-temp');
    const reports = await setup.freshDir('slow-report');
    const junit = join(setup.scratch, 'slow-junit.xml');
    const run = startCli(['--backups', dir, '--report-dir', reports, '--temp-dir', temp, '--junit', junit]);
    // Signalled once the restore's psql runs, as /proc shows it, not when a step line is printed: vitest
    // may hold a finished step's result back until the next one ends (its task updates are throttled).
    await restorePsqlUnder(run.child.pid as number, () => run.child.exitCode !== null);
    run.child.kill('SIGTERM');
    const { code, stdout, stderr } = await run.done;
    expect(code, stdout).toBe(143);
    const report = await readReport(reports);
    expect(report.verdict).toBe('interrupted');
    expect(report.errors).toEqual(['interrupted by SIGTERM']);
    // The step the signal cut short says so, and so does the JUnit file a CI gate reads: one failure,
    // not "0 failures, 10 skipped"; the steps never reached are not run, in the drill's words.
    const restore = report.checks.find((c) => c.id === 'restore-completed');
    expect(restore?.status, `${stdout}\n${stderr}`).toBe('interrupted');
    expect(restore?.message).toMatch(
      /^interrupted by SIGTERM \d+\.\d\d s into this check: it did not finish/,
    );
    expect(report.checks.find((c) => c.id === 'verify-canary-exists-again')?.message).toBe(
      'not run: the drill was interrupted by SIGTERM',
    );
    expect(report.counts).toMatchObject({ failed: 0, interrupted: 1 });
    expect(stdout).toContain(`  STOPPED   restore: completed: ${restore?.message}`);
    const xml = await readFile(junit, 'utf8');
    expect(xml).toMatch(/<testsuites [^>]*failures="1"/);
    expect(xml).toContain(`<failure message="${restore?.message}" type="Interrupted">`);
    expect(await readdir(temp)).toEqual([]);
  });
});

describe('interruption after steps that skipped themselves', () => {
  it('the JUnit file fails only the step the stop cut short, not the ones that had skipped by their own choice', async () => {
    const dir = await setup.freshDir('slow-none');
    await writeBackup(dir, '2026-11-21-030000', slowDump(setup.goodDump));
    const junit = join(setup.scratch, 'slow-none-junit.xml');
    const reports = await setup.freshDir('slow-none-report');
    const run = startCli([
      ...['--backups', dir, '--report-dir', reports, '--junit', junit],
      ...['--canary', 'none', '--verify', 'deep'],
    ]);
    await restorePsqlUnder(run.child.pid as number, () => run.child.exitCode !== null);
    run.child.kill('SIGTERM');
    expect((await run.done).code).toBe(143);
    const report = await readReport(reports);
    expect(report.counts).toMatchObject({ failed: 0, interrupted: 1 });
    const xml = await readFile(junit, 'utf8');
    expect(xml).toMatch(/<testsuites [^>]*failures="1"/);
    // The canary steps skipped themselves (--canary none) before the signal: skipped, not failed.
    const snapshot =
      /<testcase [^>]*name="[^"]*drop: canary snapshot taken"[^>]*>([\s\S]*?)<\/testcase>/.exec(xml);
    expect(snapshot?.[1]).toContain('<skipped/>');
    expect(snapshot?.[1]).not.toContain('<failure');
  });
});

function flip(buffer: Buffer, at: number): Buffer {
  const copy = Buffer.from(buffer);
  copy[at] = (copy[at] ?? 0) ^ 0xff;
  return copy;
}

describe('a --temp-dir that cannot hold the run', () => {
  it.each([
    ['does not exist', () => join(setup.scratch, 'no-such-dir'), 'no such directory'],
    ['is a file', () => join(setup.scratch, 'a-file'), 'not a directory'],
  ])('%s: exit 2 before any server, naming --temp-dir', async (_, dir, said) => {
    await writeFile(join(setup.scratch, 'a-file'), '');
    const backups = await setup.freshDir('temp-dir-backups');
    await writeBackup(backups, '2026-11-21-030000', setup.goodDump);
    const reports = await setup.freshDir('temp-dir-reports');
    const { code, stderr } = await runCli([
      ...['--target', 'local', '--backups', backups, '--report-dir', reports, '--temp-dir', dir()],
    ]);
    expect(stderr).toContain(
      `--temp-dir / DRILL_TEMP_DIR ${dir()}: ${said}: give an existing directory the drill can write`,
    );
    expect(code).toBe(2);
    expect((await readReport(reports)).checks).toEqual([]);
  });
});
