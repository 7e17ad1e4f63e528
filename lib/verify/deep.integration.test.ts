/** Splitting, digesting and deep verification against real pg_dumpall output of awkward databases. */
import { randomBytes } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AWKWARD_DATABASES,
  createAwkwardDatabases,
  dumpAllBytes,
} from '../../test/support/awkward-cluster.ts';
import { psql, startTestCluster } from '../../test/support/cluster.ts';
import { copyDigest, type TableDigest } from '../dump/copy-digest.ts';
import { quoteIdentAlways, renameCreateDatabase } from '../dump/database-statements.ts';
import { originalLine, splitDatabase } from '../dump/split-database.ts';
import type { Executor } from '../exec/executor.ts';
import { hostExecutor } from '../exec/host.ts';
import { connect } from '../pg/databases.ts';
import { parsePsqlStderr } from '../restore/psql-errors.ts';
import { restorePlainDump } from '../restore/psql-restore.ts';
import { hostBinDir, type StartedTarget } from '../targets/target.ts';
import { DEFAULT_TIME_ZONE, readDigests, verifyDeep } from './deep.ts';

let source: StartedTarget;
let fresh: StartedTarget;
let dump: Buffer;
let dumpDigests: TableDigest[];
const clock = () => performance.now();
const executorOf = (target: StartedTarget): Executor =>
  hostExecutor(hostBinDir(target.handle), target.handle.connection, process.env);

/** Digests what flows through, as the drill would while restoring. */
async function digestOf(bytes: Buffer): Promise<TableDigest[]> {
  const digest = copyDigest();
  await pipeline(Readable.from([bytes]), digest, new PassThrough().resume());
  return digest.digests;
}

beforeAll(async () => {
  [source, fresh] = await Promise.all([startTestCluster(), startTestCluster()]);
  await createAwkwardDatabases(source.handle);
  dump = await dumpAllBytes(source.handle);
  dumpDigests = await digestOf(dump);
});
afterAll(async () => {
  await Promise.all([source?.stop(), fresh?.stop()]);
});

describe('one database split out of the dump, restored with psql -1 under a new name', () => {
  it.each(AWKWARD_DATABASES)('%s: same rows as the original', async (name) => {
    const renamed = `drill_${randomBytes(4).toString('hex')}`;
    const split = splitDatabase({ database: name, renameTo: renamed });
    const digest = copyDigest({ database: renamed });
    const stdin = new PassThrough();
    const feeding = pipeline(Readable.from([dump]), split, digest, stdin);
    const section = await split.section;
    expect(section.name).toBe(name);
    expect(section.createDatabase).toMatch(/^CREATE DATABASE .* WITH TEMPLATE = template0 /);
    await psql(source.handle, 'postgres', renameCreateDatabase(section.createDatabase ?? '', name, renamed));
    const executor = executorOf(source);
    const run = await executor.run(
      'psql',
      ['-X', '-q', '-w', '-v', 'ON_ERROR_STOP=1', '-1', '-d', `dbname=${renamed}`, '-f', '-'],
      { stdin },
    );
    await feeding;
    expect({ exitCode: run.exitCode, stderr: run.stderr }).toEqual({ exitCode: 0, stderr: '' });

    // What the split output holds is what the dump holds for that database, filed under the new name.
    const fromDump = dumpDigests.filter((d) => d.database === name);
    expect(digest.digests.map(({ database, line, ...rest }) => rest)).toEqual(
      fromDump.map(({ database, line, ...rest }) => rest),
    );
    // Line numbers: the output's line N is the dump's line originalLine(section, N).
    expect(digest.digests.length).toBeGreaterThan(0);
    expect(digest.digests.map((d) => originalLine(section, d.line))).toEqual(fromDump.map((d) => d.line));

    // The original and the restored copy read back the same, table by table.
    const settings = { encoding: fromDump[0]?.encoding ?? 'UTF8', timeZone: DEFAULT_TIME_ZONE };
    const original = await readDigests(executor, name, fromDump, settings, clock);
    const restored = await readDigests(executor, renamed, fromDump, settings, clock);
    const content = (r: { rows: number | null; digest: string | null }) => ({
      rows: r.rows,
      digest: r.digest,
    });
    expect(restored.map(content)).toEqual(original.map(content));
    expect(original.map(content)).toEqual(fromDump.map(content));

    const deep = await verifyDeep({ executor, expected: digest.digests, clock });
    expect(deep.verdict.ok).toBe(true);
    // The original database kept its own settings: ALTER DATABASE in the section named the copy.
    if (name === 'plain_db') {
      expect(
        await psql(
          source.handle,
          'postgres',
          `SELECT d.datname, s.setconfig FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase ORDER BY 1`,
        ),
      ).toBe(`${renamed}|{"search_path=public, pg_catalog"}\nplain_db|{"search_path=public, pg_catalog"}\n`);
    }
    await psql(source.handle, 'postgres', `DROP DATABASE ${quoteIdentAlways(renamed)}`);
  });
  it('rolls the whole section back on an error after its large objects, and names the dump line', async () => {
    // An error just before plain_db's trailer: after its data, its large objects (which pg_dump wraps
    // in BEGIN/COMMIT) and its constraints.
    const at = dump.indexOf(
      '\n--\n-- PostgreSQL database dump complete',
      dump.indexOf('-- Database "plain_db" dump'),
    );
    const broken = Buffer.concat([
      dump.subarray(0, at + 1),
      Buffer.from('SELECT 1/0;\n'),
      dump.subarray(at + 1),
    ]);
    const badLine = dump
      .subarray(0, at + 1)
      .toString('latin1')
      .split('\n').length;
    const renamed = `drill_${randomBytes(4).toString('hex')}`;
    const split = splitDatabase({ database: 'plain_db', renameTo: renamed });
    const stdin = new PassThrough();
    const feeding = pipeline(Readable.from([broken]), split, stdin);
    const section = await split.section;
    await psql(
      source.handle,
      'postgres',
      renameCreateDatabase(section.createDatabase ?? '', 'plain_db', renamed),
    );
    const run = await executorOf(source).run(
      'psql',
      ['-X', '-q', '-w', '-v', 'ON_ERROR_STOP=1', '-1', '-d', `dbname=${renamed}`, '-f', '-'],
      { stdin },
    );
    await feeding;
    const { errors, warnings } = parsePsqlStderr(run.stderr);
    expect(run.exitCode).toBe(3);
    expect(warnings).toEqual([]);
    expect(errors.map((e) => [originalLine(section, e.line ?? 0), e.message])).toEqual([
      [badLine, 'division by zero'],
    ]);
    expect(broken.toString('latin1').split('\n')[badLine - 1]).toBe('SELECT 1/0;');
    expect(
      await psql(
        source.handle,
        renamed,
        "SELECT (SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace), (SELECT count(*) FROM pg_largeobject_metadata)",
      ),
    ).toBe('0|0\n');
    await psql(source.handle, 'postgres', `DROP DATABASE ${quoteIdentAlways(renamed)}`);
  });
});

