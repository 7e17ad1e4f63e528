import { readdirSync, readFileSync } from 'node:fs';

/**
 * The PostgreSQL programs the drill runs: their memory is the tools', not the drill's. The throwaway
 * server's guardian shell is left out with the server under it.
 */
const TOOLS = new Set([
  'postgres',
  'psql',
  'pg_restore',
  'pg_dump',
  'pg_dumpall',
  'initdb',
  'pg_ctl',
  'pg_config',
]);
const GUARDIAN_MARK = 'pg-restore-drill-guardian';

export interface PeakRss {
  /** Highest sum, over the polls, of VmHWM of the drill's own processes alive at that poll. */
  sumMb: number;
  /** Highest VmHWM of any one of them, and which it was. */
  largestMb: number;
  largest: string;
  /** Every process counted, as `comm` (pid), in the order first seen. */
  counted: string[];
}

interface Proc {
  pid: number;
  ppid: number;
  comm: string;
}

/**
 * Polls /proc every `intervalMs` for the process `rootPid` and its descendants (the CLI and its vitest
 * fork worker) and keeps the peak of their VmHWM. PostgreSQL's programs and the server's guardian are
 * skipped with everything under them.
 */
export function watchPeakRss(rootPid: number, intervalMs = 100): { stop(): PeakRss } {
  const peak: PeakRss = { sumMb: 0, largestMb: 0, largest: '', counted: [] };
  const seen = new Set<number>();
  const poll = () => {
    const tree = drillProcesses(rootPid);
    let sumKb = 0;
    for (const proc of tree) {
      const hwmKb = vmHwmKb(proc.pid);
      if (hwmKb === undefined) continue;
      sumKb += hwmKb;
      if (!seen.has(proc.pid)) {
        seen.add(proc.pid);
        peak.counted.push(`${proc.comm} (${proc.pid})`);
      }
      if (hwmKb / 1024 > peak.largestMb) {
        peak.largestMb = hwmKb / 1024;
        peak.largest = `${proc.comm} (${proc.pid})`;
      }
    }
    peak.sumMb = Math.max(peak.sumMb, sumKb / 1024);
  };
  poll();
  const timer = setInterval(poll, intervalMs);
  return {
    stop: () => {
      clearInterval(timer);
      return peak;
    },
  };
}

/** The root and its descendants, minus PostgreSQL's programs and the guardian with their subtrees. */
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
    if (TOOLS.has(proc.comm) || (proc.comm === 'sh' && cmdline(proc.pid).includes(GUARDIAN_MARK))) continue;
    found.push(proc);
    queue.push(...(children.get(proc.pid) ?? []));
  }
  return found;
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
