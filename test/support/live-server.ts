import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chown, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import pg from 'pg';
import { DEFAULT_SEARCH_ROOTS, findPgBinDir } from '../../lib/pg/binaries.ts';
import type { Connection } from '../../lib/pg/connection.ts';
import { versionFromNum } from '../../lib/pg/version.ts';
import { freePort } from '../../lib/targets/local.ts';
import type { TargetHandle } from '../../lib/targets/target.ts';

// A PostgreSQL server that stands in for a LIVE one: the drill did not start it, it is not scratch, and
// a test can kill it outright (SIGKILL of the postmaster) and start it again on the same data.

const execFileAsync = promisify(execFile);

/** The server's superuser, as on the operator's servers. */
export const LIVE_SUPERUSER = 'postgres';

export interface LiveServer {
  readonly port: number;
  /** Holds data/, the socket and server.log; removed by stop(). */
  readonly dir: string;
  /** A `--target url` handle (not scratch): seedCanary, dumpAll and psql from cluster.ts take it. */
  readonly handle: TargetHandle;
  /** DATABASE_URL (no password) and PGPASSWORD: the environment of a CLI run against this server. */
  readonly cliEnv: { DATABASE_URL: string; PGPASSWORD: string };
  /** The postmaster's pid, from postmaster.pid. */
  postmasterPid(): Promise<number>;
  /** SIGKILL to the postmaster; resolves once it and every child it had are gone. */
  kill9(): Promise<void>;
  /** Starts the server again on the same data and port (crash recovery after kill9) and waits for it. */
  restart(): Promise<void>;
  /** Stops the server (if running) and removes its directory. */
  stop(): Promise<void>;
}

export interface RunAs {
  uid: number;
  gid: number;
}

/** The `postgres` OS user's uid and gid. */
export async function postgresOsUser(): Promise<RunAs> {
  const passwd = await readFile('/etc/passwd', 'utf8');
  const fields = passwd
    .split('\n')
    .find((line) => line.startsWith('postgres:'))
    ?.split(':');
  if (!fields?.[2] || !fields[3]) throw new Error('there is no postgres OS user');
  return { uid: Number(fields[2]), gid: Number(fields[3]) };
}

/** initdb and postgres refuse to run as root: then they run as the `postgres` OS user. */
async function serverUser(): Promise<RunAs | undefined> {
  return process.getuid?.() === 0 ? postgresOsUser() : undefined;
}

/** A process as /proc shows it: its arguments and environment. */
export interface ProcessInfo {
  pid: number;
  argv: string[];
  env: Record<string, string>;
}

/** Every process this user may inspect (as root: all), with argv and environment. */
export async function listProcesses(): Promise<ProcessInfo[]> {
  const pids = (await readdir('/proc')).filter((name) => /^\d+$/.test(name)).map(Number);
  const found: ProcessInfo[] = [];
  for (const pid of pids) {
    const info = processInfo(pid);
    if (info) found.push(info);
  }
  return found;
}

/**
 * One process's argv and environment, read at once (undefined once it is gone, for a kernel thread, and
 * for this process). Synchronous on purpose: /proc reads take microseconds, and a scan that queued
 * hundreds of them on a busy thread pool took long enough for a short-lived process to come and go.
 */
export function processInfo(pid: number): ProcessInfo | undefined {
  const read = (name: string) => {
    try {
      return readFileSync(`/proc/${pid}/${name}`, 'utf8');
    } catch {
      return '';
    }
  };
  const cmdline = read('cmdline');
  if (cmdline === '' || pid === process.pid) return undefined;
  const env: Record<string, string> = {};
  for (const pair of read('environ').split('\0')) {
    const eq = pair.indexOf('=');
    if (eq > 0) env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return { pid, argv: cmdline.replace(/\0$/, '').split('\0'), env };
}

/** Parent pid of a process, from /proc/PID/stat (undefined once it is gone). */
async function parentOf(pid: number): Promise<number | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  // The command name (field 2) may hold spaces and parentheses: the fields after its last `)` are safe.
  const rest = stat?.slice(stat.lastIndexOf(')') + 2).split(' ');
  return rest?.[1] === undefined ? undefined : Number(rest[1]);
}

