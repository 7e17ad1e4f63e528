/**
 * What the drill says about its inputs and its clock, as an operator runs it: a falsifiable RTO, usage
 * errors that stop it before anything starts, and a newest backup that is still being written.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { writeBackup } from './support/cluster.ts';
import { drillSetup } from './support/drill-setup.ts';
import { readReport, runCli, startCli } from './support/run-cli.ts';

const setup = drillSetup('drill-inputs-');

/** The dump with `statement` just before its trailer: the restore takes at least as long as it. */
function withStatementAtEnd(dump: string, statement: string): string {
  const at = dump.lastIndexOf('--\n-- PostgreSQL database cluster dump complete');
  if (at < 0) throw new Error('not a complete pg_dumpall');
  return `${dump.slice(0, at)}${statement}\n\n${dump.slice(at)}`;
}

describe('the RTO budget', () => {
  it('fails when the restore takes longer than the budget, saying how long it took; the restore itself completed', async () => {
    const dir = await setup.freshDir('over-budget');
    await writeBackup(dir, '2026-11-21-030000', withStatementAtEnd(setup.goodDump, 'SELECT pg_sleep(1.5);'));
    const reports = await setup.freshDir('over-budget-report');
    const { code, stdout } = await runCli([
      '--target',
      'local',
      '--backups',
      dir,
      '--report-dir',
      reports,
      '--temp-dir',
      setup.scratch,
      '--rto',
      '1',
    ]);
    expect(code, stdout).toBe(1);
    const report = await readReport(reports);
    const restore = report.checks.find((c) => c.id === 'restore-completed');
    const rto = report.checks.find((c) => c.id === 'restore-within-the-rto-budget');
    expect(restore?.status).toBe('passed');
    expect(rto?.status).toBe('failed');
    const took = /^the restore took (\d+\.\d\d) s, (\d+\.\d\d) s over the 1 s budget$/.exec(
      rto?.message ?? '',
    );
    expect(took, rto?.message).not.toBeNull();
    // pg_sleep(1.5) alone is longer than the budget: the figure is the real duration, not the budget.
    expect(Number(took?.[1])).toBeGreaterThanOrEqual(1.5);
    expect(Number(took?.[2])).toBeCloseTo(Number(took?.[1]) - 1, 2);
    expect(rto?.facts).toMatchObject({ rtoBudgetSeconds: 1, rtoCeilingSeconds: 3, stoppedAtCeiling: false });
    expect(report.restore?.seconds).toBeGreaterThanOrEqual(1.5);
    expect(report.restore?.seconds).toBe(rto?.facts.seconds);
    // Every verify step still ran: only the clock failed.
    expect(report.checks.filter((c) => c.phase === 'verify' && c.status === 'failed')).toEqual([]);
  });
});

describe('usage errors, before anything starts', () => {
  it('--canary none with --verify canary exits 2 naming the fix', async () => {
    const { code, stdout, stderr } = await runCli(['--canary', 'none', '--temp-dir', setup.scratch]);
    expect([code, stdout]).toEqual([2, '']);
    expect(stderr).toBe(
      'pg-restore-drill: --canary none with --verify canary would verify nothing: there is no canary to check. Use --verify deep (every table of the backup is read back and compared), or name the canary database with --canary DB.\n',
    );
  });

  it('an unwritable --report-dir exits 2 naming the setting and the path, without a stack trace', async () => {
    const file = join(await setup.freshDir('not-a-dir'), 'file');
    await writeFile(file, 'x');
    const reportDir = join(file, 'reports');
    const { code, stdout, stderr } = await runCli(['--report-dir', reportDir, '--temp-dir', setup.scratch]);
    expect([code, stdout]).toEqual([2, '']);
    expect(stderr).toBe(
      `pg-restore-drill: Cannot write the report to --report-dir / DRILL_REPORT_DIR ${reportDir}: a part of the path is a file, not a directory. Point it at a writable directory.\n`,
    );
  });

  it('an unwritable --junit path exits 2 naming the setting and the path, and no server is started', async () => {
    const temp = await setup.freshDir('junit-temp');
    const junit = await setup.freshDir('junit-is-a-dir');
    const reports = await setup.freshDir('junit-report');
    const { code, stdout, stderr } = await runCli(['--report-dir', reports, '--temp-dir', temp], {
      DRILL_JUNIT: junit,
    });
    expect([code, stdout]).toEqual([2, '']);
    expect(stderr).toBe(
      `pg-restore-drill: Cannot write the JUnit report to --junit / DRILL_JUNIT ${junit}: it is a directory. Point it at a writable file path.\n`,
    );
    expect([await readdir(temp), await readdir(reports), await readdir(junit)]).toEqual([[], [], []]);
  });
});

