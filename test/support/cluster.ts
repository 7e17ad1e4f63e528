import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { collector } from '../../lib/exec/tool-output.ts';
import { silentLogger } from '../../lib/log.ts';
import { DEFAULT_SEARCH_ROOTS, findPgBinDir } from '../../lib/pg/binaries.ts';
import { executorFor } from '../../lib/targets/attach.ts';
import { startLocalTarget } from '../../lib/targets/local.ts';
import type { StartedTarget, TargetHandle } from '../../lib/targets/target.ts';

/** A throwaway cluster for a test file; the caller stops it in afterAll. */
export async function startTestCluster(): Promise<StartedTarget> {
  const { binDir } = await findPgBinDir({ path: process.env.PATH ?? '', versionRoots: DEFAULT_SEARCH_ROOTS });
  return startLocalTarget({ binDir, tempRoot: tmpdir(), baseEnv: process.env, log: silentLogger });
}

/** Runs a client tool against the cluster and returns its stdout as text; fails on a non-zero exit. */
export async function toolOutput(
  target: TargetHandle,
  tool: 'pg_dumpall' | 'pg_dump' | 'psql',
  args: string[],
): Promise<string> {
  const out = collector();
  const result = await (await executorFor(target, process.env)).run(tool, args, { stdout: out.sink });
  if (result.exitCode !== 0) throw new Error(`${tool} failed: ${result.stderr}`);
  return out.text();
}

/** The cluster's pg_dumpall as text, as the backup CronJob takes it. */
export function dumpAll(target: TargetHandle): Promise<string> {
  return toolOutput(target, 'pg_dumpall', ['-w']);
}

/** Runs SQL through psql (ON_ERROR_STOP) in a database of the cluster. */
export async function psql(target: TargetHandle, database: string, sql: string): Promise<string> {
  return toolOutput(target, 'psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-d', database, '-c', sql]);
}

/** The dump with a minute-long statement just before its trailer: a restore that is surely mid-way. */
/** Creates database `name` on the server and runs `sql` in it (a test's application database). */
export async function createDatabase(target: TargetHandle, name: string, sql: string): Promise<void> {
  await psql(target, 'postgres', `CREATE DATABASE ${name}`);
  await psql(target, name, sql);
}

export function slowDump(dump: string): string {
  const trailer = '--\n-- PostgreSQL database cluster dump complete';
  const at = dump.lastIndexOf(trailer);
  if (at < 0) throw new Error('not a complete pg_dumpall');
  return `${dump.slice(0, at)}SELECT pg_sleep(60);\n\n${dump.slice(at)}`;
}

/** Writes SQL text as the CronJob's gzip backup under its file name, dated `at`. */
export function writeBackup(dir: string, at: string, sql: string): Promise<string> {
  return writeBackupBytes(dir, at, gzipSync(sql));
}

/** Writes bytes as they are (damaged ones, say) under the CronJob's file name, dated `at`. */
export async function writeBackupBytes(dir: string, at: string, bytes: Buffer): Promise<string> {
  const file = join(dir, `postgres-backup-${at}.sql.gz`);
  await writeFile(file, bytes);
  return file;
}

/** `pg_dump` of one database in an archive format (`custom` → a file, `directory` → a directory). */
export async function dumpArchive(
  target: TargetHandle,
  database: string,
  format: 'custom' | 'directory',
  path: string,
  flags: readonly string[] = [],
): Promise<void> {
  await toolOutput(target, 'pg_dump', [
    `-F${format === 'custom' ? 'c' : 'd'}`,
    ...flags,
    '-d',
    database,
    '-f',
    path,
  ]);
}
