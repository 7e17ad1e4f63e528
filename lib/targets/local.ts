import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chown, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import pg from 'pg';
import { TargetError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Connection } from '../pg/connection.ts';
import { versionFromNum } from '../pg/version.ts';
import type { StartedTarget } from './target.ts';

const execFileAsync = promisify(execFile);

/** The throwaway cluster's superuser, as in the operator's cluster. */
export const LOCAL_SUPERUSER = 'postgres';
const START_TIMEOUT_MS = 30_000;

/**
 * Settings for a cluster that exists for minutes and is thrown away: durability buys nothing here, and
 * the drill measures how fast the dump replays, not how fast this disk syncs. The raw-psql baseline in
 * `npm run bench` runs against the same settings.
 */
const THROWAWAY_SETTINGS = [
  'fsync=off',
  'synchronous_commit=off',
  'full_page_writes=off',
  'max_wal_size=1GB',
];

/**
 * Shell run beside the server: it owns it, and when the drill's end of its stdin closes (the drill
 * finished, failed, was interrupted, or was killed outright) it stops the server and removes the whole
 * directory. Detached, so a Ctrl-C in the terminal reaches the drill, not it. `keep` on stdin lets go.
 */
const GUARDIAN = `set -u
pg=$1; dir=$2; shift 2
"$pg" "$@" >>"$dir/server.log" 2>&1 &
pid=$!
cmd=
read -r cmd || true
[ "$cmd" = keep ] && exit 0
kill -INT "$pid" 2>/dev/null
i=0
while kill -0 "$pid" 2>/dev/null; do
  i=$((i + 1))
  [ "$i" -eq 100 ] && kill -QUIT "$pid" 2>/dev/null
  [ "$i" -ge 200 ] && kill -KILL "$pid" 2>/dev/null
  sleep 0.1
done
rm -rf "$dir"
`;

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
  const { binDir, log } = options;
  const dir = await mkdtemp(join(options.tempRoot, 'pg-restore-drill-'));
  const runAs = await serverUser();
  const spawnAs = runAs ? { uid: runAs.uid, gid: runAs.gid } : {};
  const env = { PATH: options.baseEnv.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' };
  let guardian: ChildProcess | undefined;
  const removeDir = () => rm(dir, { recursive: true, force: true });
  try {
    if (runAs) {
      const parent = await stat(options.tempRoot);
      if ((parent.mode & 0o001) === 0) {
        throw new TargetError(
          `The throwaway server runs as ${runAs.name} (the drill runs as root) and cannot reach ${options.tempRoot} (mode ${(parent.mode & 0o777).toString(8)}): point --temp-dir / DRILL_TEMP_DIR at a directory others may traverse, such as /tmp.`,
        );
      }
      await chown(dir, runAs.uid, runAs.gid);
      log.info(`running as root: the throwaway server runs as user ${runAs.name}`);
    }
    const password = randomBytes(18).toString('base64url');
    const pwfile = join(dir, 'initdb.pw');
    await writeFile(pwfile, `${password}\n`, { mode: 0o600 });
    if (runAs) await chown(pwfile, runAs.uid, runAs.gid);
    await execFileAsync(
      join(binDir, 'initdb'),
      [
        '-D',
        join(dir, 'data'),
        '-U',
        LOCAL_SUPERUSER,
        `--pwfile=${pwfile}`,
        '-A',
        'scram-sha-256',
        '-E',
        'UTF8',
        '--no-locale',
        '--no-sync',
      ],
      { env, ...spawnAs },
    ).catch((error: Error & { stderr?: string }) => {
      throw new TargetError(`initdb failed in ${dir}: ${error.stderr?.trim() || error.message}`, {
        cause: error,
      });
    });
    await rm(pwfile);

    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const args = [
        '-D',
        join(dir, 'data'),
        '-p',
        String(port),
        '-k',
        dir,
        '-c',
        'listen_addresses=127.0.0.1',
      ];
      for (const setting of THROWAWAY_SETTINGS) args.push('-c', setting);
      guardian = spawn(
        'sh',
        ['-c', GUARDIAN, 'pg-restore-drill-guardian', join(binDir, 'postgres'), dir, ...args],
        {
          detached: true,
          stdio: ['pipe', 'ignore', 'ignore'],
          env,
          ...spawnAs,
        },
      );
      const connection: Connection = {
        host: dir,
        port,
        user: LOCAL_SUPERUSER,
        password,
        database: 'postgres',
      };
      const ready = await waitReady(connection, join(dir, 'server.log'));
      if (ready.ok) {
        const started = guardian;
        log.info(`throwaway PostgreSQL ${ready.version.text} started on 127.0.0.1:${port} (data in ${dir})`);
        return {
          handle: {
            kind: 'local',
            description: `throwaway cluster from ${binDir} on 127.0.0.1:${port}`,
            connection,
            serverVersion: ready.version,
            scratch: true,
            binDir,
          },
          stop: () => stopGuardian(started, removeDir),
          keep: async () => {
            const pgpass = join(dir, 'pgpass');
            await writeFile(pgpass, `127.0.0.1:${port}:*:${LOCAL_SUPERUSER}:${password}\n`, { mode: 0o600 });
            started.stdin?.end('keep\n');
            await new Promise((done) => started.once('exit', done));
            return [
              `The throwaway server keeps running on 127.0.0.1:${port} (data in ${dir}).`,
              `  connect: PGPASSFILE=${pgpass} ${join(binDir, 'psql')} -h 127.0.0.1 -p ${port} -U ${LOCAL_SUPERUSER} -d postgres`,
              `  remove:  kill -INT $(head -1 ${join(dir, 'data', 'postmaster.pid')}) && rm -rf ${dir}`,
            ].join('\n');
          },
        };
      }
      await stopGuardian(guardian, async () => {});
      guardian = undefined;
      if (!(ready.portTaken && attempt < 3)) {
        throw new TargetError(`The throwaway PostgreSQL in ${dir} did not start: ${ready.reason}`);
      }
    }
  } catch (error) {
    if (guardian) await stopGuardian(guardian, removeDir);
    else await removeDir();
    throw error;
  }
}