async function childrenOf(pid: number): Promise<number[]> {
  const pids = (await readdir('/proc')).filter((name) => /^\d+$/.test(name)).map(Number);
  const children: number[] = [];
  for (const candidate of pids) if ((await parentOf(candidate)) === pid) children.push(candidate);
  return children;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** initdb (scram, a random superuser password) into a temp dir, then pg_ctl start on a free loopback port. */
export async function startLiveServer(): Promise<LiveServer> {
  const { binDir } = await findPgBinDir({ path: process.env.PATH ?? '', versionRoots: DEFAULT_SEARCH_ROOTS });
  const runAs = await serverUser();
  const spawnAs = runAs ?? {};
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' };
  const dir = await mkdtemp(join(tmpdir(), 'live-server-'));
  const data = join(dir, 'data');
  const password = randomBytes(18).toString('base64url');
  let port = 0;
  const pgCtl = (args: string[]) =>
    execFileAsync(join(binDir, 'pg_ctl'), ['-D', data, ...args], { env, ...spawnAs }).catch(
      (error: Error & { stderr?: string; stdout?: string }) => {
        throw new Error(`pg_ctl ${args[0]} failed: ${error.stderr || error.stdout || error.message}`, {
          cause: error,
        });
      },
    );
  const start = () =>
    pgCtl([
      'start',
      '-w',
      '-t',
      '60',
      '-l',
      join(dir, 'server.log'),
      '-o',
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`,
    ]);
  try {
    if (runAs) await chown(dir, runAs.uid, runAs.gid);
    const pwfile = join(dir, 'initdb.pw');
    await writeFile(pwfile, `${password}\n`, { mode: 0o600 });
    if (runAs) await chown(pwfile, runAs.uid, runAs.gid);
    await execFileAsync(
      join(binDir, 'initdb'),
      ['-D', data, '-U', LIVE_SUPERUSER, `--pwfile=${pwfile}`, '-A', 'scram-sha-256', '-E', 'UTF8'],
      { env, ...spawnAs },
    );
    await rm(pwfile);
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      try {
        await start();
        break;
      } catch (error) {
        // Someone took the port between freePort and the bind: try another.
        if (attempt === 3) throw error;
      }
    }
  } catch (error) {
    await pgCtl(['stop', '-m', 'immediate']).catch(() => {});
    await rm(dir, { recursive: true, force: true });
    throw error;
  }

  const connection: Connection = {
    host: '127.0.0.1',
    port,
    user: LIVE_SUPERUSER,
    password,
    database: 'postgres',
  };
  const client = new pg.Client({ ...connection, connectionTimeoutMillis: 10_000 });
  await client.connect();
  const { rows } = await client
    .query<{ num: string }>(`SELECT current_setting('server_version_num') AS num`)
    .finally(() => client.end());
  const postmasterPid = async () =>
    Number((await readFile(join(data, 'postmaster.pid'), 'utf8')).split('\n')[0]);

  return {
    port,
    dir,
    handle: {
      kind: 'url',
      description: `live test server 127.0.0.1:${port}`,
      connection,
      serverVersion: versionFromNum(Number(rows[0]?.num)),
      scratch: false,
      tools: { kind: 'host', binDir },
    },
    cliEnv: { DATABASE_URL: `postgres://${LIVE_SUPERUSER}@127.0.0.1:${port}/postgres`, PGPASSWORD: password },
    postmasterPid,
    async kill9() {
      const pid = await postmasterPid();
      const family = [pid, ...(await childrenOf(pid))];
      process.kill(pid, 'SIGKILL');
      // The children notice the postmaster's death on their own; a restart must wait for the last of
      // them, or the new postmaster finds the old shared memory still attached.
      const deadline = Date.now() + 30_000;
      while (family.some(alive)) {
        if (Date.now() > deadline) throw new Error(`server processes ${family.filter(alive)} outlived 30 s`);
        await sleep(50);
      }
    },
    restart: async () => {
      await start();
    },
    async stop() {
      await pgCtl(['stop', '-m', 'fast', '-t', '30']).catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}
