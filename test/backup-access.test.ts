/**
 * The drill in a pod whose user may not read the newest backup (the backup job's 0600 file of UID 1001):
 * it stops before any work with the file's owner, mode and fix, exit 2, and leaves that line as the
 * container's termination message. Run as the CronJob runs it: without root's power to read past file
 * permissions, as the fault matrix does.
 */
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readReport, runCli } from './support/run-cli.ts';

const WITHOUT_DAC_OVERRIDE = ['setpriv', '--bounding-set=-dac_override,-dac_read_search', '--'];
const NAME = 'postgres-backup-2026-11-24-031500.sql.gz';

describe('the newest backup is not readable by the drill', () => {
  let scratch = '';
  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'drill-access-'));
  });
  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  it('stops before any work naming owner, mode and fix, and writes it as the termination message', async () => {
    const backups = join(scratch, 'backups');
    await mkdir(backups);
    const file = join(backups, NAME);
    await writeFile(file, 'never read');
    await chown(file, 1001, 1001);
    await chmod(file, 0o600);
    const terminationLog = join(scratch, 'termination-log');
    await writeFile(terminationLog, '');
    const reports = join(scratch, 'report');

    const run = await runCli(
      ['--backups', backups, '--target', 'local', '--report-dir', reports],
      { DRILL_TERMINATION_LOG: terminationLog, HOME: scratch },
      { prefix: WITHOUT_DAC_OVERRIDE },
    );

    const message = `${file} cannot be read by the drill (uid 0, gid 0, groups 0): permission denied; it is owned by uid 1001, gid 1001, mode 0600 (rw-------). Fix: make the backup job write it group-readable (umask 027 before pg_dumpall, or chmod 0640 after it) and add its group 1001 to the drill pod's supplementalGroups (k8s/components/backup-access, docs/deploy.md "Reading the backups").`;
    expect(run.code, run.stderr).toBe(2);
    expect(run.stderr.trim()).toBe(`pg-restore-drill: ${message}`);
    const report = await readReport(reports);
    expect([report.verdict, report.exitCode, report.errors, report.counts]).toEqual([
      'error',
      2,
      [message],
      { passed: 0, failed: 0, skipped: 0 },
    ]);
    const runId = report.runId;
    expect(await readFile(terminationLog, 'utf8')).toEqual(
      `pg-restore-drill: ERROR  (run ${runId}, backups)\n  ERROR     ${message}\n`,
    );
  });
});
