/** The drill's processes as /proc shows them: a test signals a drill when its tools really run. */
import { readdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { listProcesses, type ProcessInfo, processInfo } from './live-server.ts';

/** Fields of /proc/PID/stat after the command name: [state, ppid, pgrp, …] (undefined once it is gone). */
export async function statOf(pid: number): Promise<string[] | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  // The command name (field 2) may hold spaces and parentheses: the fields after its last `)` are safe.
  return stat?.slice(stat.lastIndexOf(')') + 2).split(' ');
}

export async function processesInGroup(pgid: number): Promise<ProcessInfo[]> {
  const found: ProcessInfo[] = [];
  for (const p of await listProcesses()) if ((await statOf(p.pid))?.[2] === String(pgid)) found.push(p);
  return found;
}

/**
 * The process and everything under it (the drill's tools run in process groups of their own). The
 * parents come from one quick synchronous pass over /proc/PID/stat, so a process that lives a few
 * milliseconds is either seen with its parent or not at all; only those under `root` are then read.
 */
export async function descendantsOf(root: number): Promise<ProcessInfo[]> {
  const parent = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue;
    }
    parent.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
  }
  const under = (pid: number): boolean => {
    for (let at = parent.get(pid); at !== undefined && at > 1; at = parent.get(at))
      if (at === root) return true;
    return false;
  };
  return [...parent.keys()].filter(under).flatMap((pid) => processInfo(pid) ?? []);
}

export const isRestorePsql = (p: ProcessInfo) =>
  /(^|\/)psql$/.test(p.argv[0] ?? '') && p.argv.includes('ON_ERROR_STOP=1');

/** Waits until the drill's restore psql runs, as /proc shows it; returns its pid. */
export async function restorePsqlUnder(root: number, exited: () => boolean): Promise<number> {
  for (;;) {
    const psql = (await descendantsOf(root)).find(isRestorePsql);
    if (psql) return psql.pid;
    if (exited()) throw new Error(`the drill (pid ${root}) exited before its restore psql ran`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
