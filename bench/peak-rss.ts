import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { basename } from 'node:path';

/**
 * The PostgreSQL server and the programs that make it: in the CronJob they run in the scratch sidecar,
 * never in the drill's container. The throwaway server's guardian shell is left out with the server.
 */
const SERVER = new Set(['postgres', 'initdb', 'pg_ctl', 'pg_config']);
const GUARDIAN_MARK = 'pg-restore-drill-guardian';

/** One figure: the highest sum, over the polls, of the VmHWM of a set of processes alive at that poll. */
export interface PeakRss {
  /**
   * The drill's own processes: every `node` of its tree that runs the drill (the CLI with its vitest
   * worker, any other). Not npm under `npm run drill` (that is `launcherMb`), nor the PostgreSQL tools:
   * their memory is the same under the raw restore.
   */
  ownMb: number;
  /**
   * npm's own node process under `npm run drill`: the user's launcher, which waits for the drill and
   * runs none of it (0 for `node bin/pg-restore-drill.mjs`). Counted in the container figure.
   */
  launcherMb: number;
  /** The highest VmHWM of any one of those, and which it was. */
  largestMb: number;
  largest: string;
  /**
   * What the drill's container holds: its own processes plus the client tools it runs (psql,
   * pg_restore, pg_dump, a shell…), the server left out (a sidecar in the CronJob).
   */
  containerMb: number;
  /** Every process counted in `ownMb`, as `comm` (pid), in the order first seen. */
  counted: string[];
  /** Every other process of the container figure, as `comm` (pid). */
  tools: string[];
}

interface Proc {
  pid: number;
  ppid: number;
  comm: string;
}

/**
 * Polls /proc every `intervalMs` for the process `rootPid` and its descendants and keeps the peaks of
 * their VmHWM (a high-water mark, so a process that peaked between two polls still counts). The sums
 * are a little high, since the high-water marks of several processes need not coincide.
 */
export function watchPeakRss(rootPid: number, intervalMs = 100): { stop(): PeakRss } {
  const peak: PeakRss = {
    ownMb: 0,
    launcherMb: 0,
    largestMb: 0,
    largest: '',
    containerMb: 0,
    counted: [],
    tools: [],
  };
  const seen = new Set<number>();
  const poll = () => {
    let ownKb = 0;
    let launcherKb = 0;
    let containerKb = 0;
    for (const proc of drillProcesses(rootPid)) {
      const hwmKb = vmHwmKb(proc.pid);
      if (hwmKb === undefined) continue;
      const node = isNode(proc.pid);
      // npm names its process after the command it runs (`npm run drill …`).
      const launcher = node && proc.comm.startsWith('npm');
      const own = node && !launcher;
      containerKb += hwmKb;
      if (own) ownKb += hwmKb;
      if (launcher) launcherKb += hwmKb;
      if (!seen.has(proc.pid)) {
        seen.add(proc.pid);
        (own ? peak.counted : peak.tools).push(`${proc.comm} (${proc.pid})`);
      }
      if (own && hwmKb / 1024 > peak.largestMb) {
        peak.largestMb = hwmKb / 1024;
        peak.largest = `${proc.comm} (${proc.pid})`;
      }
    }
    peak.ownMb = Math.max(peak.ownMb, ownKb / 1024);
    peak.launcherMb = Math.max(peak.launcherMb, launcherKb / 1024);
    peak.containerMb = Math.max(peak.containerMb, containerKb / 1024);
  };
  poll();
  const timer = setInterval(poll, intervalMs);
  return {
    stop: () => {
      clearInterval(timer);
      poll();
      return peak;
    },
  };
}

/** The root and its descendants, minus the server's programs and the guardian with their subtrees. */
function drillProcesses(rootPid: number): Proc[] {
  const children = new Map<number, Proc[]>();
  let root: Proc | undefined;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const proc = readStat(Number(entry));
    if (!proc) continue;
    if (proc.pid === rootPid) root = proc;
    const list = children.get(proc.ppid);
    if (list) list.push(proc);
    else children.set(proc.ppid, [proc]);
  }
  const found: Proc[] = [];
  const queue = root ? [root] : [];
  for (let proc = queue.shift(); proc; proc = queue.shift()) {
    if (SERVER.has(proc.comm) || (proc.comm === 'sh' && cmdline(proc.pid).includes(GUARDIAN_MARK))) continue;
    const kids = children.get(proc.pid) ?? [];
    // A child between fork() and exec() is still a copy of its parent (same executable, same command
    // line, the parent's pages shared copy-on-write): its VmHWM would count the parent's memory twice.
    if (!forkedNotYetExeced(proc)) found.push(proc);
    queue.push(...kids);
  }
  return found;
}

function forkedNotYetExeced(proc: Proc): boolean {
  if (!isNode(proc.pid)) return false;
  const own = cmdline(proc.pid);
  return own !== '' && own === cmdline(proc.ppid);
}

/** A node process by its executable, not its name: npm renames itself (`npm run drill`). */
function isNode(pid: number): boolean {
  try {
    return basename(readlinkSync(`/proc/${pid}/exe`)) === 'node';
  } catch {
    return false;
  }
}

/** `/proc/PID/stat`: `pid (comm) state ppid …`; comm may hold spaces and parentheses. */
function readStat(pid: number): Proc | undefined {
  const stat = readOrUndefined(`/proc/${pid}/stat`);
  if (!stat) return undefined;
  const open = stat.indexOf('(');
  const close = stat.lastIndexOf(')');
  const ppid = Number(stat.slice(close + 2).split(' ')[1]);
  return { pid, ppid, comm: stat.slice(open + 1, close) };
}

function vmHwmKb(pid: number): number | undefined {
  const status = readOrUndefined(`/proc/${pid}/status`);
  const match = status ? /^VmHWM:\s+(\d+) kB/m.exec(status) : null;
  return match ? Number(match[1]) : undefined;
}

function cmdline(pid: number): string {
  return readOrUndefined(`/proc/${pid}/cmdline`) ?? '';
}

/** A process can end between listing /proc and reading it. */
function readOrUndefined(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}
