import { describe, expect, it } from 'vitest';
import { ForeignKeyCounter, KeyBudget } from './fk-count.ts';
import { columnNames, type ForeignKeyRow, type KeyColumn, keyTypeProblem } from './fk-plan.ts';
import { KeySet, PendingKeys } from './key-set.ts';

const col = (name: string, type: number, collation = 0, deterministic = true): KeyColumn => ({
  name,
  type,
  collation,
  deterministic,
});

function counter(
  integer: boolean,
  fields: { child: number[]; parent: number[] },
  cap?: number,
  budget?: KeyBudget,
) {
  const fk: ForeignKeyRow = {
    oid: '1',
    name: 'c_p_fkey',
    childOid: '2',
    parentOid: '3',
    child: 'public.c',
    parent: 'public.p',
    parentHasChildren: false,
    parentPartitioned: false,
    matchFull: false,
    pairs: [],
  };
  return new ForeignKeyCounter(
    {
      way: 'stream',
      fk,
      childIndex: 0,
      parentIndex: 1,
      childFields: fields.child,
      parentFields: fields.parent,
      integer,
    },
    cap,
    budget,
  );
}

const feed = (fn: (b: Buffer, s: number, e: number) => void, lines: string[]) => {
  for (const line of lines) {
    const bytes = Buffer.from(`${line}\n`);
    fn(bytes, 0, bytes.length - 1);
  }
};

const PARENT = ['1\ta', '2\tb', '3\tc', '99999999999999999\tbig'];
const CHILD = [
  '10\t1',
  '11\t2',
  '12\t\\N',
  '13\t7',
  '14\t7',
  '15\t99999999999999999',
  '16\t99999999999999998',
];

