import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { createGzip } from 'node:zlib';
import pg from 'pg';
import { type BackupNaming, formatBackupName } from '../backups/naming.ts';
import { TargetError } from '../errors.ts';
import type { Executor } from '../exec/executor.ts';
import { databaseExists, withClient } from '../pg/databases.ts';
import type { TargetHandle } from '../targets/target.ts';
import { canarySeedSql } from '../verify/canary-fixture.ts';

/** Creates the canary database with the fixture's tables and rows. Refuses if it already exists. */
export async function seedCanary(target: TargetHandle, canary: string): Promise<void> {
  await withClient(target.connection, target.connection.database, async (client) => {
    if (await databaseExists(client, canary)) {
      throw new TargetError(
        `The target already holds a database ${canary}; self-contained mode seeds its own canary. Use --backups, or another --canary.`,
      );
    }
    await client.query(`CREATE DATABASE ${pg.escapeIdentifier(canary)}`);
  });
  await withClient(target.connection, canary, (client) => client.query(canarySeedSql()));
}

/**
 * Takes a backup exactly as the cluster's CronJob does, `pg_dumpall | gzip` under its file name, into
 * `dir`. gzip runs in-process (same format) so the path needs no gzip binary where the tools run.
 */
export async function takeBackup(
  executor: Executor,
  naming: BackupNaming,
  dir: string,
  at: Date,
): Promise<string> {
  const file = join(dir, formatBackupName(naming, at));
  const gzip = createGzip();
  const written = new Promise<void>((resolve, reject) => {
    const out = createWriteStream(file, { mode: 0o600 });
    out.on('finish', resolve);
    out.on('error', reject);
    gzip.pipe(out);
  });
  const result = await executor.run('pg_dumpall', ['-w'], { stdout: gzip });
  await written;
  if (result.exitCode !== 0) {
    throw new TargetError(
      `pg_dumpall failed (exit ${result.exitCode ?? result.signal}): ${result.stderr.trim()}`,
    );
  }
  return file;
}
