/** scripts/test-totals.mjs over vitest JSON reports: a skip CI was not told to expect fails the run. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const SCRIPT = join(import.meta.dirname, 'test-totals.mjs');
const dir = mkdtempSync(join(tmpdir(), 'test-totals-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A vitest JSON report of one file with tests in the given states. */
function report(name: string, file: string, tests: [string, string][], fileStatus = 'passed'): string {
  const path = join(dir, name);
  const count = (status: string) => tests.filter(([, s]) => s === status).length;
  writeFileSync(
    path,
    JSON.stringify({
      numPassedTests: count('passed'),
      numFailedTests: count('failed'),
      numPendingTests: count('pending') + count('skipped'),
      numTodoTests: count('todo'),
      testResults: [
        {
          name: file,
          status: fileStatus,
          assertionResults: tests.map(([fullName, status]) => ({ fullName, title: fullName, status })),
        },
      ],
    }),
  );
  return path;
}

function totals(...args: string[]) {
  const run = spawnSync(process.execPath, [SCRIPT, ...args], { encoding: 'utf8' });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe('test-totals', () => {
  it('passes a run with no skip', () => {
    expect(totals(report('a.json', '/r/a.test.ts', [['a works', 'passed']]))).toEqual({
      code: 0,
      stdout: '1 passed, 0 failed, 0 skipped\n',
      stderr: '',
    });
  });

  it('fails a run with a skip it was not told to expect, naming it', () => {
    const file = report('b.json', '/r/k8s.test.ts', [
      ['renders', 'passed'],
      ['k8s/ rendered with kubectl kustomize is valid', 'skipped'],
    ]);
    const run = totals(file);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe(
      '1 passed, 0 failed, 1 skipped\n  skipped: /r/k8s.test.ts: k8s/ rendered with kubectl kustomize is valid\n',
    );
    expect(run.stderr).toMatch(/^1 test\(s\) skipped that \.ci\/run did not expect to skip/);
    // Told to expect it, the same run passes and says so.
    expect(totals('--expect-skip', 'kubectl kustomize', file)).toMatchObject({
      code: 0,
      stdout:
        '1 passed, 0 failed, 1 skipped\n  skipped (expected): /r/k8s.test.ts: k8s/ rendered with kubectl kustomize is valid\n',
    });
  });

  it('fails a file that could not load (engineSkip under CI=true), and a run where nothing passed', () => {
    const broken = report('c.json', '/r/k8s-manifests.test.ts', [], 'failed');
    expect(totals(report('d.json', '/r/a.test.ts', [['a works', 'passed']]), broken)).toMatchObject({
      code: 1,
      stdout: '1 passed, 1 failed, 0 skipped\n',
    });
    expect(totals(report('e.json', '/r/none.test.ts', []))).toMatchObject({ code: 1 });
  });
});
