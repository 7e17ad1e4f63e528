import { ForeignKeyCounter, KeyBudget, MAX_KEY_BYTES, type StreamOutcome } from './fk-count.ts';
import type { ForeignKeyWay } from './fk-plan.ts';

export type { StreamOutcome } from './fk-count.ts';

type RowFn = (bytes: Buffer, start: number, end: number) => void;

/** What the read-back of one database calls as lines and parts of its tables come in. */
export interface RowHooks {
  /** The function that sees each line of table `index`, when a foreign key counts from it. */
  rowsOf(index: number): RowFn | undefined;
  /** One unit (statement) of table `index` has ended. */
  unitDone(index: number): void;
}

/** The counters of a database's stream-counted foreign keys, behind RowHooks. */
export function keyCounting(
  ways: readonly ForeignKeyWay[],
  unitsOf: ReadonlyMap<number, number>,
  budget = new KeyBudget(),
): {
  hooks: RowHooks;
  outcomes(results: readonly { rows: number | null; error?: string }[]): Map<string, StreamOutcome>;
} {
  const counters = ways.flatMap((w) =>
    w.way === 'stream' ? [new ForeignKeyCounter(w, MAX_KEY_BYTES, budget)] : [],
  );
  const rowFns = new Map<number, RowFn>();
  const parentOf = new Map<number, ForeignKeyCounter[]>();
  for (const counter of counters) {
    const { parentIndex } = counter.way;
    parentOf.set(parentIndex, [...(parentOf.get(parentIndex) ?? []), counter]);
  }
  const indexes = new Set(counters.flatMap((c) => [c.way.childIndex, c.way.parentIndex]));
  for (const index of indexes) {
    const fns: RowFn[] = [];
    for (const c of counters) {
      // A self-referencing key: the line's own key is among the parent's before its reference is looked up.
      if (c.way.parentIndex === index) fns.push((b, s, e) => c.parentRow(b, s, e));
      if (c.way.childIndex === index) fns.push((b, s, e) => c.childRow(b, s, e));
    }
    const [only] = fns;
    rowFns.set(
      index,
      fns.length === 1 && only
        ? only
        : (b, s, e) => {
            for (const fn of fns) fn(b, s, e);
          },
    );
  }
  const parts = new Map<number, number>();
  return {
    hooks: {
      rowsOf: (index) => rowFns.get(index),
      unitDone(index) {
        const done = (parts.get(index) ?? 0) + 1;
        parts.set(index, done);
        if (done === unitsOf.get(index)) for (const c of parentOf.get(index) ?? []) c.parentDone();
      },
    },
    outcomes(results) {
      const none = { rows: null, error: 'not read' };
      return new Map(
        counters.map((c) => [
          c.way.fk.oid,
          c.outcome(results[c.way.childIndex] ?? none, results[c.way.parentIndex] ?? none),
        ]),
      );
    },
  };
}

/** How a database's foreign keys are counted, and (later) what the stream-counted ones came to. */
export interface DatabaseStreams {
  /** Per constraint oid: its way (a key missing here is counted on the server). */
  plan: Promise<Map<string, ForeignKeyWay>>;
  /** Per constraint oid of a stream-counted key: its count, or why it fell to the server. */
  outcomes: Promise<Map<string, StreamOutcome>>;
  /** The drill's: once aborted, no key falls to the server. */
  signal?: AbortSignal | undefined;
}

/** What the read-back of one database reports to ForeignKeyStreams. */
export interface StreamSink {
  /** What the run's stream-counted keys hold together, over all its databases. */
  budget: KeyBudget;
  planned(ways: readonly ForeignKeyWay[]): void;
  counted(outcomes: Map<string, StreamOutcome>): void;
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
}

function deferred<T>(): Deferred<T> {
  let resolve: (value: T) => void = () => {};
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/**
 * Between deep verification's two checks (deep-checks.ts): the read-back says per restored database
 * which foreign keys it counts from its rows, then their counts; the constraint check awaits both.
 * `end` (the read-back over, however it ended) settles what was never said: no plan (all on the
 * server), no counts (each falls to the server).
 */
export class ForeignKeyStreams {
  private readonly databases = new Map<
    string,
    { plan: Deferred<Map<string, ForeignKeyWay>>; outcomes: Deferred<Map<string, StreamOutcome>> }
  >();

  private ended = false;

  private readonly signal: AbortSignal | undefined;

  private readonly budget: KeyBudget;

  constructor(signal?: AbortSignal, budget = new KeyBudget()) {
    this.signal = signal;
    this.budget = budget;
  }

  private of(database: string) {
    let entry = this.databases.get(database);
    if (!entry) {
      entry = { plan: deferred(), outcomes: deferred() };
      this.databases.set(database, entry);
      if (this.ended) this.end();
    }
    return entry;
  }

  sink(database: string): StreamSink {
    const entry = this.of(database);
    return {
      budget: this.budget,
      planned: (ways) => entry.plan.resolve(new Map(ways.map((w) => [w.fk.oid, w]))),
      counted: (outcomes) => entry.outcomes.resolve(outcomes),
    };
  }

  streams(database: string): DatabaseStreams {
    const entry = this.of(database);
    return { plan: entry.plan.promise, outcomes: entry.outcomes.promise, signal: this.signal };
  }

  end(): void {
    this.ended = true;
    for (const entry of this.databases.values()) {
      entry.plan.resolve(new Map());
      entry.outcomes.resolve(new Map());
    }
  }
}
