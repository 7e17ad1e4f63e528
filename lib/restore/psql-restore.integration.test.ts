/** restorePlainDump against a real server with the real psql. */
import { readdir, readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dumpAll, psql, startTestCluster } from '../../test/support/cluster.ts';
import { seedCanary } from '../drill/seed.ts';
import { RestoreFailedError, RestoreTimeoutError } from '../errors.ts';
import { hostExecutor } from '../exec/host.ts';
import { hostBinDir, type StartedTarget } from '../targets/target.ts';
import { type PlainRestoreOptions, restorePlainDump } from './psql-restore.ts';

let source: StartedTarget;
let target: StartedTarget;
let dump: string;

beforeAll(async () => {
  [source, target] = await Promise.all([startTestCluster(), startTestCluster()]);
  await seedCanary(source.handle, 'backup_test');
  dump = await dumpAll(source.handle);
});
afterAll(async () => {
  await Promise.all([source?.stop(), target?.stop()]);
});

function options(sql: string | Buffer, extra: Partial<PlainRestoreOptions> = {}): PlainRestoreOptions {
  return {
    executor: hostExecutor(hostBinDir(target.handle), target.handle.connection, process.env),
    source: Readable.from([gzipSync(sql)]),
    compression: 'gzip',
    kind: 'pg_dumpall',
    database: 'postgres',
    bootstrapRole: target.handle.connection.user,
    timeoutMs: 60_000,
    clock: () => performance.now(),
    ...extra,
  };
}

describe('restorePlainDump', () => {
  it('replays a whole pg_dumpall into a fresh cluster, skipping only the bootstrap role', async () => {
    const outcome = await restorePlainDump(options(dump));
    expect(outcome.sqlBytes).toBe(Buffer.byteLength(dump));
    const lines = dump.split('\n');
    expect(outcome.skipped).toEqual([
      { line: lines.indexOf('CREATE ROLE postgres;') + 1, statement: 'CREATE ROLE postgres;' },
      {
        line: lines.findIndex((l) => l.startsWith('ALTER ROLE postgres WITH ')) + 1,
        statement: 'ALTER ROLE postgres WITH …',
      },
    ]);
    expect(
      await psql(target.handle, 'backup_test', "SELECT string_agg(name, ',' ORDER BY id) FROM users"),
    ).toBe('alice,bob,charlie\n');
    // The password the drill connects with survived the dump's ALTER ROLE.
    expect(await psql(target.handle, 'postgres', 'SELECT 1')).toBe('1\n');
    await psql(target.handle, 'postgres', 'DROP DATABASE backup_test');
  });

  it('stops at the first error and names its line', async () => {
    const broken = `SELECT 1;\nCREATE TABLE x (a int);\nINSERT INTO x VALUES ('not a number');\nSELECT 2;\n`;
    const error = await restorePlainDump(options(broken, { kind: 'pg_dump' })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RestoreFailedError);
    expect(error).toMatchObject({
      exitStatus: 3,
      errors: [
        {
          line: 3,
          severity: 'ERROR',
          sqlstate: '22P02',
          message: 'invalid input syntax for type integer: "not a number"',
        },
      ],
    });
    await psql(target.handle, 'postgres', 'DROP TABLE x');
  });

  it('stops a restore that reaches its hard ceiling, saying how long it ran', async () => {
    const slow = 'SELECT pg_sleep(30);\n';
    const error = await restorePlainDump(
      options(slow, { kind: 'pg_dump', timeoutMs: 500, budgetMs: 200 }),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RestoreTimeoutError);
    expect((error as Error).message).toMatch(
      /^Restore stopped at the RTO ceiling of 0\.5 s after \d+\.\d s \(budget 0\.2 s\): the real RTO is longer \(\d+ bytes of SQL replayed by then\)\.$/,
    );
    expect(error).toMatchObject({ budgetSeconds: 0.2, ceilingSeconds: 0.5 });
    expect((error as RestoreTimeoutError).elapsedSeconds).toBeGreaterThanOrEqual(0.5);
  });

  it('fails when the backup breaks mid-stream, even after psql took the first part', async () => {
    const gz = gzipSync(dump);
    const damaged = Buffer.from(gz);
    const at = Math.floor(gz.length * 0.6);
    damaged[at] = (damaged[at] ?? 0) ^ 0xff;
    const error = await restorePlainDump(options('', { source: Readable.from([damaged]) })).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(RestoreFailedError);
    expect((error as Error).message).toMatch(/^Restore failed while reading the backup: /);
    await psql(target.handle, 'postgres', 'DROP DATABASE IF EXISTS backup_test');
  });

  it('never puts the password in a process argument', async () => {
    const password = target.handle.connection.password ?? '';
    expect(password.length).toBeGreaterThan(10);
    // The backup stream stays open until our psql has been seen in /proc, so psql is alive while we
    // look, however slow the machine: no wall-clock window to catch it in.
    const backup = new PassThrough();
    const running = restorePlainDump(options('', { kind: 'pg_dump', source: backup }));
    const psqls = await Promise.race([
      ourRunningPsqls(),
      running.then(() => {
        throw new Error('the restore ended before its psql was seen in /proc');
      }),
    ]);
    backup.end(gzipSync('SELECT 1;\n'));
    await running;
    expect(psqls.length).toBeGreaterThan(0);
    expect(psqls.filter((c) => c.includes(password))).toEqual([]);
  });
});

/** The command lines of psql processes descending from this test process, polled until one is seen. */
async function ourRunningPsqls(): Promise<string[]> {
  for (;;) {
    const parents = new Map<number, number>();
    const cmdlines = new Map<number, string>();
    for (const entry of await readdir('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const pid = Number(entry);
      // /proc/PID/stat: "pid (comm) state ppid ..."; comm may hold spaces, so read after the last ")".
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(pid, ppid);
      cmdlines.set(pid, await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => ''));
    }
    const descends = (pid: number): boolean => {
      for (let p = parents.get(pid); p !== undefined && p > 1; p = parents.get(p)) {
        if (p === process.pid) return true;
      }
      return false;
    };
    const found = [...cmdlines]
      .filter(([pid, cmdline]) => basename(cmdline.split('\0')[0] ?? '') === 'psql' && descends(pid))
      .map(([, cmdline]) => cmdline.replaceAll('\0', ' '));
    if (found.length > 0) return found;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
