import { type ChildProcess, execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chown, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { TargetError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { findPgBinDir } from '../pg/binaries.ts';
import type { Connection } from '../pg/connection.ts';
import type { PgVersion } from '../pg/version.ts';
import { newestDumpVersion } from './dump-version.ts';
import { type ServerLaunch, spawnGuardian, stopGuardian, waitReady } from './local-guardian.ts';
import type { StartedTarget, Target } from './target.ts';

const execFileAsync = promisify(execFile);

/** The throwaway cluster's superuser, as in the operator's cluster. */
export const LOCAL_SUPERUSER = 'postgres';

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
    return startLocalTarget({ binDir, tempRoot: options.tempDir, baseEnv: deps.env, log: deps.log });
  },
};

export interface LocalTargetOptions {
  binDir: string;
  /** Parent of the cluster's temp directory. */
  tempRoot: string;
  baseEnv: NodeJS.ProcessEnv;
  log: Logger;
}

interface RunAs {
  name: string;
  uid: number;
  gid: number;
}

/** Starts a throwaway cluster: initdb into a temp dir, a free loopback port, a socket in the temp dir. */
export async function startLocalTarget(options: LocalTargetOptions): Promise<StartedTarget> {
  const dir = await mkdtemp(join(options.tempRoot, 'pg-restore-drill-'));
  const removeDir = () => rm(dir, { recursive: true, force: true });
  const env = { PATH: options.baseEnv.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' };
  try {
    const runAs = await serverUser();
    if (runAs) await handOver(dir, options, runAs);
    const launch = {
      binDir: options.binDir,
      dir,
      env,
      spawnAs: runAs ? { uid: runAs.uid, gid: runAs.gid } : {},
    };
    const password = await initCluster(launch);
    return await launchServer(launch, password, options.log, removeDir);
  } catch (error) {
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

/** initdb with a fresh random superuser password (through a file, never argv); returns the password. */
async function initCluster(launch: ServerLaunch): Promise<string> {
  const { dir, spawnAs } = launch;
  const password = randomBytes(18).toString('base64url');
  const pwfile = join(dir, 'initdb.pw');
  await writeFile(pwfile, `${password}\n`, { mode: 0o600 });
  if (spawnAs.uid !== undefined && spawnAs.gid !== undefined) await chown(pwfile, spawnAs.uid, spawnAs.gid);
  const args = ['-D', join(dir, 'data'), '-U', LOCAL_SUPERUSER, `--pwfile=${pwfile}`, '-A', 'scram-sha-256'];
  args.push('-E', 'UTF8', '--no-locale', '--no-sync');
  await execFileAsync(join(launch.binDir, 'initdb'), args, { env: launch.env, ...spawnAs }).catch(
    (error: Error & { stderr?: string }) => {
      throw new TargetError(`initdb failed in ${dir}: ${error.stderr?.trim() || error.message}`, {
        cause: error,
      });
    },
  );
  await rm(pwfile);
  return password;
}

/** Starts the server on a free port (another, up to three times, if that one was taken meanwhile). */
async function launchServer(
  launch: ServerLaunch,
  password: string,
  log: Logger,
  removeDir: () => Promise<void>,
): Promise<StartedTarget> {
  const { dir } = launch;
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const guardian = spawnGuardian(launch, port);
    const connection: Connection = { host: dir, port, user: LOCAL_SUPERUSER, password, database: 'postgres' };
    const ready = await waitReady(connection, join(dir, 'server.log')).catch(async (error: unknown) => {
      await stopGuardian(guardian, removeDir);
      throw error;
    });
    if (ready.ok) {
      log.info(`throwaway PostgreSQL ${ready.version.text} started on 127.0.0.1:${port} (data in ${dir})`);
      return startedLocal(launch, connection, ready.version, guardian, removeDir);
    }
    await stopGuardian(guardian, async () => {});
    if (!(ready.portTaken && attempt < 3)) {
      throw new TargetError(`The throwaway PostgreSQL in ${dir} did not start: ${ready.reason}`);
    }
  }
}

/** The handle of a running throwaway server, and how to stop or keep it. */
function startedLocal(
  launch: ServerLaunch,
  connection: Connection,
  version: PgVersion,
  guardian: ChildProcess,
  removeDir: () => Promise<void>,
): StartedTarget {
  const { binDir, dir } = launch;
  const { port, password } = connection;
  return {
    handle: {
      kind: 'local',
      description: `throwaway cluster from ${binDir} on 127.0.0.1:${port}`,
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
