/** copyOut against a real server, held to what psql prints for the same COPY. */
import { getEventListeners } from 'node:events';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { psql, startTestCluster, toolOutput } from '../../test/support/cluster.ts';
import { copyOut } from './copy-out.ts';
import { connect } from './databases.ts';

let target: Awaited<ReturnType<typeof startTestCluster>>;
let client: pg.Client;

/** Rows as copyOut hands them, each as text with its newline back: what psql prints. */
async function copied(statement: string, on: pg.Client = client): Promise<{ text: string; rows: number }> {
  const parts: string[] = [];
  const rows = await copyOut(on, statement, (bytes, start, end) => {
    parts.push(`${bytes.toString('utf8', start, end)}\n`);
  });
  return { text: parts.join(''), rows };
}

const psqlCopy = (statement: string) =>
  toolOutput(target.handle, 'psql', ['-X', '-q', '-d', 'copyout', '-c', statement]);

beforeAll(async () => {
  target = await startTestCluster();
  await psql(target.handle, 'postgres', 'CREATE DATABASE copyout');
  // Rows of every length: short ones many to a chunk, and rows far longer than a socket read (the
  // longest some 3 MB), so that messages are cut at every place, their headers too.
  await psql(
    target.handle,
    'copyout',
    `CREATE TABLE t (id int, body text, raw bytea);
     INSERT INTO t SELECT i, repeat(md5(i::text), (i % 47) + 1) || E'\\t\\\\tab\\nline ü', decode(md5(i::text), 'hex')
       FROM generate_series(1, 50000) i;
     INSERT INTO t SELECT -i, repeat('x', i * 300000 + 7), NULL FROM generate_series(1, 10) i;`,
  );
  client = await connect(target.handle.connection, 'copyout');
}, 60_000);

afterAll(async () => {
  await client?.end().catch(() => {});
  await target?.stop();
});

describe('copyOut', () => {
  it('hands over every row byte for byte as psql prints it, rows longer than a socket read included', async () => {
    // One after the other: two scans of a large table at once share one pass (synchronize_seqscans),
    // each from another block, and the orders would differ.
    const statement = 'COPY t TO STDOUT';
    const got = await copied(statement);
    const printed = await psqlCopy(statement);
    expect(got.rows).toBe(50010);
    expect(got.text.length).toBe(printed.length);
    expect(got.text === printed).toBe(true);
  });

  it('rejects with the server error raised mid-COPY, and the client is usable after it', async () => {
    const seen: number[] = [];
    const error = await copyOut(
      client,
      'COPY (SELECT 1 / (50000 - i) FROM generate_series(1, 100000) i) TO STDOUT',
      () => seen.push(1),
    ).catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toBe('division by zero');
    expect(seen.length).toBeLessThan(50000);
    const { rows } = await client.query('SELECT 42 AS answer');
    expect(rows).toEqual([{ answer: 42 }]);
    expect((await copied('COPY (SELECT 1 UNION ALL SELECT 2) TO STDOUT')).text).toBe('1\n2\n');
  });

  it('rejects a missing table with its message, and a statement that is not a COPY TO', async () => {
    await expect(copied('COPY no_such_table TO STDOUT')).rejects.toThrow(
      'relation "no_such_table" does not exist',
    );
    await expect(copied('SELECT 1')).rejects.toThrow('returned rows, not COPY data');
    await expect(copied('COPY t FROM STDIN')).rejects.toThrow();
    expect((await copied('COPY (SELECT 3) TO STDOUT')).text).toBe('3\n');
  });

  it('rejects when the server ends the session mid-COPY', async () => {
    const victim = await connect(target.handle.connection, 'copyout');
    const { rows } = await victim.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    let killed = false;
    const error = await copyOut(
      victim,
      'COPY (SELECT i, pg_sleep(0.001) FROM generate_series(1, 100000) i) TO STDOUT',
      () => {
        if (killed) return;
        killed = true;
        void client.query('SELECT pg_terminate_backend($1)', [rows[0]?.pid]);
      },
    ).catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(
      /terminating connection due to administrator command|Connection terminated/,
    );
    await victim.end().catch(() => {});
  });

  it('stops at once on abort, and the server session goes', async () => {
    const victim = await connect(target.handle.connection, 'copyout');
    const { rows } = await victim.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    const controller = new AbortController();
    let seen = 0;
    const started = performance.now();
    const error = await copyOut(
      victim,
      'COPY (SELECT i, pg_sleep(0.001) FROM generate_series(1, 100000) i) TO STDOUT',
      () => {
        if (++seen === 10) controller.abort(new Error('stop here'));
      },
      controller.signal,
    ).catch((e: Error) => e);
    expect((error as Error).message).toBe('stop here');
    expect(performance.now() - started).toBeLessThan(10_000);
    // The server's COPY ends when its next write fails: the session is gone soon after.
    const gone = async () =>
      (await client.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1', [rows[0]?.pid]))
        .rows[0]?.n === 0;
    for (let i = 0; i < 100 && !(await gone()); i++) await new Promise((r) => setTimeout(r, 50));
    expect(await gone()).toBe(true);
  });

  it('leaves no listener on the signal once a COPY has ended', async () => {
    // A step's signal serves one COPY per table: a listener left behind per COPY would pile up.
    const controller = new AbortController();
    for (let i = 0; i < 3; i++)
      expect(await copyOut(client, 'COPY (SELECT 1) TO STDOUT', () => {}, controller.signal)).toBe(1);
    await copyOut(client, 'COPY no_such_table TO STDOUT', () => {}, controller.signal).catch(() => {});
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it("frees the socket's chunks as it goes: 64 MiB streamed, its dead Buffers held to a few MiB", async () => {
    // The deep read-back streams every table of a backup through these sockets, allocating little on
    // the JS heap while each socket read is a fresh off-heap Buffer, freed only by a collection:
    // without collections of its own the 1 GB drill's read-back held some 30 MiB of them
    // (docs/benchmarks.md).
    const before = process.memoryUsage().arrayBuffers;
    let peak = 0;
    let seen = 0;
    const rows = await copyOut(
      client,
      'COPY (SELECT repeat(md5(i::text), 32) FROM generate_series(1, 65536) i) TO STDOUT',
      () => {
        // Every 256 rows of 1 KiB: 256 samples over the 64 MiB.
        if (++seen % 256 === 0) peak = Math.max(peak, process.memoryUsage().arrayBuffers - before);
      },
    );
    expect(rows).toBe(65536);
    expect(seen).toBe(65536);
    // Freed behind each collection by V8's sweeper, on its own threads: a threshold or two may wait.
    expect(peak).toBeLessThan(12 * 1024 * 1024);
  });
});
