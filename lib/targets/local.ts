import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chown, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type pg from 'pg';
import { TargetError } from '../errors.ts';
import { markOwned, unmarkOwned } from '../exec/owned-dirs.ts';
import type { Logger } from '../log.ts';
import { findPgBinDir } from '../pg/binaries.ts';
import type { Connection } from '../pg/connection.ts';
import type { PgVersion } from '../pg/version.ts';
import { newestDumpVersion } from './dump-version.ts';
import { defaultInitdbCacheDir, moveAway } from './initdb-cache.ts';
import { dropSpares } from './initdb-spare.ts';
import {
  type InitdbCacheChoice,
  LOCAL_SUPERUSER,
  type PreparedDataDir,
  prepareDataDir,
} from './local-data-dir.ts';
import { type ServerLaunch, spawnGuardian, stopGuardian, waitReady } from './local-guardian.ts';
import { clusterRoot } from './memory-root.ts';
import { scramVerifier } from './scram-verifier.ts';
import type { StartedTarget, Target } from './target.ts';

export { LOCAL_SUPERUSER };

/** `--target local`: a throwaway cluster from the PostgreSQL binaries on this machine. */
export const localTarget: Target = {
  kind: 'local',
  async start(options, deps) {
    // A local server can only take a dump of its own major or older: with several majors installed,
    // the backup's header chooses (the self-contained drill's backup is made by the same binaries).
    const version = deps.newestBackup ? await newestDumpVersion(deps.newestBackup) : undefined;
    const dump = version && deps.newestBackup ? { version, file: deps.newestBackup.path } : undefined;
    const { binDir, choice, fits } = await findPgBinDir({
      explicit: options.pgBinDir,
      path: deps.env.PATH ?? '',
      versionRoots: options.pgSearchRoots,
      dump,
    });
    if (fits) deps.log.info(choice);
    else deps.log.warn(choice);
    const root = await clusterRoot({
      tempDir: options.tempDir,
      selfContained: options.backups === undefined,
      env: deps.env,
    });
    deps.log.info(`throwaway cluster ${root.said}`);
    return startLocalTarget({
      binDir,
      tempRoot: root.dir,
      baseEnv: deps.env,
      log: deps.log,
      initdbCache: initdbCacheOf(options.initdbCache, deps.env),
      ...(deps.starting ? { waiting: deps.starting } : {}),
    });
  },
};

/** `--initdb-cache`: its directory, the default one, or why there is none (said once in the log). */
function initdbCacheOf(
  setting: string | undefined,
  env: NodeJS.ProcessEnv,
): LocalTargetOptions['initdbCache'] {
  if (setting === 'off') return { off: '--initdb-cache off' };
  const dir = setting ?? defaultInitdbCacheDir(env);
  return (
    dir ?? { off: 'no cache directory: neither XDG_CACHE_HOME nor HOME is set; --initdb-cache DIR gives one' }
  );
}

export interface LocalTargetOptions {
  binDir: string;
  /** Parent of the cluster's temp directory. */
  tempRoot: string;
  baseEnv: NodeJS.ProcessEnv;
  log: Logger;
  /**
   * The initdb template cache (lib/targets/initdb-cache.ts): its directory, or why it is not used (said
   * in the log). Absent: initdb every time, silently (library callers, tests of other things).
   */
  initdbCache?: InitdbCacheChoice;
  /** Called when the start first waits on initdb, the template's copy or the server (TargetDeps.starting). */
  waiting?: () => void;
}

interface RunAs {
  name: string;
  uid: number;
  gid: number;
}

/**
 * Starts a throwaway cluster: a data directory (a copy of the initdb cache's template, else initdb) in a
 * temp dir, a free loopback port, a socket in the temp dir, a fresh random superuser password.
 */
export async function startLocalTarget(options: LocalTargetOptions): Promise<StartedTarget> {
  const first = await startOnce(options);
  if (!('failedCopy' in first)) return first;
  // Files of the right sizes but not the right content (a host that crashed while the cache was
  // written): the census cannot see that, the server can. One such template must not fail every drill
  // to come: it is set aside, and this run (and the next, which fills the cache again) runs initdb.
  const { template, reason } = first.failedCopy;
  options.log.warn(
    `initdb cache: the server did not start on a copy of ${template} (${reason}): the template is set aside and initdb runs`,
  );
  await moveAway(template);
  await dropSpares(template);
  const again = await startOnce({ ...options, initdbCache: { off: `${template} was just set aside` } });
  if ('failedCopy' in again) throw new TargetError(again.failedCopy.reason);
  return again;
}

