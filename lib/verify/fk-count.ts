import { fieldsAt, isNull, keyText, parseInteger } from './copy-fields.ts';
import type { ForeignKeyWay } from './fk-plan.ts';
import { type Key, KeySet, PendingKeys } from './key-set.ts';

/**
 * Bytes of keys held at most per set (a parent's keys; a child's keys waiting for their parent), as
 * key-set.ts estimates them: about 2 M integer keys of a parent, 1 M waiting, some 200 k uuids as text.
 * Past it the key is counted on the server after the read-back: the drill's memory stays bounded.
 */
export const MAX_KEY_BYTES = 24 * 1024 * 1024;
/**
 * Bytes of keys all the stream-counted foreign keys of one deep run hold together at most (several keys,
 * databases read side by side): past it, the key whose keys pass it is counted on the server instead.
 */
export const MAX_RUN_KEY_BYTES = 48 * 1024 * 1024;
/** How much a counter's keys grow between two looks at what all of them hold together. */
const BUDGET_STEP_BYTES = 256 * 1024;

/** What the stream-counted keys of one deep run hold together (MAX_RUN_KEY_BYTES). */
export class KeyBudget {
  private readonly holders = new Set<{ readonly heldBytes: number }>();

  readonly cap: number;

  constructor(cap = MAX_RUN_KEY_BYTES) {
    this.cap = cap;
  }

  hold(holder: { readonly heldBytes: number }): void {
    this.holders.add(holder);
  }

  release(holder: { readonly heldBytes: number }): void {
    this.holders.delete(holder);
  }

  /** The keys held by all together are more than the cap. */
  over(): boolean {
    let total = 0;
    for (const holder of this.holders) total += holder.heldBytes;
    return total > this.cap;
  }
}

const mib = (bytes: number) => (bytes < 1048576 ? `${bytes} bytes` : `${Math.round(bytes / 1048576)} MiB`);

/** What counting a foreign key from the read-back came to. */
export type StreamOutcome =
  | { counted: true; checked: number; exempt: number; keys: number; orphans: number }
  | { counted: false; why: string };

/** A table's result as the read-back has it (deep-read.ts RestoredDigest). */
interface ReadResult {
  rows: number | null;
  error?: string;
}

/** A key made of some fields of a line: a number, a string, null (a NULL column), undefined (no such field). */
class KeyReader {
  private readonly sorted: number[];
  /** For each key column, where its bounds are in `out`. */
  private readonly slot: number[];
  private readonly out: Int32Array;

  private readonly integer: boolean;

  constructor(fields: number[], integer: boolean) {
    this.integer = integer;
    this.sorted = [...new Set(fields)].sort((a, b) => a - b);
    this.slot = fields.map((f) => this.sorted.indexOf(f));
    this.out = new Int32Array(2 * this.sorted.length);
  }

  key(bytes: Buffer, start: number, end: number): Key | null | undefined {
    const out = this.out;
    if (!fieldsAt(bytes, start, end, this.sorted, out)) return undefined;
    if (this.integer) {
      const from = out[0] as number;
      const to = out[1] as number;
      if (isNull(bytes, from, to)) return null;
      const n = parseInteger(bytes, from, to);
      return Number.isNaN(n) ? keyText(bytes, from, to) : n;
    }
    for (let i = 0; i < this.slot.length; i++) {
      const s = this.slot[i] as number;
      if (isNull(bytes, out[2 * s] as number, out[2 * s + 1] as number)) return null;
    }
    if (this.slot.length === 1) return keyText(bytes, out[0] as number, out[1] as number);
    return this.slot.map((s) => keyText(bytes, out[2 * s] as number, out[2 * s + 1] as number)).join('\t');
  }
}

/**
 * Counts one foreign key's orphans from the lines of its child and parent tables, in any order and
 * in any number of parts: a child key already among the parent's keys is settled; one that is not is
 * an orphan once the parent is read in full, and until then waits (with its row count) in a set.
 */
export class ForeignKeyCounter {
  private readonly parentKeys: KeyReader;
  private readonly childKeys: KeyReader;
  private keys: KeySet | undefined = new KeySet();
  private pending: PendingKeys | undefined = new PendingKeys();
  private parentComplete = false;
  private parentRows = 0;
  private childRows = 0;
  private exempt = 0;
  private orphans = 0;
  private broken: string | undefined;

