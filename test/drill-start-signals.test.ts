/**
 * vitest starts while the throwaway server does (lib/drill/run-specs.ts): a SIGTERM while initdb runs
 * must still be the CLI's to handle (vitest's own handlers would end the process 1 ms later, with no
 * report): the report written, exit 143, the server and its directory gone.
 */
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { descendantsOf } from './support/drill-processes.ts';
import { drillSetup } from './support/drill-setup.ts';
import { readReport, startCli } from './support/run-cli.ts';

const setup = drillSetup('drill-start-signals-');
const TRIES = 6;
/**
 * Each try signals a little later after initdb appears (0, 60, … 300 ms), so that some land while
 * vitest is being created beside it: the window its handlers would be in force. Where a try lands is
 * not asserted; every one must end the same way. (With 150 ms steps the last try, 750 ms after a
 * template copy began, once came after a self-contained drill from the bundle had passed and exited.)
 */
const STAGGER_MS = 60;

/**
 * Waits until the throwaway server is being made under the drill, as /proc shows it: initdb, the initdb
 * cache's cp, or (when the data directory came by a rename, or a copy too quick for the poll to see)
 * the server starting on it.
 */
async function initdbUnder(root: number, exited: () => boolean): Promise<void> {
  for (;;) {
    const making = /(^|\/)(initdb|cp|postgres)$/;
    if ((await descendantsOf(root)).some((p) => making.test(p.argv[0] ?? ''))) return;
    if (exited()) throw new Error(`the drill (pid ${root}) exited before its initdb ran`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('a SIGTERM while the throwaway server is made', () => {
  it(`is the drill's to handle, ${TRIES} times in a row: a report, exit 143, nothing left`, async () => {
    const outcomes = [];
    for (let n = 0; n < TRIES; n++) {
      const temp = await setup.freshDir(`temp-${n}`);
      const reports = await setup.freshDir(`reports-${n}`);
      // Every other try copies the initdb cache's template (cp) instead of running initdb (or runs
      // initdb to fill it): never a spare an earlier try left, which a rename takes with nothing to see.
      const cache = n % 2 ? join(setup.scratch, 'initdb-cache') : 'off';
      for (const entry of n % 2 ? await readdir(cache).catch(() => []) : []) {
        if (entry.includes('.spare-')) await rm(join(cache, entry), { recursive: true, force: true });
      }
      const args = [
        '--target',
        'local',
        '--progress',
        'off',
        '--report-dir',
        reports,
        '--temp-dir',
        temp,
        '--initdb-cache',
        cache,
      ];
      const run = startCli(args);
      let exited = false;
      void run.done.then(() => {
        exited = true;
      });
      await initdbUnder(run.child.pid as number, () => exited);
      await new Promise((resolve) => setTimeout(resolve, n * STAGGER_MS));
      run.child.kill('SIGTERM');
      const { code, stdout, stderr } = await run.done;
      const report = await readReport(reports).catch((error: Error) => ({ missing: error.message }));
      outcomes.push({
        code,
        verdict: 'verdict' in report ? report.verdict : report.missing,
        errors: 'errors' in report ? report.errors : `${stdout}\n${stderr}`,
        tempLeft: await readdir(temp),
      });
    }
    expect(outcomes).toEqual(
      Array.from({ length: TRIES }, () => ({
        code: 143,
        verdict: 'interrupted',
        errors: ['interrupted by SIGTERM'],
        tempLeft: [],
      })),
    );
  });
});