/** verifyDeep of the fresh cluster read through psql, then in sessions of the drill's own (as the drill reads). */
function readBothWays() {
  const options = { executor: executorOf(fresh), expected: dumpDigests, clock };
  return Promise.all([
    verifyDeep(options),
    verifyDeep({ ...options, connect: (database: string) => connect(fresh.handle.connection, database) }),
  ]);
}

describe('the whole dump restored into a fresh cluster', () => {
  it('every table and every large object matches the dump', async () => {
    await restorePlainDump({
      executor: executorOf(fresh),
      source: Readable.from([dump]),
      compression: 'none',
      kind: 'pg_dumpall',
      database: 'postgres',
      bootstrapRole: fresh.handle.connection.user,
      timeoutMs: 60_000,
      clock,
    });
    const [deep, direct] = await readBothWays();
    // psql and the drill's own sessions read the same bytes: every digest alike.
    expect(direct.tables.map(({ seconds, ...rest }) => rest)).toEqual(
      deep.tables.map(({ seconds, ...rest }) => rest),
    );
    expect(direct.verdict.summary).toBe(deep.verdict.summary);
    expect(deep.verdict).toMatchObject({
      ok: true,
      summary: `33 of 33 table(s) verified in 5 database(s), row for row (${dumpDigests.filter((d) => d.kind === 'table').reduce((n, d) => n + d.rows, 0)} rows); 4 created without data and empty; large objects of 4 database(s) match`,
    });
    expect(
      deep.tables.filter((t) => t.kind === 'large-objects').map((t) => [t.database, t.dumpRows]),
    ).toEqual([
      ['Weird "Name" db', 3],
      ["back\\slash 'q'", 3],
      ['plain_db', 3],
      ['ünïcødé', 3],
    ]);
  });

  it('fails naming the database, the table and both counts when a row changed or went missing', async () => {
    await psql(fresh.handle, 'ünïcødé', "UPDATE texts SET body = 'changed' WHERE id = 1");
    await psql(fresh.handle, 'plain_db', 'DELETE FROM no_pk WHERE a = 2');
    const [deep, direct] = await readBothWays();
    expect(direct.tables.map(({ seconds, ...rest }) => rest)).toEqual(
      deep.tables.map(({ seconds, ...rest }) => rest),
    );
    expect(direct.verdict.summary).toBe(deep.verdict.summary);
    const bad = deep.tables.filter((t) => !t.digestMatch);
    const dumpOf = (database: string, table: string) =>
      dumpDigests.find((d) => d.database === database && d.table === table)?.digest;
    expect(bad.map(({ seconds, restoredDigest, ...rest }) => rest)).toEqual([
      {
        kind: 'table',
        database: 'plain_db',
        restoredDatabase: 'plain_db',
        table: 'public.no_pk',
        columns: 'a, b',
        data: 'copy',
        dumpRows: 4,
        restoredRows: 3,
        dumpDigest: dumpOf('plain_db', 'public.no_pk'),
        digestMatch: false,
        verified: false,
      },
      {
        kind: 'table',
        database: 'ünïcødé',
        restoredDatabase: 'ünïcødé',
        table: 'public.texts',
        columns: 'id, body',
        data: 'copy',
        dumpRows: 12,
        restoredRows: 12,
        dumpDigest: dumpOf('ünïcødé', 'public.texts'),
        digestMatch: false,
        verified: false,
      },
    ]);
    const [noPk, texts] = bad;
    expect(texts?.restoredDigest).not.toBe(texts?.dumpDigest);
    expect(deep.verdict).toMatchObject({
      ok: false,
      summary: `31 of 33 table(s) verified; 2 differ from the dump: plain_db public.no_pk: dump 4 row(s) digest ${noPk?.dumpDigest}, restored 3 row(s) digest ${noPk?.restoredDigest}; ünïcødé public.texts: dump 12 row(s) digest ${texts?.dumpDigest}, restored 12 row(s) digest ${texts?.restoredDigest}`,
    });
  });
});
