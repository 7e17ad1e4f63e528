import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RestoreTargetFaultError } from '../../lib/errors.ts';
import { withServerLog } from '../../lib/restore/target-fault.ts';
import type { TargetHandle } from '../../lib/targets/target.ts';

/**
 * A restore into a local target that went away: its server.log (in the cluster's directory, the socket's,
 * which the run removes at its end) says why, read now. Any other error, or target, is returned as it was.
 */
export async function explainedByServerLog(error: unknown, target: TargetHandle): Promise<unknown> {
  if (!(error instanceof RestoreTargetFaultError) || target.kind !== 'local') return error;
  const log = await readFile(join(target.connection.host, 'server.log'), 'utf8').catch(() => '');
  return withServerLog(error, log);
}
