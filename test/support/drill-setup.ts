import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { seedCanary } from '../../lib/drill/seed.ts';
import type { StartedTarget, TargetHandle } from '../../lib/targets/target.ts';
import { dumpAll, startTestCluster } from './cluster.ts';

/** A server a test file drills from: a throwaway cluster (startTestCluster) or a live one (startLiveServer). */
interface Source {
  readonly handle: TargetHandle;
  stop(): Promise<void>;
}

export interface DrillSetup<S extends Source> {
  /** The source server, started and seeded in beforeAll. */
  readonly source: S;
  /** The source's pg_dumpall, taken once after seeding (not with `dump: false`). */
  readonly goodDump: string;
  /** The file's scratch directory (--temp-dir, backups, reports), removed in afterAll. */
  readonly scratch: string;
  /** An empty directory `name` in the scratch directory, emptied again when it is there already. */
  freshDir(name: string): Promise<string>;
}

export interface DrillSetupOptions<S extends Source> {
  /** Starts the source; default startTestCluster. */
  start?: () => Promise<S>;
  /** Fills the source before the dump; default seedCanary(handle, 'backup_test'). */
  seed?: (handle: TargetHandle) => Promise<void>;
  /** Whether to take goodDump; default true. */
  dump?: boolean;
  /** The beforeAll's timeout; default the project's hookTimeout. */
  timeout?: number;
}

/**
 * The per-file setup of the CLI tests, as vitest hooks: in beforeAll a source started, seeded (by
 * default with the canary) and dumped once, and a scratch directory `prefix…` under the system temp dir;
 * in afterAll the source stopped and the directory removed. Call it at the top of the test file.
 */
export function drillSetup<S extends Source = StartedTarget>(
  prefix: string,
  options: DrillSetupOptions<S> = {},
): DrillSetup<S> {
  let source: S | undefined;
  let goodDump: string | undefined;
  let scratch: string | undefined;
  const start = options.start ?? (startTestCluster as unknown as () => Promise<S>);
  const seed = options.seed ?? ((handle: TargetHandle) => seedCanary(handle, 'backup_test'));

  beforeAll(async () => {
    source = await start();
    await seed(source.handle);
    if (options.dump !== false) goodDump = await dumpAll(source.handle);
    scratch = await mkdtemp(join(tmpdir(), prefix));
    // The throwaway servers run as an unprivileged user when the tests run as root: let them in.
    await chmod(scratch, 0o755);
  }, options.timeout);

  afterAll(async () => {
    await source?.stop();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  const ready = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`drillSetup: no ${what} (beforeAll has not run, or failed)`);
    return value;
  };
  return {
    get source() {
      return ready(source, 'source');
    },
    get goodDump() {
      return ready(goodDump, 'goodDump');
    },
    get scratch() {
      return ready(scratch, 'scratch');
    },
    async freshDir(name) {
      const dir = join(ready(scratch, 'scratch'), name);
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true });
      return dir;
    },
  };
}