describe('ForeignKeyCounter', () => {
  it('gives the same count whatever the order: parent first, child first, or interleaved in parts', () => {
    const orders: ((c: ForeignKeyCounter) => void)[] = [
      (c) => {
        feed((b, s, e) => c.parentRow(b, s, e), PARENT);
        c.parentDone();
        feed((b, s, e) => c.childRow(b, s, e), CHILD);
      },
      (c) => {
        feed((b, s, e) => c.childRow(b, s, e), CHILD);
        feed((b, s, e) => c.parentRow(b, s, e), PARENT);
        c.parentDone();
      },
      (c) => {
        feed((b, s, e) => c.childRow(b, s, e), CHILD.slice(0, 4));
        feed((b, s, e) => c.parentRow(b, s, e), PARENT.slice(0, 2));
        feed((b, s, e) => c.childRow(b, s, e), CHILD.slice(4));
        feed((b, s, e) => c.parentRow(b, s, e), PARENT.slice(2));
        c.parentDone();
      },
    ];
    const outcomes = orders.map((run) => {
      const c = counter(true, { child: [1], parent: [0] });
      run(c);
      return c.outcome({ rows: CHILD.length }, { rows: PARENT.length });
    });
    // 7 twice and 99999999999999998 (a text key beyond 15 digits) are missing; \N is exempt.
    const expected = { counted: true, checked: 6, exempt: 1, keys: 4, orphans: 3 };
    expect(outcomes).toEqual([expected, expected, expected]);
  });

  it('multi-column keys in another column order on each side', () => {
    const c = counter(false, { child: [2, 0], parent: [0, 1] });
    feed((b, s, e) => c.childRow(b, s, e), ['x\t1\t1', 'y\t2\t1', 'x\t3\t2', '\\N\t4\t1']);
    feed((b, s, e) => c.parentRow(b, s, e), ['1\tx', '2\tx', '1\ty\\t']);
    c.parentDone();
    expect(c.outcome({ rows: 4 }, { rows: 3 })).toEqual({
      counted: true,
      checked: 3,
      exempt: 1,
      keys: 3,
      orphans: 1,
    });
  });

  it("the keys of a run's foreign keys together stay under one budget: the key that passes it goes to the server", () => {
    const budget = new KeyBudget(2000);
    const lines = Array.from({ length: 100 }, (_, i) => `${i * 7}`);
    const first = counter(true, { child: [0], parent: [0] }, undefined, budget);
    feed((b, s, e) => first.parentRow(b, s, e), lines);
    first.parentDone();
    const second = counter(true, { child: [0], parent: [0] }, undefined, budget);
    feed((b, s, e) => second.parentRow(b, s, e), lines);
    second.parentDone();
    expect(first.outcome({ rows: 0 }, { rows: 100 })).toMatchObject({ counted: true, keys: 100 });
    expect(second.outcome({ rows: 0 }, { rows: 100 })).toEqual({
      counted: false,
      why: "the keys held for this run's foreign keys together would pass 2000 bytes (the cap on keys held together)",
    });
    // A counter that has ended holds nothing: the next one has the budget again.
    const third = counter(true, { child: [0], parent: [0] }, undefined, budget);
    feed((b, s, e) => third.parentRow(b, s, e), lines);
    third.parentDone();
    expect(third.outcome({ rows: 0 }, { rows: 100 })).toMatchObject({ counted: true, keys: 100 });
  });

  it('past the cap on keys held, or with lines not the rows read back, the count does not stand', () => {
    // 3 Int32 keys (12 bytes each) and one beyond 15 digits held as text (64 + 17).
    const capped = counter(true, { child: [1], parent: [0] }, 100);
    feed((b, s, e) => capped.parentRow(b, s, e), PARENT);
    capped.parentDone();
    expect(capped.outcome({ rows: 0 }, { rows: 4 })).toEqual({
      counted: false,
      why: 'the keys of public.p would hold more than 100 bytes (the cap on keys held)',
    });
    const waiting = counter(true, { child: [1], parent: [0] }, 60);
    feed((b, s, e) => waiting.childRow(b, s, e), CHILD);
    expect(waiting.outcome({ rows: 7 }, { rows: 0 })).toEqual({
      counted: false,
      why: 'the keys of public.c waiting for public.p would hold more than 60 bytes (the cap on keys held)',
    });
    const short = counter(true, { child: [1], parent: [0] });
    feed((b, s, e) => short.childRow(b, s, e), CHILD);
    short.parentDone();
    expect(short.outcome({ rows: 8 }, { rows: 0 })).toEqual({
      counted: false,
      why: 'the lines counted (7 of public.c, 0 of public.p) are not the rows read back',
    });
    expect(short.outcome({ rows: null, error: 'boom' }, { rows: 0 })).toEqual({
      counted: false,
      why: 'public.c was not read back (boom)',
    });
  });

  it('a parent never read in full, or a line without the key field, does not stand either', () => {
    const c = counter(true, { child: [1], parent: [0] });
    feed((b, s, e) => c.childRow(b, s, e), ['1\t1']);
    expect(c.outcome({ rows: 1 }, { rows: 0 })).toEqual({
      counted: false,
      why: 'public.p was not read back in full',
    });
    const d = counter(true, { child: [3], parent: [0] });
    feed((b, s, e) => d.childRow(b, s, e), ['1\t1']);
    d.parentDone();
    expect(d.outcome({ rows: 1 }, { rows: 0 })).toEqual({
      counted: false,
      why: 'a line of public.c has fewer fields than its key needs',
    });
  });
});