  readonly way: Extract<ForeignKeyWay, { way: 'stream' }>;
  private readonly cap: number;
  private readonly budget: KeyBudget;
  private readonly step: number;
  private nextLook: number;

  constructor(way: Extract<ForeignKeyWay, { way: 'stream' }>, cap = MAX_KEY_BYTES, budget = new KeyBudget()) {
    this.way = way;
    this.cap = cap;
    this.budget = budget;
    this.step = Math.min(BUDGET_STEP_BYTES, Math.ceil(budget.cap / 16));
    this.nextLook = this.step;
    budget.hold(this);
    this.parentKeys = new KeyReader(way.parentFields, way.integer);
    this.childKeys = new KeyReader(way.childFields, way.integer);
  }

  /** About the bytes its keys hold now (the parent's, and the child's waiting for them). */
  get heldBytes(): number {
    return (this.keys?.bytes ?? 0) + (this.pending?.bytes ?? 0);
  }

  private stop(why: string): void {
    this.broken ??= why;
    this.keys = undefined;
    this.pending = undefined;
    this.budget.release(this);
  }

  /** Past a step of growth, what all the run's counters hold together must stay under the budget. */
  private withinBudget(): boolean {
    const held = this.heldBytes;
    if (held < this.nextLook) return true;
    this.nextLook = held + this.step;
    if (!this.budget.over()) return true;
    this.stop(
      `the keys held for this run's foreign keys together would pass ${mib(this.budget.cap)} (the cap on keys held together)`,
    );
    return false;
  }

  parentRow(bytes: Buffer, start: number, end: number): void {
    this.parentRows++;
    if (this.keys === undefined) return;
    const key = this.parentKeys.key(bytes, start, end);
    if (key === undefined) {
      this.stop(`a line of ${this.way.fk.parent} has fewer fields than its key needs`);
      return;
    }
    if (key === null) return;
    this.keys.add(key);
    if (this.keys.bytes > this.cap)
      this.stop(
        `the keys of ${this.way.fk.parent} would hold more than ${mib(this.cap)} (the cap on keys held)`,
      );
    else this.withinBudget();
  }

  childRow(bytes: Buffer, start: number, end: number): void {
    this.childRows++;
    if (this.keys === undefined || this.pending === undefined) return;
    const key = this.childKeys.key(bytes, start, end);
    if (key === undefined) {
      this.stop(`a line of ${this.way.fk.child} has fewer fields than its key needs`);
      return;
    }
    if (key === null) {
      this.exempt++;
      return;
    }
    if (this.keys.has(key)) return;
    if (this.parentComplete) this.orphans++;
    else {
      this.pending.add(key);
      if (this.pending.bytes > this.cap)
        this.stop(
          `the keys of ${this.way.fk.child} waiting for ${this.way.fk.parent} would hold more than ${mib(this.cap)} (the cap on keys held)`,
        );
      else this.withinBudget();
    }
  }

  /** Every part of the parent has been read: the waiting keys are settled. */
  parentDone(): void {
    this.parentComplete = true;
    if (this.keys === undefined || this.pending === undefined) return;
    this.keys.seal();
    this.orphans += this.pending.missing(this.keys);
    this.pending = new PendingKeys();
  }

  /** The count, once the read-back has ended; or why it does not stand (then it is counted on the server). */
  outcome(child: ReadResult, parent: ReadResult): StreamOutcome {
    const { fk } = this.way;
    const unread = (table: string, r: ReadResult) =>
      r.rows === null || r.error !== undefined
        ? `${table} was not read back (${r.error ?? 'no result'})`
        : undefined;
    const why =
      this.broken ??
      unread(fk.child, child) ??
      unread(fk.parent, parent) ??
      (!this.parentComplete ? `${fk.parent} was not read back in full` : undefined) ??
      (child.rows !== this.childRows || parent.rows !== this.parentRows
        ? `the lines counted (${this.childRows} of ${fk.child}, ${this.parentRows} of ${fk.parent}) are not the rows read back`
        : undefined);
    this.budget.release(this);
    if (why !== undefined) return { counted: false, why };
    return {
      counted: true,
      checked: this.childRows - this.exempt,
      exempt: this.exempt,
      keys: this.keys?.size ?? 0,
      orphans: this.orphans,
    };
  }
}
