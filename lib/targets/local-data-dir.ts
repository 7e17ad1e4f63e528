import { execFile } from 'node:child_process';
import { chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { TargetError } from '../errors.ts';
import { markOwned } from '../exec/owned-dirs.ts';
import type { Logger } from '../log.ts';
import { cacheDistrust } from './cache-trust.ts';
import {
  copyTemplate,
  errorText,
  fillTemplate,
  readTemplate,
  sameFileSystem,
  type TemplateFound,
  type TemplateKey,
  type TemplateLookup,
  templateKey,
} from './initdb-cache.ts';
import { PRUNE_UNUSED_DAYS, pruneTemplates, touchTemplate } from './initdb-prune.ts';
import { makeSpare, takeSpare } from './initdb-spare.ts';
import type { ServerLaunch } from './local-guardian.ts';

const execFileAsync = promisify(execFile);

/** The throwaway cluster's superuser, as in the operator's cluster. */
export const LOCAL_SUPERUSER = 'postgres';

/** The initdb template cache's directory, or why it is not used (said once in the log). */
export type InitdbCacheChoice = string | { off: string };

/**
 * initdb's options but -D. Trust on the socket only: it lives in the run's 0700 directory, which only
 * the server's user and root reach (the people who can read the data files anyway); TCP demands the
 * password, which every run sets afresh (setPassword). So a cached template holds no password at all.
 */
export const INITDB_OPTIONS = [
  '-U',
  LOCAL_SUPERUSER,
  '--auth-local=trust',
  '--auth-host=scram-sha-256',
  '-E',
  'UTF8',
  '--no-locale',
  '--no-sync',
] as const;

/**
 * Makes `dir/data`, never started yet: a copy of the cache's template for these binaries, else initdb
 * (whose result then becomes the template). Says in one log line which, and returns it for the target's
 * description. A cache that cannot be used or written never fails the start: initdb runs as before.
 */
export async function prepareDataDir(
  launch: ServerLaunch,
  cache: InitdbCacheChoice | undefined,
  log: Logger,
): Promise<PreparedDataDir> {
  if (typeof cache !== 'string') {
    if (!cache) {
      await initCluster(launch);
      return { origin: 'data from initdb' };
    }
    return initdbWithoutCache(launch, cache.off, log);
  }
  const owner = {
    uid: launch.spawnAs.uid ?? process.getuid?.() ?? 0,
    gid: launch.spawnAs.gid ?? process.getgid?.() ?? 0,
  };
  const key = await templateKey(launch.binDir, INITDB_OPTIONS, owner).catch((error: Error) => error);
  if (key instanceof Error) return initdbWithoutCache(launch, `the binaries' key: ${key.message}`, log);
  return fromCache(launch, cache, key, log);
}

/**
 * The data directory made, and how (for the description); `beside`: work on the cache that goes on
 * beside the run (the next run's spare being made, or the template being filled from this run's
 * initdb); whoever stops the server calls `settle`, which resolves once that work is done or abandoned.
 */
export interface PreparedDataDir {
  origin: string;
  /** The template the data directory was copied from, when it was. */
  template?: string;
  beside?: { settle(): Promise<void> };
}

/**
 * A spare of the template (made by an earlier run), else a copy of it, when a whole one is there; else
 * initdb, kept as the template when it may be. Then a spare is made for the next run, beside this one.
 */
async function fromCache(
  launch: ServerLaunch,
  cache: string,
  key: TemplateKey,
  log: Logger,
): Promise<PreparedDataDir> {
  const started = performance.now();
  const data = join(launch.dir, 'data');
  const distrust = await cacheDistrust(cache, process.geteuid?.() ?? 0);
  if (distrust) return initdbWithoutCache(launch, `${distrust}: --initdb-cache DIR|off`, log);
  const found = await readTemplate(cache, key);
  let lookup: TemplateLookup = found.kind === 'found' ? { kind: 'copied', template: found.template } : found;
  if (found.kind === 'found') {
    const spared = await takeSpare(cache, key, data, found.census).catch(() => false);
    if (!spared) {
      launch.waiting?.();
      lookup = await copyTemplate(found, data).catch(copyFailed(found.template));
    }
    if (lookup.kind === 'copied') {
      await writeHba(launch, data);
      const how = spared ? 'taken from a spare copy of' : 'copied from';
      log.info(`initdb cache: data directory ${how} ${found.template} in ${since(started)} s`);
      return {
        origin: `data copied from the initdb cache ${found.template}`,
        template: found.template,
        beside: housekeeping(cache, key, found, launch.dir, log),
      };
    }
  }
  if (lookup.kind === 'copy-failed') {
    // A whole template that could not be copied here is left as it is for the next run.
    const took = await initCluster(launch);
    log.info(`initdb cache: copying ${lookup.template} failed (${lookup.reason}); initdb took ${took} s`);
    return { origin: 'data from initdb' };
  }
  // Absent, or unusable: its manifest, or the copy of its files (removed again).
  const why =
    lookup.kind === 'unusable'
      ? `${lookup.template} not used: ${lookup.reason}`
      : 'no template yet for these binaries';
  return initdbAndFill(launch, cache, key, why, lookup.kind === 'unusable', log);
}

/**
 * Beside the run, and waited for at its end: the template marked used, the templates no run used for
 * PRUNE_UNUSED_DAYS removed (in one line; a stop waits for that), then the next run's spare made (its
 * copy abandoned when the run stops first).
 */
function housekeeping(
  cache: string,
  key: TemplateKey,
  found: Extract<TemplateFound, { kind: 'found' }>,
  runDir: string,
  log: Logger,
): PreparedDataDir['beside'] {
  const abandon = new AbortController();
  const now = new Date();
  const made = (async () => {
    await touchTemplate(found.template, now);
    // Pruning first: a few renames and removals, and only when a template has gone unused for a
    // month. Behind the spare's copy (0.5-0.8 s of ~1000 files on a slow disk), a short run stopped
    // before it and never pruned at all.
    const pruned = await pruneTemplates(cache, key.name, now);
    if (pruned.length)
      log.info(
        `initdb cache: removed ${pruned.length} template(s) no run used for ${PRUNE_UNUSED_DAYS} days: ${pruned.join(', ')}`,
      );
    if (abandon.signal.aborted) return;
    await makeSpare(cache, key, found, runDir, abandon.signal);
  })();
  return {
    settle: () => {
      abandon.abort();
      return made;
    },
  };
}

/** initdb, with the one log line that says why the cache was not used. */
async function initdbWithoutCache(launch: ServerLaunch, why: string, log: Logger): Promise<PreparedDataDir> {
  const took = await initCluster(launch);
  log.info(`initdb cache not used (${why}): initdb took ${took} s`);
  return { origin: 'data from initdb' };
}

function copyFailed(template: string): (error: Error) => TemplateLookup {
  return (error) => ({ kind: 'copy-failed', template, reason: error.message });
}

/** initdb, then its result published as the template (replacing an unusable one), said in one line. */
async function initdbAndFill(
  launch: ServerLaunch,
  cache: string,
  key: TemplateKey,
  why: string,
  replace: boolean,
  log: Logger,
): Promise<PreparedDataDir> {
  const took = await initCluster(launch);
  const data = join(launch.dir, 'data');
  const said = (filled: string) => log.info(`initdb cache: ${why}; initdb took ${took} s; ${filled}`);
  // Unknown counts as the same file system: the template is then filled as the run starts.
  if ((await sameFileSystem(cache, launch.dir)) !== false) {
    said(await fill(cache, key, data, replace));
    return { origin: 'data from initdb' };
  }
  // The cache is on another file system than the run (a self-contained drill's cluster in /dev/shm,
  // the cache on disk): copying into it took 0.9 s of a first run's 2 s on the bench machine, where a
  // copy on the run's own file system takes 0.07. So that copy is made, never to be started, and the
  // template is filled from it while the run goes on; the server starts on initdb's own directory.
  const source = await mkdtemp(join(dirname(launch.dir), 'pg-restore-drill-template-'));
  await markOwned(source);
  try {
    await execFileAsync('cp', ['-a', '--', data, join(source, 'data')]);
  } catch (error) {
    await rm(source, { recursive: true, force: true });
    said(`the copy to fill the cache from failed (${errorText(error)}): running without it`);
    return { origin: 'data from initdb' };
  }
  const abandon = new AbortController();
  const filled = fill(cache, key, join(source, 'data'), replace, abandon.signal)
    .then(said)
    .finally(() => rm(source, { recursive: true, force: true }).catch(() => {}));
  return {
    origin: 'data from initdb',
    beside: {
      // Waited for (the next runs start faster for it), but not on a cache that hangs.
      settle: async () => {
        const bound = setTimeout(() => abandon.abort(), FILL_WAIT_MS);
        await filled.finally(() => clearTimeout(bound));
      },
    },
  };
}

/** How long the stop of a first run waits for its template to be filled beside it. */
const FILL_WAIT_MS = 10_000;

/** Fills the cache with a copy of `dataDir` (never started); says how it went, for the log line. */
async function fill(
  cache: string,
  key: TemplateKey,
  dataDir: string,
  replace: boolean,
  signal?: AbortSignal,
): Promise<string> {
  const started = performance.now();
  const result = await fillTemplate(cache, key, dataDir, replace, signal).catch((error: Error) => error);
  if (result instanceof Error) {
    return signal?.aborted
      ? `the template was not kept: its copy into ${cache} was not done within ${FILL_WAIT_MS / 1000} s of the run's end`
      : `the cache ${cache} cannot be written (${errorText(result)}): running without it; --initdb-cache DIR|off`;
  }
  const how = signal ? `${since(started)} s, filled beside the run` : `${since(started)} s`;
  return result.filled
    ? `kept as the template ${result.template} for the next runs (${how})`
    : `${result.template}: ${result.reason}`;
}

function since(started: number): string {
  return ((performance.now() - started) / 1000).toFixed(2);
}

/**
 * The authentication INITDB_OPTIONS give, written afresh into a copied data directory: whatever a
 * template holds, the server trusts its own socket only (in the run's 0700 directory) and asks a
 * password over TCP.
 */
const PG_HBA = [
  '# pg-restore-drill: written at the start of this run (lib/targets/local-data-dir.ts)',
  'local   all   all                  trust',
  'host    all   all   127.0.0.1/32   scram-sha-256',
  'host    all   all   ::1/128        scram-sha-256',
  '',
].join('\n');

async function writeHba(launch: ServerLaunch, data: string): Promise<void> {
  const file = join(data, 'pg_hba.conf');
  await writeFile(file, PG_HBA, { mode: 0o600 });
  const { uid, gid } = launch.spawnAs;
  if (uid !== undefined && gid !== undefined) await chown(file, uid, gid);
}

/** initdb into `dir/data` (no password: each run sets its own after the start); returns its seconds. */
async function initCluster(launch: ServerLaunch): Promise<string> {
  const { dir, spawnAs } = launch;
  const started = performance.now();
  const args = ['-D', join(dir, 'data'), ...INITDB_OPTIONS];
  launch.waiting?.();
  await execFileAsync(join(launch.binDir, 'initdb'), args, { env: launch.env, ...spawnAs }).catch(
    (error: Error & { stderr?: string }) => {
      throw new TargetError(`initdb failed in ${dir}: ${error.stderr?.trim() || error.message}`, {
        cause: error,
      });
    },
  );
  return since(started);
}
