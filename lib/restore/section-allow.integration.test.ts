/**
 * restoreDatabaseSection (canary modes) with allow rules, against a real server with the real psql:
 * the section still runs in one transaction; an accepted error is rolled back to its own savepoint and
 * the rest of the section is committed; an error no rule accepts fails the restore with its line.
 */
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dumpAll, psql, startTestCluster } from '../../test/support/cluster.ts';
import { seedCanary } from '../drill/seed.ts';
import { RestoreFailedError } from '../errors.ts';
import { hostExecutor } from '../exec/host.ts';
import { dropDatabase, withClient } from '../pg/databases.ts';
import { hostBinDir, type StartedTarget } from '../targets/target.ts';
import type { AllowRule } from './allowed-errors.ts';
import { restoreDatabaseSection } from './section-restore.ts';

let source: StartedTarget;
let target: StartedTarget;
let dump: string;

beforeAll(async () => {
  [source, target] = await Promise.all([startTestCluster(), startTestCluster()]);
  await seedCanary(source.handle, 'backup_test');
  // A role the target does not have owns one table of the canary: its OWNER TO fails there (42704).
  await psql(
    source.handle,
    'backup_test',
    'CREATE ROLE legacy; CREATE TABLE public.legacy_notes (id int); ALTER TABLE public.legacy_notes OWNER TO legacy',
  );
  dump = await dumpAll(source.handle);
}, 60_000);
afterAll(async () => {
  await Promise.all([source?.stop(), target?.stop()]);
});

function restore(sql: string, into: string, allowedErrors: AllowRule[]) {
  return restoreDatabaseSection({
    executor: hostExecutor(hostBinDir(target.handle), target.handle.connection, process.env),
    source: Readable.from([gzipSync(sql)]),
    compression: 'gzip',
    database: 'backup_test',
    into,
    timeoutMs: 60_000,
    clock: () => performance.now(),
    allowedErrors,
    createDatabase: (statement) =>
      withClient(target.handle.connection, 'postgres', async (client) => {
        await client.query(statement.replaceAll('backup_test', into));
      }),
  });
}

const drop = (name: string) =>
  withClient(target.handle.connection, 'postgres', (c) =>
    dropDatabase(c, name, { canary: name, createdThisRun: [] }),
  );

describe('restoreDatabaseSection with allow rules', () => {
  const ownerLine = () => dump.split('\n').indexOf('ALTER TABLE public.legacy_notes OWNER TO legacy;') + 1;

  it('accepts the known error and commits the rest of the section', async () => {
    const outcome = await restore(dump, 'backup_test', [{ sqlstate: '42704', match: 'role "legacy"' }]);
    expect(outcome.accepted).toEqual([
      { line: ownerLine(), sqlstate: '42704', message: 'role "legacy" does not exist', rule: 1 },
    ]);
    expect(
      await psql(target.handle, 'backup_test', "SELECT string_agg(name, ',' ORDER BY id) FROM public.users"),
    ).toBe('alice,bob,charlie\n');
    // The statements after the accepted error ran in the same transaction: the rows and the key are there.
    expect(await psql(target.handle, 'backup_test', 'SELECT count(*) FROM public.transactions')).toBe('5\n');
    await drop('backup_test');
  });

  it('without rules the same section fails and is rolled back whole', async () => {
    const error = await restore(dump, 'backup_test', []).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RestoreFailedError);
    expect((error as Error).message).toMatch(
      new RegExp(
        `section of backup_test was rolled back: line ${ownerLine()}: ERROR 42704: role "legacy" does not exist`,
      ),
    );
    expect(
      await psql(target.handle, 'backup_test', `SELECT count(*) FROM pg_class WHERE relname = 'users'`),
    ).toBe('0\n');
    await drop('backup_test');
  });

  it('fails on an error no rule accepts, naming its line, and says the section was committed', async () => {
    const lines = dump.split('\n');
    const at = lines.findIndex((l) => l.startsWith('CREATE TABLE public.users'));
    lines.splice(at, 0, 'SELECT drill_no_such_function();');
    const error = await restore(lines.join('\n'), 'backup_test', [{ sqlstate: '42704' }]).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(RestoreFailedError);
    expect((error as Error).message).toBe(
      `Restore failed: an error the allow rules do not accept: line ${at + 1}: ERROR 42883: function drill_no_such_function() does not exist (no allow rule matches it); 1 other error(s) were accepted; psql went on past errors (allow rules in force: ON_ERROR_STOP=0, each failed statement rolled back to its own savepoint), so the rest of the section was committed into backup_test`,
    );
    await drop('backup_test');
  });

  it('says the section was rolled back, not committed, when its session ends mid-way (pg_terminate_backend)', async () => {
    const lines = dump.split('\n');
    const at = lines.findIndex((l) => l.startsWith('CREATE TABLE public.users'));
    lines.splice(at, 0, 'SELECT pg_sleep(60);');
    const restoring = restore(lines.join('\n'), 'backup_test', [{ sqlstate: '42704' }]).catch(
      (e: unknown) => e,
    );
    let ended = 0;
    for (let i = 0; i < 600 && ended === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      const n = await psql(
        target.handle,
        'postgres',
        `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(60);'`,
      );
      ended = Number(n.trim());
    }
    const error = await restoring;
    expect(ended).toBe(1);
    expect((error as Error).message).toMatch(
      new RegExp(
        `^Restore stopped by the target, not by the backup: the target ended the session during the restore .*\\(line ${at + 1}: FATAL 57P01: terminating connection due to administrator command\\); the section of backup_test was rolled back\\. `,
      ),
    );
    // The transaction died with the session: nothing of the section is there.
    expect(
      await psql(target.handle, 'backup_test', `SELECT count(*) FROM pg_class WHERE relname = 'users'`),
    ).toBe('0\n');
    await drop('backup_test');
  });
});
