import { join } from 'node:path';
import type { DrillReport } from '../../../lib/report/report.ts';
import { readReport, runCli } from '../run-cli.ts';
import type { CorpusCase } from './corpus.ts';
import { writeCorpusBackup } from './dumps.ts';

// How the corpus drills a backup: through the CLI, as the operator runs it, and reads report.json.

export interface CorpusDrill {
  code: number | null;
  stdout: string;
  stderr: string;
  report: DrillReport;
  /** stdout and stderr, for an assertion's message. */
  output: string;
}

/**
 * `npm run drill -- --target local --backups DIR --verify deep …` (plus `args`), the report in
 * `reportDir`. `env` adds variables (a `--target url` run's DATABASE_URL/PGPASSWORD).
 */
export async function drillBackups(
  backups: string,
  reportDir: string,
  args: string[] = [],
  env: NodeJS.ProcessEnv = {},
): Promise<CorpusDrill> {
  const run = await runCli(
    [
      ...(args.includes('--target') ? [] : ['--target', 'local']),
      '--backups',
      backups,
      ...(args.includes('--verify') ? [] : ['--verify', 'deep']),
      '--progress',
      'off',
      '--report-dir',
      reportDir,
      ...args,
    ],
    env,
  );
  const report = await readReport(reportDir).catch((error: Error) => {
    throw new Error(`no report.json in ${reportDir} (${error.message}):\n${run.stdout}\n${run.stderr}`);
  });
  return { ...run, report, output: `${run.stdout}\n${run.stderr}` };
}

/**
 * `pg-restore-drill record`: writes the expectations file `out` from the live server in `env`
 * (DATABASE_URL + PGPASSWORD). ASSUMED interface (H1 owns it, not known when this was written): the
 * subcommand `record` first, the output file as `--out FILE`; the server as for `--target url`.
 * Change it here, in one place, if H1's command differs.
 */
export function recordExpectations(out: string, env: NodeJS.ProcessEnv, args: string[] = []) {
  return runCli(['record', '--out', out, ...args], env);
}

/** A fresh report directory under `root` for one drill. */
export function reportDirFor(root: string, name: string): string {
  return join(root, `${name}-report`);
}

/** Writes `sql` as the only backup of `root/name` and drills it (see drillBackups). */
export async function drillSql(
  root: string,
  name: string,
  sql: string,
  args: string[] = [],
  env: NodeJS.ProcessEnv = {},
): Promise<CorpusDrill> {
  return drillBackups(await writeCorpusBackup(root, name, sql), reportDirFor(root, name), args, env);
}

/** Drills a corpus case with its own arguments and environment; the report under `reportRoot`. */
export function drillCase(corpusCase: CorpusCase, reportRoot: string): Promise<CorpusDrill> {
  return drillBackups(
    corpusCase.backups,
    reportDirFor(reportRoot, corpusCase.name),
    corpusCase.args,
    corpusCase.env,
  );
}
