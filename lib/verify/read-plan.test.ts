import { describe, expect, it } from 'vitest';
import type { Executor } from '../exec/executor.ts';
import { balance, MIN_RANGE_BLOCKS, unitsFor } from './read-plan.ts';
import type { Probe, Relation } from './read-probe.ts';
import { sessionPool } from './session-pool.ts';

const relation = (blocks: number, extra: Partial<Relation> = {}): Relation => ({
  relkind: 'r',
  quoting: 'plain',
  oid: '1',
  root: '1',
  columns: 'id, note',
  condition: '',
  blocks,
  ...extra,
});
const probeOf = (serverVersion: number): Probe => ({
  timeZone: 'UTC',
  timeZoneSource: 'default',
  serverVersion,
  relations: new Map(),
});
const ref = { kind: 'table' as const, table: 'public.big', columns: 'id, note', rows: 900 };

describe('unitsFor', () => {
  it('splits a large plain table into one block range per session, contiguous and open at both ends', () => {
    const units = unitsFor(ref, 4, relation(4 * MIN_RANGE_BLOCKS), probeOf(150000), 3);
    const cut = (k: number) => Math.floor((k * 4 * MIN_RANGE_BLOCKS) / 3);
    expect(units).toEqual([
      {
        index: 4,
        statement: `COPY (SELECT id, note FROM ONLY public.big WHERE ctid < '(${cut(1)},0)'::pg_catalog.tid) TO STDOUT;`,
        weight: 301,
      },
      {
        index: 4,
        statement: `COPY (SELECT id, note FROM ONLY public.big WHERE ctid >= '(${cut(1)},0)'::pg_catalog.tid AND ctid < '(${cut(2)},0)'::pg_catalog.tid) TO STDOUT;`,
        weight: 301,
      },
      {
        index: 4,
        statement: `COPY (SELECT id, note FROM ONLY public.big WHERE ctid >= '(${cut(2)},0)'::pg_catalog.tid) TO STDOUT;`,
        weight: 301,
      },
    ]);
  });

  it.each([
    ['a server before PostgreSQL 14 (no TID range scan)', relation(8 * MIN_RANGE_BLOCKS), 130000, 3],
    ['a table under two ranges of blocks', relation(2 * MIN_RANGE_BLOCKS - 1), 150000, 3],
    ['a partitioned root', relation(8 * MIN_RANGE_BLOCKS, { relkind: 'p' }), 150000, 3],
    [
      "an extension's configuration table",
      relation(8 * MIN_RANGE_BLOCKS, { condition: 'WHERE x' }),
      150000,
      3,
    ],
    ['one session', relation(8 * MIN_RANGE_BLOCKS), 150000, 1],
  ])('reads %s whole', (_what, rel, version, readers) => {
    expect(unitsFor(ref, 0, rel, probeOf(version), readers)).toHaveLength(1);
  });
});

describe('balance', () => {
  it('spreads units by weight over the sessions, each group in dump order', () => {
    const units = [5, 100, 1, 60, 40].map((weight, index) => ({ index, statement: `s${index}`, weight }));
    expect(balance(units, 2).map((g) => g.map((u) => u.index))).toEqual([
      [0, 1],
      [2, 3, 4],
    ]);
  });
});

describe('sessionPool', () => {
  it('runs at most `size` tools at once and every run to its end', async () => {
    let running = 0;
    let peak = 0;
    const executor: Executor = {
      where: 'test',
      readsHostPaths: false,
      toolVersion: async () => undefined,
      async run() {
        running++;
        peak = Math.max(peak, running);
        await new Promise((resolve) => setTimeout(resolve, 5));
        running--;
        return { exitCode: 0, signal: null, stderr: '' };
      },
    };
    const pool = sessionPool(executor, 2);
    const results = await Promise.all(Array.from({ length: 7 }, () => pool.run('psql', [])));
    expect({ peak, runs: results.length, running }).toEqual({ peak: 2, runs: 7, running: 0 });
  });
});
