/**
 * The drill's standard output read by someone who goes away (`npm run drill | head -1`, a log
 * collector that dies): the drill runs to its end all the same, with its report, its exit status and
 * its cleanup, since none of them needs that reader. Before, the first write to the closed pipe (EPIPE)
 * ended the process mid-run: no report, and its work directory with the backup it made left behind.
 */
import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { drillSetup } from './support/drill-setup.ts';
import { CLI_ENTRY, cliEnv, nodeArgs, ROOT, readReport } from './support/run-cli.ts';

const setup = drillSetup('drill-output-closed-');

describe('a drill whose standard output is closed after its first line', () => {
  it('still passes, reports and cleans up: exit 0, report passed, nothing left in its temp dir', async () => {
    const temp = await setup.freshDir('temp');
    const reports = await setup.freshDir('reports');
    const args = ['--target', 'local', '--progress', 'off', '--report-dir', reports, '--temp-dir', temp];
    const child = spawn(process.execPath, nodeArgs(CLI_ENTRY, args), {
      cwd: ROOT,
      env: cliEnv(),
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let firstLine = '';
    child.stdout.on('data', (chunk: Buffer) => {
      if (firstLine) return;
      firstLine = chunk.toString().split('\n')[0] ?? '';
      // As `head -1` does: the read end goes, and every later write of the drill meets EPIPE.
      child.stdout.destroy();
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    expect(firstLine).toMatch(/^pg-restore-drill \S+: self-contained drill of backup_test/);
    const report = await readReport(reports);
    expect([code, report.verdict, report.counts.failed]).toEqual([0, 'passed', 0]);
    expect(report.counts.passed).toBeGreaterThan(5);
    expect(await readdir(temp)).toEqual([]);
  });
});