type Readiness =
  | { ok: true; version: ReturnType<typeof versionFromNum> }
  | { ok: false; reason: string; portTaken: boolean };

async function waitReady(connection: Connection, logFile: string): Promise<Readiness> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  let lastError = '';
  while (Date.now() < deadline) {
    const client = new pg.Client({ ...connection, connectionTimeoutMillis: 2000 });
    try {
      await client.connect();
      const { rows } = await client.query<{ num: string }>(
        `SELECT current_setting('server_version_num') AS num`,
      );
      return { ok: true, version: versionFromNum(Number(rows[0]?.num)) };
    } catch (error) {
      lastError = (error as Error).message;
    } finally {
      await client.end().catch(() => {});
    }
    // Our own early connection attempts make the server log `FATAL: the database system is starting
    // up`: that one is not a failed start.
    const serverLog = (await readFile(logFile, 'utf8').catch(() => ''))
      .split('\n')
      .filter((line) => !line.includes('the database system is starting up'))
      .join('\n');
    if (/\b(FATAL|PANIC):/.test(serverLog)) {
      return {
        ok: false,
        reason: tail(serverLog),
        portTaken: /could not bind|Address already in use/.test(serverLog),
      };
    }
    await sleep(100);
  }
  return {
    ok: false,
    reason: `no connection within ${START_TIMEOUT_MS / 1000} s (last error: ${lastError})`,
    portTaken: false,
  };
}

/** Closes the guardian's stdin and waits for it to stop the server and remove the directory. */
async function stopGuardian(guardian: ChildProcess, fallbackRemove: () => Promise<void>): Promise<void> {
  if (guardian.exitCode === null && guardian.signalCode === null) {
    const exited = new Promise((done) => guardian.once('exit', done));
    guardian.stdin?.end();
    const timeout = sleep(30_000, 'timeout', { ref: false });
    if ((await Promise.race([exited, timeout])) === 'timeout') guardian.kill('SIGKILL');
  }
  // The guardian removes the directory itself; this covers a guardian that died first.
  await fallbackRemove();
}

function tail(text: string): string {
  return text.trim().split('\n').slice(-5).join(' | ');
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
