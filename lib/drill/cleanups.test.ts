import { describe, expect, it } from 'vitest';
import type { Logger } from '../log.ts';
import { CleanupStack } from './cleanups.ts';

function recordingLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, info: () => {}, warn: (message) => warnings.push(message) };
}

describe('CleanupStack', () => {
  it('runs the cleanups newest first, each once', async () => {
    const ran: string[] = [];
    const stack = new CleanupStack();
    for (const what of ['remove the temp dir', 'stop the target', 'end the restore sessions'])
      stack.push(what, async () => ran.push(what));
    expect(stack.pending).toEqual(['end the restore sessions', 'stop the target', 'remove the temp dir']);

    expect(await stack.runAll(recordingLogger())).toEqual([]);
    expect(await stack.runAll(recordingLogger())).toEqual([]);
    expect(ran).toEqual(['end the restore sessions', 'stop the target', 'remove the temp dir']);
  });

  it('reports a cleanup that fails and still runs the ones after it', async () => {
    const ran: string[] = [];
    const log = recordingLogger();
    const stack = new CleanupStack();
    stack.push('remove the temp dir', async () => ran.push('remove the temp dir'));
    stack.push('stop the target', async () => {
      throw new Error('pg_ctl: server does not shut down');
    });
    stack.push('drop drill_x', () => Promise.reject('not an Error'));

    const failures = await stack.runAll(log);

    expect(failures).toEqual([
      'could not drop drill_x: not an Error',
      'could not stop the target: pg_ctl: server does not shut down',
    ]);
    expect(log.warnings).toEqual(failures);
    expect(ran).toEqual(['remove the temp dir']);
  });
});
