import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';

/**
 * Whether tests that need an engine (kubectl, promtool, the Pushgateway, podman) skip: they say why;
 * under CI=true they may not skip at all (CI sets every engine up, so a missing one is a broken CI, not
 * a reason to pass), and the test file fails with the reason, naming the engine.
 */
export function engineSkip(what: string, reason: string | undefined, env = process.env): boolean {
  if (reason === undefined) return false;
  if (env.CI === 'true') {
    throw new Error(`${what} must run under CI=true, but cannot: ${reason}`);
  }
  console.warn(`skipping ${what}: ${reason}`);
  return true;
}

/**
 * Why `command args` cannot run here (not on PATH, or it failed), or undefined when it ran and exited 0:
 * the reason names the command, what it answered and the fix.
 */
export function commandMissing(command: string, args: readonly string[], fix: string): string | undefined {
  const run = spawnSync(command, args, { encoding: 'utf8' });
  if (run.error !== undefined) return `${command} not found on PATH (${run.error.message}); ${fix}`;
  if (run.status !== 0) {
    const said = (run.stderr || run.stdout).trim().split('\n')[0] ?? '';
    return `\`${command} ${args.join(' ')}\` exited ${run.status ?? run.signal}${said ? `: ${said}` : ''}; ${fix}`;
  }
  return undefined;
}

/** Why the executable at `path` cannot run here, or undefined when it can. */
export function executableMissing(path: string, fix: string): string | undefined {
  try {
    accessSync(path, constants.X_OK);
    return undefined;
  } catch (error) {
    return `${path} is not an executable here (${(error as Error).message}); ${fix}`;
  }
}
