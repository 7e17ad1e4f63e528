/**
 * Deep verification reads a large table in block ranges on several sessions (issue #12), against a real
 * server and real pg_dumpall output: the parts add up to exactly the dump's rows, and a changed row in
 * any range is found.
 */
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dumpAllBytes } from '../../test/support/awkward-cluster.ts';
import { psql, startTestCluster } from '../../test/support/cluster.ts';
import { copyDigest, type TableDigest } from '../dump/copy-digest.ts';
import type { Executor } from '../exec/executor.ts';
import { hostExecutor } from '../exec/host.ts';
import { hostBinDir, type StartedTarget } from '../targets/target.ts';
import { verifyDeep } from './deep.ts';
import { MIN_RANGE_BLOCKS } from './read-plan.ts';

let server: StartedTarget;
let expected: TableDigest[];
const clock = () => performance.now();

/** The real executor, with every psql script it is handed kept (faults and records in front of real parts). */
function recording(executor: Executor): { executor: Executor; scripts: string[]; peak: () => number } {
  const scripts: string[] = [];
  let running = 0;
  let peak = 0;
  return {
    scripts,
    peak: () => peak,
    executor: {
      ...executor,
      async run(tool, args, options = {}) {
        running++;
        peak = Math.max(peak, running);
        try {
          if (!options.stdin) return await executor.run(tool, args, options);
          const chunks: Buffer[] = [];
          for await (const chunk of options.stdin) chunks.push(chunk as Buffer);
          const script = Buffer.concat(chunks);
          scripts.push(script.toString('utf8'));
          return await executor.run(tool, args, { ...options, stdin: Readable.from([script]) });
        } finally {
          running--;
        }
      },
    },
  };
}

beforeAll(async () => {
  server = await startTestCluster();
  // Rows of ~1 kB stored inline (under the TOAST threshold): 7 a block, so 3 × MIN_RANGE_BLOCKS blocks.
  const rows = 7 * 3 * MIN_RANGE_BLOCKS + 100;
  await psql(server.handle, 'postgres', 'CREATE DATABASE ranges_db');
  await psql(
    server.handle,
    'ranges_db',
    `CREATE TABLE public.big (id int PRIMARY KEY, dropped int, note text, twice int GENERATED ALWAYS AS (id * 2) STORED);
     ALTER TABLE public.big DROP COLUMN dropped;
     INSERT INTO public.big (id, note) SELECT g, repeat(md5(g::text), 31) FROM generate_series(1, ${rows}) g;
     CREATE TABLE public.small (k text); INSERT INTO public.small VALUES ('a'), ('b');`,
  );
  const dump = await dumpAllBytes(server.handle);
  const digest = copyDigest();
  await pipeline(Readable.from([dump]), digest, new PassThrough().resume());
  expected = digest.digests.filter((d) => d.database === 'ranges_db');
});
afterAll(async () => {
  await server?.stop();
});

describe('a large table read in block ranges on several sessions', () => {
  const executorOf = () => hostExecutor(hostBinDir(server.handle), server.handle.connection, process.env);

  it('reads the table in as many ranges as sessions, never more sessions at once, and matches the dump exactly', async () => {
    const blocks = await psql(
      server.handle,
      'ranges_db',
      "SELECT pg_relation_size('public.big') / current_setting('block_size')::int",
    );
    expect(Number(blocks)).toBeGreaterThanOrEqual(3 * MIN_RANGE_BLOCKS);
    const { executor, scripts, peak } = recording(executorOf());
    const deep = await verifyDeep({ executor, expected, clock, parallel: 3 });
    const ranged = scripts.flatMap((s) => s.split('\n')).filter((l) => l.includes('WHERE ctid'));
    const cut = (k: number) =>
      `ctid ${k < 0 ? '<' : '>='} '(${Math.floor((Math.abs(k) * Number(blocks)) / 3)},0)'::pg_catalog.tid`;
    const select = 'COPY (SELECT id, note FROM ONLY public.big WHERE';
    expect(ranged).toEqual([
      `${select} ${cut(-1)}) TO STDOUT;`,
      `${select} ${cut(1)} AND ${cut(-2)}) TO STDOUT;`,
      `${select} ${cut(2)}) TO STDOUT;`,
    ]);
    expect(peak()).toBeLessThanOrEqual(3);
    expect(deep.verdict.summary).toBe(
      `2 of 2 table(s) verified in 1 database(s), row for row (${7 * 3 * MIN_RANGE_BLOCKS + 102} rows)`,
    );
    const big = deep.tables.find((t) => t.table === 'public.big');
    expect({ rows: big?.restoredRows, digest: big?.restoredDigest }).toEqual({
      rows: big?.dumpRows,
      digest: big?.dumpDigest,
    });
  });

  it('one session reads the table whole, with the same digest', async () => {
    const { executor, scripts } = recording(executorOf());
    const deep = await verifyDeep({ executor, expected, clock, parallel: 1 });
    expect(scripts.join('\n')).not.toContain('WHERE ctid');
    expect(deep.verdict.ok).toBe(true);
  });

  it.each([
    ['the first', 1],
    ['the last', 7 * 3 * MIN_RANGE_BLOCKS + 100],
  ])('%s row changed fails the table', async (_where, id) => {
    await psql(server.handle, 'ranges_db', `UPDATE public.big SET note = note || 'x' WHERE id = ${id}`);
    try {
      const deep = await verifyDeep({ executor: executorOf(), expected, clock, parallel: 3 });
      expect(deep.verdict.ok).toBe(false);
      expect(deep.verdict.summary).toMatch(
        /^1 of 2 table\(s\) verified; 1 differ from the dump: ranges_db public\.big: /,
      );
    } finally {
      await psql(server.handle, 'ranges_db', `UPDATE public.big SET note = left(note, 992) WHERE id = ${id}`);
    }
  });
});