/**
 * A backup job still writing the newest backup: appends its gzip one byte every 50 ms (it would take
 * minutes to finish) until told to finish on stdin, then writes the rest at once and exits.
 */
function slowWriter(bytes: Buffer, path: string): { child: ChildProcess; finish: () => Promise<void> } {
  const script = `
    const fs = require('node:fs');
    const data = Buffer.from(process.argv[2], 'base64');
    const file = process.argv[1];
    let at = 16;
    fs.writeFileSync(file, data.subarray(0, at));
    const tick = setInterval(() => {
      if (at < data.length - 1) fs.appendFileSync(file, data.subarray(at, ++at));
    }, 50);
    process.stdin.once('data', () => {
      clearInterval(tick);
      fs.appendFileSync(file, data.subarray(at));
      process.exit(0);
    });`;
  const child = spawn(process.execPath, ['-e', script, path, bytes.toString('base64')], {
    stdio: ['pipe', 'ignore', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return {
    child,
    finish: async () => {
      child.stdin?.write('finish\n');
      await exited;
    },
  };
}

async function until(what: string, test: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await test())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * A backup directory `name` holding the good dump as an older complete backup and, as the newest, the
 * same dump still being written (the writer has started), and a report directory `name-report`. The
 * caller kills the writer.
 */
async function growingBackups(name: string) {
  const dir = await setup.freshDir(name);
  await writeBackup(dir, '2026-11-20-030000', setup.goodDump);
  const newest = join(dir, 'postgres-backup-2026-11-21-030000.sql.gz');
  const writer = slowWriter(gzipSync(setup.goodDump), newest);
  try {
    await until('the writer to start', () =>
      stat(newest).then(
        () => true,
        () => false,
      ),
    );
    return { dir, newest, writer, reports: await setup.freshDir(`${name}-report`) };
  } catch (error) {
    writer.child.kill('SIGKILL');
    throw error;
  }
}

describe('a newest backup that is still being written', () => {
  it('is waited for, never swapped for the older complete one, and drilled once it is whole', async () => {
    const { dir, writer, reports } = await growingBackups('growing');
    try {
      const run = startCli(
        ['--target', 'local', '--backups', dir, '--report-dir', reports, '--temp-dir', setup.scratch],
        { DRILL_GROWTH_CHECK_INTERVAL: '0.5' },
      );
      let stderr = '';
      run.child.stderr?.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      await until(
        'the drill to say the backup is still being written',
        async () =>
          /postgres-backup-2026-11-21-030000\.sql\.gz is still being written \(\d+ → \d+ bytes in 0\.5 s\): waiting up to 600 s for it to finish/.test(
            stderr,
          ) || run.child.exitCode !== null,
      );
      await writer.finish();
      const { code, stdout } = await run.done;
      expect(code, `${stdout}\n${stderr}`).toBe(0);
      const report = await readReport(reports);
      expect(report.backup?.file).toBe('postgres-backup-2026-11-21-030000.sql.gz');
      const found = report.checks.find((c) => c.id === 'backup-newest-backup-found');
      expect(found?.message).toMatch(
        /^postgres-backup-2026-11-21-030000\.sql\.gz \(2 candidate\(s\), 0 other file\(s\) ignored\); it was still being written: waited \d+\.\d s for it to finish$/,
      );
      expect(report.verdict).toBe('passed');
    } finally {
      writer.child.kill('SIGKILL');
    }
  });

  it('fails at the bound saying it is still being written (not truncated), and never falls back to the older one', async () => {
    const { dir, newest, writer, reports } = await growingBackups('still-growing');
    try {
      const { code, stdout } = await runCli(
        ['--target', 'local', '--backups', dir, '--report-dir', reports, '--temp-dir', setup.scratch],
        { DRILL_GROWTH_CHECK_INTERVAL: '0.3', DRILL_WAIT_FOR_NEWEST: '1' },
      );
      expect(code, stdout).toBe(1);
      const report = await readReport(reports);
      const found = report.checks.find((c) => c.id === 'backup-newest-backup-found');
      expect([found?.status, found?.code]).toEqual(['failed', 'DRILL_BACKUP_STILL_BEING_WRITTEN']);
      expect(found?.message).toMatch(
        new RegExp(
          `^${newest.replaceAll('.', '\\.')} is still being written: it grew from \\d+ to \\d+ bytes while the drill waited \\d+\\.\\d s for it \\(--wait-for-newest / DRILL_WAIT_FOR_NEWEST 1 s\\)\\. The backup job is still running or hung: check it, and drill again once it has finished\\. The drill never falls back to an older backup\\.$`,
        ),
      );
      // Nothing was restored, from the newest or from the older complete backup.
      expect(report.checks.filter((c) => c.status === 'passed')).toEqual([]);
      expect(report.restore).toBeNull();
    } finally {
      writer.child.kill('SIGKILL');
    }
  });
});