/** One start; a server that would not start on a copy of the cache's template says so instead of throwing. */
async function startOnce(
  options: LocalTargetOptions,
): Promise<StartedTarget | { failedCopy: { template: string; reason: string } }> {
  const dir = await mkdtemp(join(options.tempRoot, 'pg-restore-drill-'));
  const removeDir = () => rm(dir, { recursive: true, force: true });
  await markOwned(dir);
  const env = { PATH: options.baseEnv.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' };
  let beside: PreparedDataDir['beside'];
  try {
    const password = randomBytes(18).toString('base64url');
    const verifier = scramVerifier(password);
    verifier.catch(() => {});
    const runAs = await serverUser();
    if (runAs) await handOver(dir, options, runAs);
    const launch = {
      binDir: options.binDir,
      dir,
      env,
      spawnAs: runAs ? { uid: runAs.uid, gid: runAs.gid } : {},
      ...(options.waiting ? { waiting: options.waiting } : {}),
    };
    const prepared = await prepareDataDir(launch, options.initdbCache, options.log);
    // The next run's spare is made (or the template filled) while this one drills; whoever stops the
    // server waits for it.
    beside = prepared.beside;
    const secret = { password, verifier: await verifier };
    const started = await launchServer(launch, secret, prepared.origin, options.log, removeDir).catch(
      (error: unknown) => {
        if (!(prepared.template && error instanceof TargetError && /did not start/.test(error.message)))
          throw error;
        return { failedCopy: { template: prepared.template, reason: error.message } };
      },
    );
    if ('failedCopy' in started) {
      await beside?.settle();
      await removeDir();
      return started;
    }
    const settle = async () => beside?.settle();
    return {
      ...started,
      stop: () => Promise.all([started.stop(), settle()]).then(() => {}),
      // Kept on purpose: its mark goes, so no later drill takes it for a dead drill's leftover.
      keep: async () => (await Promise.all([started.keep(), settle(), unmarkOwned(dir)]))[0],
    };
  } catch (error) {
    await beside?.settle();
    await removeDir();
    throw error;
  }
}

/** As root, the server runs as `runAs`: it gets the directory, and must be able to reach it. */
async function handOver(dir: string, options: LocalTargetOptions, runAs: RunAs): Promise<void> {
  const parent = await stat(options.tempRoot);
  if ((parent.mode & 0o001) === 0) {
    throw new TargetError(
      `The throwaway server runs as ${runAs.name} (the drill runs as root) and cannot reach ${options.tempRoot} (mode ${(parent.mode & 0o777).toString(8)}): point --temp-dir / DRILL_TEMP_DIR at a directory others may traverse, such as /tmp.`,
    );
  }
  await chown(dir, runAs.uid, runAs.gid);
  options.log.info(`running as root: the throwaway server runs as user ${runAs.name}`);
}

/** The run's own superuser password, and the SCRAM verifier the server is given instead of it. */
interface RunSecret {
  password: string;
  verifier: string;
}

/**
 * Starts the server on a free port (another, up to three times, if that one was taken meanwhile), and on
 * its first session (the socket, trust) gives the superuser this run's password as a SCRAM verifier.
 */
async function launchServer(
  launch: ServerLaunch,
  secret: RunSecret,
  origin: string,
  log: Logger,
  removeDir: () => Promise<void>,
): Promise<StartedTarget> {
  const { dir } = launch;
  const { password } = secret;
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const guardian = spawnGuardian(launch, port);
    launch.waiting?.();
    const connection: Connection = { host: dir, port, user: LOCAL_SUPERUSER, password, database: 'postgres' };
    const ready = await waitReady(connection, join(dir, 'server.log'), (client) =>
      setPassword(client, secret.verifier),
    ).catch(async (error: unknown) => {
      await stopGuardian(guardian, removeDir);
      throw error;
    });
    if (ready.ok) {
      log.info(`throwaway PostgreSQL ${ready.version.text} started on 127.0.0.1:${port} (data in ${dir})`);
      return startedLocal(launch, connection, ready.version, origin, guardian, removeDir);
    }
    await stopGuardian(guardian, async () => {});
    if (!(ready.portTaken && attempt < 3)) {
      throw new TargetError(`The throwaway PostgreSQL in ${dir} did not start: ${ready.reason}`);
    }
  }
}

/** The verifier, never the password: no server log or catalog can hold the password itself. */
async function setPassword(client: pg.Client, verifier: string): Promise<void> {
  await client.query(
    `ALTER ROLE ${client.escapeIdentifier(LOCAL_SUPERUSER)} PASSWORD ${client.escapeLiteral(verifier)}`,
  );
}

/** The handle of a running throwaway server, and how to stop or keep it. */
function startedLocal(
  launch: ServerLaunch,
  connection: Connection,
  version: PgVersion,
  origin: string,
  guardian: ChildProcess,
  removeDir: () => Promise<void>,
): StartedTarget {
  const { binDir, dir } = launch;
  const { port, password } = connection;
  return {
    handle: {
      kind: 'local',
      description: `throwaway cluster from ${binDir} on 127.0.0.1:${port} (${origin})`,
      connection,
      serverVersion: version,
      scratch: true,
      tools: { kind: 'host', binDir },
    },
    stop: () => stopGuardian(guardian, removeDir),
    keep: async () => {
      const pgpass = join(dir, 'pgpass');
      await writeFile(pgpass, `127.0.0.1:${port}:*:${LOCAL_SUPERUSER}:${password}\n`, { mode: 0o600 });
      guardian.stdin?.end('keep\n');
      await new Promise((done) => guardian.once('exit', done));
      return [
        `The throwaway server keeps running on 127.0.0.1:${port} (data in ${dir}).`,
        `  connect: PGPASSFILE=${pgpass} ${join(binDir, 'psql')} -h 127.0.0.1 -p ${port} -U ${LOCAL_SUPERUSER} -d postgres`,
        `  remove:  kill -INT $(head -1 ${join(dir, 'data', 'postmaster.pid')}) && rm -rf ${dir}`,
      ].join('\n');
    },
  };
}

/** A port the kernel just handed out on loopback; the server binds it a moment later. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** initdb and postgres refuse to run as root: then they run as `postgres` (or `nobody`). */
async function serverUser(): Promise<RunAs | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const passwd = await readFile('/etc/passwd', 'utf8');
  for (const name of ['postgres', 'nobody']) {
    const fields = passwd
      .split('\n')
      .find((line) => line.startsWith(`${name}:`))
      ?.split(':');
    if (fields?.[2] && fields[3]) return { name, uid: Number(fields[2]), gid: Number(fields[3]) };
  }
  throw new TargetError(
    'Running as root, and no unprivileged user (postgres or nobody) to run the throwaway server as.',
  );
}
