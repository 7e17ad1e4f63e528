import { tmpdir } from 'node:os';
import { silentLogger } from '../lib/log.ts';
import { startLocalTarget } from '../lib/targets/local.ts';
import type { StartedTarget } from '../lib/targets/target.ts';

/** A throwaway cluster with the drill's own settings (fsync=off…), exactly as `--target local` starts it. */
export function startThrowaway(binDir: string): Promise<StartedTarget> {
  return startLocalTarget({ binDir, tempRoot: tmpdir(), baseEnv: process.env, log: silentLogger });
}
