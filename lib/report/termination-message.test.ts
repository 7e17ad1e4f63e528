import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildReport } from './report.ts';
import { terminationMessage, terminationMessageReporter } from './termination-message.ts';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drill-termination-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const run = { runId: 'r1', mode: 'backups' as const, target: undefined, interrupted: undefined };
const at = { startedAt: new Date('2026-12-01T03:00:00Z'), finishedAt: new Date('2026-12-01T03:00:09Z') };

function failedReport(message = 'users differ: expected alice, bob, charlie; got alice, bob') {
  return buildReport({
    ...run,
    ...at,
    errors: [],
    steps: [
      {
        id: 'a',
        name: 'restore: completed',
        phase: 'restore',
        status: 'passed',
        durationMs: 10,
        message: 'ok',
        facts: {},
      },
      {
        id: 'b',
        name: 'verify: users are exactly alice, bob, charlie',
        phase: 'verify',
        status: 'failed',
        durationMs: 5,
        message: `${message}\nsecond line`,
        facts: {},
      },
    ],
  });
}

describe('the termination message', () => {
  it('is the verdict line and each failed check, first lines only', () => {
    expect(terminationMessage(failedReport())).toEqual(
      'pg-restore-drill: FAILED  (run r1, backups)\n' +
        '  FAILED    verify: users are exactly alice, bob, charlie: users differ: expected alice, bob, charlie; got alice, bob\n',
    );
  });

  it('names why a drill that could not start did not', () => {
    const report = buildReport({
      ...run,
      ...at,
      steps: [],
      errors: [],
      startError: 'No backup found in /backups',
    });
    expect(terminationMessage(report)).toEqual(
      'pg-restore-drill: ERROR  (run r1, backups)\n  ERROR     No backup found in /backups\n',
    );
  });

  it('keeps within the 4096 bytes the kubelet reads, dropping whole lines', () => {
    const message = terminationMessage(failedReport('x'.repeat(5000)));
    expect(message).toEqual('pg-restore-drill: FAILED  (run r1, backups)\n');
  });

  it('replaces what the file held, as the kubelet mounts it', async () => {
    const file = join(dir, 'termination-log');
    await writeFile(file, 'an older, longer message left in the file '.repeat(10));
    await terminationMessageReporter(file).publish(failedReport());
    expect(await readFile(file, 'utf8')).toEqual(terminationMessage(failedReport()));
  });

  it('creates nothing where there is no such file (outside a pod)', async () => {
    const file = join(dir, 'termination-log');
    await terminationMessageReporter(file).publish(failedReport());
    await expect(stat(file)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
