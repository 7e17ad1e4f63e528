import { type ChildProcess, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { Connection } from '../pg/connection.ts';
import type { PgVersion } from '../pg/version.ts';
import { serverVersion } from './server-version.ts';

const START_TIMEOUT_MS = 30_000;
const READY_POLL_MS = 20;

/**
 * Settings for a cluster that exists for minutes and is thrown away: durability buys nothing here, and
 * the drill measures how fast the dump replays, not how fast this disk syncs. The raw-psql baseline in
 * `npm run bench` runs against the same settings. WAL: 256 MB, not 1 GB. With fsync and full-page writes
 * off a checkpoint only hands the dirty buffers to the kernel, and sooner checkpoints recycle WAL segments
 * instead of creating and zero-filling new ones: a 1 GB restore took 34.8 and 34.4 s against 46.2 and
 * 49.7 s with 1 GB (raw psql, ABBA, a loaded machine), and the drill has a quarter of the WAL to remove
 * at its end.
 */
const THROWAWAY_SETTINGS = [
  'fsync=off',
  'synchronous_commit=off',
  'full_page_writes=off',
  'max_wal_size=256MB',
];

/**
 * Shell run beside the server: it owns it, and when the drill's end of its stdin closes (the drill
 * finished, failed, was interrupted, or was killed outright) it stops the server and removes the whole
 * directory: all of it where the server's user may remove it from its parent, else all but the drill's
 * mark (lib/exec/owned-dirs.ts: a --temp-dir only root may write to), which the drill or the next one
 * removes. Detached, so a Ctrl-C in the terminal reaches the drill, not it. `keep` on stdin lets go.
 * The cluster is thrown away, so it is stopped the quickest way: an immediate shutdown (SIGQUIT: the
 * server ends its sessions and exits without a shutdown checkpoint, tens of milliseconds instead of a
 * few hundred), looked at every 10 ms, SIGKILL after 10 s.
 */
const GUARDIAN = `set -u
pg=$1; dir=$2; shift 2
"$pg" "$@" >>"$dir/server.log" 2>&1 &
pid=$!
cmd=
read -r cmd || true
[ "$cmd" = keep ] && exit 0
kill -QUIT "$pid" 2>/dev/null
i=0
while kill -0 "$pid" 2>/dev/null; do
  i=$((i + 1))
  [ "$i" -ge 1000 ] && kill -KILL "$pid" 2>/dev/null
  sleep 0.01
done
find "$dir" -mindepth 1 -maxdepth 1 ! -name .pg-restore-drill-owner -exec rm -rf {} +
[ -w "\${dir%/*}" ] && rm -rf "$dir"
exit 0
`;

/** How the throwaway server runs: its binaries, its directory, its environment, its user. */
export interface ServerLaunch {
  binDir: string;
  dir: string;
  env: NodeJS.ProcessEnv;
  spawnAs: { uid?: number; gid?: number };
  /**
   * Called when the start first waits on a process of its own (initdb, the template's copy, the
   * server): TargetDeps.starting, idempotent.
   */
  waiting?: () => void;
}

/** Starts the server of `dir/data` on loopback `port`, owned by a guardian shell. */
export function spawnGuardian(launch: ServerLaunch, port: number): ChildProcess {
  const { binDir, dir } = launch;
  const args = ['-D', join(dir, 'data'), '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1'];
  for (const setting of THROWAWAY_SETTINGS) args.push('-c', setting);
  return spawn('sh', ['-c', GUARDIAN, 'pg-restore-drill-guardian', join(binDir, 'postgres'), dir, ...args], {
    detached: true,
    stdio: ['pipe', 'ignore', 'ignore'],
    env: launch.env,
    ...launch.spawnAs,
  });
}

/** Closes the guardian's stdin and waits for it to stop the server and remove the directory. */
export async function stopGuardian(
  guardian: ChildProcess,
  fallbackRemove: () => Promise<void>,
): Promise<void> {
  if (guardian.exitCode === null && guardian.signalCode === null) {
    const exited = new Promise((done) => guardian.once('exit', done));
    guardian.stdin?.end();
    const timeout = sleep(30_000, 'timeout', { ref: false });
    if ((await Promise.race([exited, timeout])) === 'timeout') guardian.kill('SIGKILL');
  }
  // The guardian removes the directory itself; this covers a guardian that died first.
  await fallbackRemove();
}

export type Readiness = { ok: true; version: PgVersion } | { ok: false; reason: string; portTaken: boolean };

/**
 * Waits until the server answers, or its log says it will not (a FATAL, a port already taken). `first`
 * runs on the first session before it is ended (the local target sets the run's password there).
 */
export async function waitReady(
  connection: Connection,
  logFile: string,
  first?: (client: pg.Client) => Promise<void>,
): Promise<Readiness> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  let lastError = '';
  while (Date.now() < deadline) {
    // ssl false: on its Unix socket; left unset, pg would take PGSSLMODE from the caller's environment.
    const client = new pg.Client({ ...connection, ssl: false, connectionTimeoutMillis: 2000 });
    const connected = await client.connect().then(
      () => true,
      (error: Error) => {
        lastError = error.message;
        return false;
      },
    );
    if (connected) {
      try {
        await first?.(client);
        return { ok: true, version: await serverVersion(client) };
      } finally {
        await client.end().catch(() => {});
      }
    }
    await client.end().catch(() => {});
    const failed = await startFailed(logFile);
    if (failed) return failed;
    // The server takes some tens of milliseconds to accept connections: looked at often, it is used as
    // soon as it does (a failed attempt, before the socket exists, costs well under a millisecond).
    await sleep(READY_POLL_MS);
  }
  return {
    ok: false,
    reason: `no connection within ${START_TIMEOUT_MS / 1000} s (last error: ${lastError})`,
    portTaken: false,
  };
}

/** The server's log says it will not start: a FATAL or PANIC (a port already taken among them). */
async function startFailed(logFile: string): Promise<Readiness | undefined> {
  // Our own early connection attempts make the server log `FATAL: the database system is starting
  // up`: that one is not a failed start.
  const serverLog = (await readFile(logFile, 'utf8').catch(() => ''))
    .split('\n')
    .filter((line) => !line.includes('the database system is starting up'))
    .join('\n');
  if (!/\b(FATAL|PANIC):/.test(serverLog)) return undefined;
  return {
    ok: false,
    reason: tail(serverLog),
    portTaken: /could not bind|Address already in use/.test(serverLog),
  };
}

function tail(text: string): string {
  return text.trim().split('\n').slice(-5).join(' | ');
}
