/**
 * A backup stream that breaks mid-restore in canary mode (the canary's section through `psql -1`,
 * beside the canary): the restore fails, the half-fed transaction is rolled back (psql is stopped, not
 * let to reach its COMMIT at the end of its input), and the canary is as it was. Checked on the
 * databases' state, against a real server with the real psql.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { constants, createGzip } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dumpAll, psql, startTestCluster, toolOutput } from '../../test/support/cluster.ts';
import { seedCanary } from '../drill/seed.ts';
import { RestoreFailedError } from '../errors.ts';
import { hostExecutor } from '../exec/host.ts';
import { withClient } from '../pg/databases.ts';
import { hostBinDir, type StartedTarget } from '../targets/target.ts';
import { restoreDatabaseSection } from './section-restore.ts';

const CANARY = 'backup_test';
let server: StartedTarget;
let dump: string;

beforeAll(async () => {
  server = await startTestCluster();
  await seedCanary(server.handle, CANARY);
  dump = await dumpAll(server.handle);
});
afterAll(async () => {
  await server?.stop();
});

/** The gzip of `text`, flushed so a reader gets all of it, but not ended: more was to come. */
function gzipPrefix(text: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const gzip = createGzip();
    const chunks: Buffer[] = [];
    gzip.on('data', (chunk: Buffer) => chunks.push(chunk));
    gzip.on('error', reject);
    gzip.write(text);
    gzip.flush(constants.Z_SYNC_FLUSH, () => resolve(Buffer.concat(chunks)));
  });
}

/** The canary as it stands: its rows and its schema, hashed. */
async function canaryNow(): Promise<{ users: string; transactions: string; schema: string }> {
  const schema = (await toolOutput(server.handle, 'pg_dump', ['-s', '-d', CANARY]))
    .split('\n')
    .filter((line) => !/^\\(un)?restrict /.test(line))
    .join('\n');
  return {
    users: await psql(server.handle, CANARY, "SELECT string_agg(name, ',' ORDER BY id) FROM users"),
    transactions: await psql(server.handle, CANARY, 'SELECT count(*) FROM transactions'),
    schema: createHash('sha256').update(schema).digest('hex'),
  };
}

/** A backup source that gives `bytes` and then nothing more until break(), which fails its read. */
function breakableSource(bytes: Buffer): { source: Readable; break(): void } {
  let given = false;
  const source = new Readable({
    read() {
      if (!given) this.push(bytes);
      given = true;
    },
  });
  return {
    source,
    // The volume goes away under the read, as an NFS or disk fault would.
    break: () => source.destroy(Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' })),
  };
}

function restoreInto(scratch: string, source: Readable) {
  return restoreDatabaseSection({
    executor: hostExecutor(hostBinDir(server.handle), server.handle.connection, process.env),
    source,
    compression: 'gzip',
    database: CANARY,
    into: scratch,
    timeoutMs: 60_000,
    clock: () => performance.now(),
    // The section's CREATE DATABASE, already renamed to the scratch database.
    createDatabase: (statement) =>
      withClient(server.handle.connection, 'postgres', async (client) => {
        await client.query(statement);
      }),
  });
}

/** Waits until psql's session in `database` is inside the users' COPY, waiting for more rows. */
async function psqlMidTransaction(database: string, restore: Promise<unknown>): Promise<void> {
  const ended = restore.then(
    () => 'ended',
    () => 'ended',
  );
  for (;;) {
    const state = await psql(
      server.handle,
      'postgres',
      `SELECT count(*) FROM pg_stat_activity WHERE datname = '${database}' AND state = 'active' AND query LIKE 'COPY public.users %'`,
    );
    if (state === '1\n') return;
    if ((await Promise.race([ended, new Promise((r) => setTimeout(() => r('running'), 50))])) === 'ended')
      throw new Error("the restore ended before psql reached the users' COPY");
  }
}

describe('a backup stream that breaks mid-restore in canary mode', () => {
  it('fails the restore, rolls the section back and leaves the canary as it was', async () => {
    const before = await canaryNow();
    expect([before.users, before.transactions]).toEqual(['alice,bob,charlie\n', '5\n']);
    // Cut inside the canary's section, after its tables and the first of the users' rows.
    const copyUsers = dump.indexOf('COPY public.users ');
    expect(copyUsers).toBeGreaterThan(dump.indexOf(`\\connect ${CANARY}`));
    const cut = dump.indexOf('\n', dump.indexOf('\n', copyUsers) + 1) + 1;
    const feed = breakableSource(await gzipPrefix(dump.slice(0, cut)));
    const scratch = 'drill_break_mid';

    const restore = restoreInto(scratch, feed.source);
    // psql has made the tables and sits in the users' COPY, in its one transaction: now the read fails.
    await psqlMidTransaction(scratch, restore);
    expect(
      await psql(server.handle, 'postgres', `SELECT count(*) FROM pg_database WHERE datname = '${scratch}'`),
    ).toBe('1\n');
    feed.break();
    const error = await restore.catch((e: unknown) => e);

    expect(error).toBeInstanceOf(RestoreFailedError);
    expect((error as Error).message).toEqual('Restore failed while reading the backup: EIO: i/o error, read');
    // The half-fed section was rolled back, not committed at the end of psql's input: no table.
    expect(
      await psql(
        server.handle,
        scratch,
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'",
      ),
    ).toBe('0\n');
    expect(
      await psql(
        server.handle,
        'postgres',
        `SELECT count(*) FROM pg_stat_activity WHERE datname = '${scratch}'`,
      ),
    ).toBe('0\n');
    expect(await canaryNow()).toEqual(before);
  });

  it("fails, and does not hang, when the read fails before the canary's section is reached", async () => {
    const before = await canaryNow();
    const feed = breakableSource(await gzipPrefix(dump.slice(0, dump.indexOf(`\\connect ${CANARY}`) - 200)));
    const scratch = 'drill_break_early';

    const restore = restoreInto(scratch, feed.source);
    // Given a moment to read what it has; the section's head is not in it.
    await new Promise((resolve) => setTimeout(resolve, 200));
    feed.break();
    const error = await restore.catch((e: unknown) => e);

    expect(error).toBeInstanceOf(RestoreFailedError);
    expect((error as Error).message).toEqual('Restore failed: EIO: i/o error, read');
    expect(
      await psql(server.handle, 'postgres', `SELECT count(*) FROM pg_database WHERE datname = '${scratch}'`),
    ).toBe('0\n');
    expect(await canaryNow()).toEqual(before);
  });
});
