/**
 * Output that fits where it is read (`--progress auto`, `--log-format auto`): a CI log (stderr not a
 * terminal) gets human lines only, the restore's progress among them as plain lines; a pod gets JSON
 * objects only on stderr. The step lines and the summary stay on stdout in either.
 */
import { describe, expect, it } from 'vitest';
import { writeBackup } from './support/cluster.ts';
import { drillSetup } from './support/drill-setup.ts';
import { readReport, runCli } from './support/run-cli.ts';

const setup = drillSetup('drill-output-');

async function drill(name: string, env: NodeJS.ProcessEnv) {
  const backups = await setup.freshDir(`${name}-backups`);
  await writeBackup(backups, '2026-11-21-030000', setup.goodDump);
  const reports = await setup.freshDir(`${name}-reports`);
  const args = [
    '--target',
    'local',
    '--backups',
    backups,
    '--report-dir',
    reports,
    '--temp-dir',
    setup.scratch,
  ];
  const run = await runCli(args, env);
  return { ...run, report: await readReport(reports), lines: run.stderr.trimEnd().split('\n') };
}

describe('stderr in auto', () => {
  it('in a CI log: human lines only, the progress as plain lines of its own, no escape codes', async () => {
    const { code, stdout, lines, report } = await drill('ci', { CI: 'true' });
    expect([code, report.verdict], stdout).toEqual([0, 'passed']);
    expect(lines.filter((line) => line.startsWith('{'))).toEqual([]);
    expect(lines.filter((line) => line.includes('\r') || line.includes('\u001b'))).toEqual([]);
    expect(
      lines.filter((line) => /^ {2}restore: 100% of the backup read .*, done in \d+\.\d s$/.test(line)),
    ).toHaveLength(1);
  });

  it('in a pod: one JSON object a line, log lines and progress alike', async () => {
    const { code, stdout, lines, report } = await drill('pod', { KUBERNETES_SERVICE_HOST: '127.0.0.1' });
    expect([code, report.verdict], stdout).toEqual([0, 'passed']);
    const parsed = lines.map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        return line;
      }
    });
    expect(parsed.filter((entry) => typeof entry === 'string')).toEqual([]);
    const kinds = new Set(
      parsed.map(
        (entry) => (entry as Record<string, unknown>).event ?? (entry as Record<string, unknown>).level,
      ),
    );
    expect([...kinds].sort()).toEqual(['info', 'phase-progress', 'phase-progress-done']);
    expect(stdout).toMatch(/^pg-restore-drill: PASSED/m);
  });
});
