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
 * A try whose drill passed before it could be signalled (the poll did not see its processes in time, or
 * the signal came after its report) tests nothing and is run again, at most this many times in all: a
 * drill that ignored SIGTERM would pass every try and fail the test.
 */
const MAX_VOID = 2;

/**
 * Waits until the throwaway server is being made under the drill, as /proc shows it: initdb, the initdb
 * cache's cp, or (when the data directory came by a rename, or a copy too quick for the poll to see)
 * the server starting on it. False when the drill exited first.
 */
async function initdbUnder(root: number, exited: () => boolean): Promise<boolean> {
  const making = /(^|\/)(initdb|cp|postgres)$/;
  for (;;) {
    if ((await descendantsOf(root)).some((p) => making.test(p.argv[0] ?? ''))) return true;
    if (exited()) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('a SIGTERM while the throwaway server is made', () => {
  it(`is the drill's to handle, ${TRIES} times in a row: a report, exit 143, nothing left`, async () => {
    const outcomes = [];
    const voided: string[] = [];
    for (let n = 0; outcomes.length < TRIES && voided.length <= MAX_VOID; n++) {
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
      const seen = await initdbUnder(run.child.pid as number, () => exited);
      const lateMs = outcomes.length * STAGGER_MS;
      if (seen) {
        await new Promise((resolve) => setTimeout(resolve, lateMs));
        run.child.kill('SIGTERM');
      }
      const { code, stdout, stderr } = await run.done;
      const report = await readReport(reports).catch((error: Error) => ({ missing: error.message }));
      const verdict = 'verdict' in report ? report.verdict : report.missing;
      if (code === 0 && verdict === 'passed') {
        voided.push(
          `try ${n}: passed before ${seen ? `its SIGTERM (${lateMs} ms after)` : 'the poll saw it'}`,
        );
        console.log(`drill-start-signals: ${voided.at(-1)}; run again`);
        continue;
      }
      outcomes.push({
        code,
        verdict,
        errors: 'errors' in report ? report.errors : `${stdout}\n${stderr}`,
        tempLeft: await readdir(temp),
        ...(seen ? {} : { unsignalled: `exited before initdb ran:\n${stdout}\n${stderr}` }),
      });
    }
    expect(voided.length, voided.join('; ')).toBeLessThanOrEqual(MAX_VOID);
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
