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

/** A bitmap over [min, max] only when it is at most this many bits a key (and at most 2^27 bits, 16 MB). */
const BITS_PER_KEY = 64;
const MAX_BITS = 2 ** 27;

/** The distinct keys of a parent table read back; `seal` once it is read in full. */
export class KeySet {
  private numbers: NumberTable | undefined = new NumberTable();
  private readonly strings = new Set<string>();
  /** Once sealed, dense integer keys as a bitmap from `min` (a lookup without a cache miss). */
  private bits: Uint32Array | undefined;
  private min = 0;
  private sealedNumbers = 0;

  get size(): number {
    return (this.numbers?.size ?? this.sealedNumbers) + this.strings.size;
  }

  add(key: Key): void {
    if (typeof key === 'string') this.strings.add(key);
    else if (this.numbers) this.numbers.add(key);
    else throw new Error('a key added to a sealed key set');
  }

  has(key: Key): boolean {
    if (typeof key === 'string') return this.strings.has(key);
    const bits = this.bits;
    if (bits === undefined) return this.numbers?.has(key) ?? false;
    const at = key - this.min;
    return at >= 0 && at < bits.length * 32 && ((bits[at >>> 5] as number) & (1 << (at & 31))) !== 0;
  }

  /** No key comes any more: integer keys in a range dense enough become a bitmap. */
  seal(): void {
    const numbers = this.numbers;
    if (numbers === undefined || numbers.size === 0) return;
    let min = Number.POSITIVE_INFINITY;
    let max = Number.NEGATIVE_INFINITY;
    numbers.forEach((key) => {
      if (key < min) min = key;
      if (key > max) max = key;
    });
    const range = max - min + 1;
    if (range > MAX_BITS || range > BITS_PER_KEY * numbers.size) return;
    const bits = new Uint32Array(Math.ceil(range / 32));
    numbers.forEach((key) => {
      const at = key - min;
      bits[at >>> 5] = (bits[at >>> 5] as number) | (1 << (at & 31));
    });
    this.bits = bits;
    this.min = min;
    this.sealedNumbers = numbers.size;
    this.numbers = undefined;
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
