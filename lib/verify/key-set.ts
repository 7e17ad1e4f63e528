/**
 * The key sets of foreign keys counted from the read-back (fk-count.ts): integers as numbers in an
 * open-addressing table of doubles (8 bytes a slot, no object per key), any other key as a string.
 */

const EMPTY = Number.NaN;
const MIN_SLOTS = 1024;

function slotOf(key: number, mask: number): number {
  const h = Math.imul((key | 0) ^ ((key / 4294967296) | 0), 0x9e3779b1);
  return (h ^ (h >>> 15)) & mask;
}

/** A set of integers (safe doubles) with an optional count per key. */
export class NumberTable {
  private keys = new Float64Array(MIN_SLOTS).fill(EMPTY);
  private counts: Int32Array | undefined;
  size = 0;

  constructor(counted = false) {
    if (counted) this.counts = new Int32Array(MIN_SLOTS);
  }

  /** The key's slot, or the empty slot where it would go. */
  private find(key: number): number {
    const mask = this.keys.length - 1;
    let at = slotOf(key, mask);
    for (let k = this.keys[at] as number; !Number.isNaN(k) && k !== key; k = this.keys[at] as number)
      at = (at + 1) & mask;
    return at;
  }

  has(key: number): boolean {
    const k = this.keys[this.find(key)] as number;
    return !Number.isNaN(k);
  }

  /** Adds the key (or one more of it). */
  add(key: number): void {
    let at = this.find(key);
    if (Number.isNaN(this.keys[at] as number)) {
      if ((this.size + 1) * 4 > this.keys.length * 3) {
        this.grow();
        at = this.find(key);
      }
      this.keys[at] = key;
      this.size++;
    }
    if (this.counts) this.counts[at] = (this.counts[at] as number) + 1;
  }

  private grow(): void {
    const keys = this.keys;
    const counts = this.counts;
    this.keys = new Float64Array(keys.length * 2).fill(EMPTY);
    if (counts) this.counts = new Int32Array(keys.length * 2);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as number;
      if (Number.isNaN(key)) continue;
      const at = this.find(key);
      this.keys[at] = key;
      if (this.counts && counts) this.counts[at] = counts[i] as number;
    }
  }

  /** Each key with its count (1 when not counted). */
  forEach(fn: (key: number, count: number) => void): void {
    for (let i = 0; i < this.keys.length; i++) {
      const key = this.keys[i] as number;
      if (!Number.isNaN(key)) fn(key, this.counts ? (this.counts[i] as number) : 1);
    }
  }
}

/** A key of a foreign key: an integer as a number, anything else (or an integer beyond 15 digits) as text. */
export type Key = number | string;

/** The distinct keys of a parent table read back. */
export class KeySet {
  private readonly numbers = new NumberTable();
  private readonly strings = new Set<string>();

  get size(): number {
    return this.numbers.size + this.strings.size;
  }

  add(key: Key): void {
    if (typeof key === 'number') this.numbers.add(key);
    else this.strings.add(key);
  }

  has(key: Key): boolean {
    return typeof key === 'number' ? this.numbers.has(key) : this.strings.has(key);
  }
}

/** Child keys not yet decidable (their parent not read in full yet), each with its row count. */
export class PendingKeys {
  private readonly numbers = new NumberTable(true);
  private readonly strings = new Map<string, number>();

  get size(): number {
    return this.numbers.size + this.strings.size;
  }

  add(key: Key): void {
    if (typeof key === 'number') this.numbers.add(key);
    else this.strings.set(key, (this.strings.get(key) ?? 0) + 1);
  }

  /** Rows whose key `known` does not hold. */
  missing(known: KeySet): number {
    let rows = 0;
    this.numbers.forEach((key, count) => {
      if (!known.has(key)) rows += count;
    });
    for (const [key, count] of this.strings) if (!known.has(key)) rows += count;
    return rows;
  }
}