describe('key sets', () => {
  it('hold numbers and strings apart, through growth, with counts for waiting keys', () => {
    const keys = new KeySet();
    const pending = new PendingKeys();
    for (let k = -5000; k < 5000; k++) keys.add(k * 7919);
    keys.add('7919');
    for (let k = 0; k < 3; k++) pending.add(7919 * 4999);
    pending.add(7919 * 5000);
    pending.add(7919 * 5000);
    pending.add('7919');
    pending.add('x');
    expect([keys.size, keys.has(0), keys.has(7919), keys.has(7920), keys.has('7919'), keys.has('0')]).toEqual(
      [10001, true, true, false, true, false],
    );
    expect([pending.size, pending.missing(keys)]).toEqual([4, 3]);
  });

  it('integers at and beyond the 32-bit edges (the empty slot value among them) are keys like any other', () => {
    const edges = [2147483647, -2147483648, 2147483648, -2147483649, 0];
    const keys = new KeySet();
    const pending = new PendingKeys();
    for (const k of edges.slice(0, 3)) keys.add(k);
    for (const k of edges) pending.add(k);
    pending.add(-2147483648);
    expect([keys.size, ...edges.map((k) => keys.has(k))]).toEqual([3, true, true, true, false, false]);
    expect([pending.size, pending.missing(keys)]).toEqual([5, 2]);
    keys.seal();
    expect(edges.map((k) => keys.has(k))).toEqual([true, true, true, false, false]);
  });

  it('sealed, dense integer keys (a bitmap) answer as before, at both ends of the range and beyond', () => {
    const probes = [-1001, -1000, -999, 0, 1, 998, 999, 1000, 5000, '5'];
    const answers = (keys: KeySet) => probes.map((k) => keys.has(k));
    const dense = new KeySet();
    for (let k = -1000; k < 1000; k += 3) dense.add(k);
    dense.add('5');
    const before = answers(dense);
    dense.seal();
    expect([answers(dense), dense.size]).toEqual([before, 668]);
    expect(before).toEqual([false, true, false, false, false, true, false, false, false, true]);
    const sparse = new KeySet();
    for (const k of [1, 2 ** 40, -(2 ** 40)]) sparse.add(k);
    sparse.seal();
    expect([sparse.has(2 ** 40), sparse.has(-(2 ** 40)), sparse.has(2), sparse.size]).toEqual([
      true,
      true,
      false,
      3,
    ]);
  });
});

describe('keyTypeProblem', () => {
  it('integers of any width, same-type oid/uuid/bool, text/varchar with one deterministic collation stream', () => {
    expect([
      keyTypeProblem(col('a', 23), col('b', 20)),
      keyTypeProblem(col('a', 21), col('b', 23)),
      keyTypeProblem(col('a', 2950), col('b', 2950)),
      keyTypeProblem(col('a', 16), col('b', 16)),
      keyTypeProblem(col('a', 1043, 100), col('b', 25, 100)),
    ]).toEqual([undefined, undefined, undefined, undefined, undefined]);
  });

  it('numeric, bpchar, other collations, a nondeterministic one, a domain go to the server', () => {
    expect([
      keyTypeProblem(col('a', 1700), col('b', 1700)),
      keyTypeProblem(col('a', 1042, 100), col('b', 1042, 100)),
      keyTypeProblem(col('a', 25, 100), col('b', 25, 950)),
      keyTypeProblem(col('a', 25, 16384, false), col('b', 25, 16384, false)),
      keyTypeProblem(col('a', 16390), col('b', 23)),
    ]).toEqual([
      'key a (type 1700) -> b (type 1700): not a type whose COPY text is canonical for its equality (integers, oid, uuid, bool, text/varchar)',
      'key a (type 1042) -> b (type 1042): not a type whose COPY text is canonical for its equality (integers, oid, uuid, bool, text/varchar)',
      'a and b have different collations',
      'a has a nondeterministic collation (equal values, different bytes)',
      'key a (type 16390) -> b (int4): not a type whose COPY text is canonical for its equality (integers, oid, uuid, bool, text/varchar)',
    ]);
  });
});

describe('columnNames', () => {
  it('unquotes a COPY column list', () => {
    expect(columnNames('id, "Name", "a ""q"", b", x_1')).toEqual(['id', 'Name', 'a "q", b', 'x_1']);
    expect(columnNames('')).toEqual([]);
  });
});
