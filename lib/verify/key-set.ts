/**
 * The key sets of foreign keys counted from the read-back (fk-count.ts): 32-bit integers in an
 * open-addressing table (4 bytes a slot, no object per key), any other key in a Set or Map.
 */

/** The empty slot; a key of this value is kept with the wide ones. */
const EMPTY = -2147483648;
const MIN_SLOTS = 1024;

/** A key the Int32 tables hold. */
const narrow = (key: number) => (key | 0) === key && key !== EMPTY;

function slotOf(key: number, mask: number): number {
  const h = Math.imul(key, 0x9e3779b1);
  return (h ^ (h >>> 15)) & mask;
}

/** A set of 32-bit integers (not EMPTY) with an optional count per key. */
export class NumberTable {
  private keys = new Int32Array(MIN_SLOTS).fill(EMPTY);
  private counts: Int32Array | undefined;
  size = 0;

  constructor(counted = false) {
    if (counted) this.counts = new Int32Array(MIN_SLOTS);
  }

  /** The key's slot, or the empty slot where it would go. */
  private find(key: number): number {
    const keys = this.keys;
    const mask = keys.length - 1;
    let at = slotOf(key, mask);
    for (let k = keys[at] as number; k !== EMPTY && k !== key; k = keys[at] as number) at = (at + 1) & mask;
    return at;
  }

  has(key: number): boolean {
    return this.keys[this.find(key)] !== EMPTY;
  }

  /** Adds the key (or one more of it). */
  add(key: number): void {
    let at = this.find(key);
    if (this.keys[at] === EMPTY) {
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
    this.keys = new Int32Array(keys.length * 2).fill(EMPTY);
    if (counts) this.counts = new Int32Array(keys.length * 2);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as number;
      if (key === EMPTY) continue;
      const at = this.find(key);
      this.keys[at] = key;
      if (this.counts && counts) this.counts[at] = counts[i] as number;
    }
  }

  /** Each key with its count (1 when not counted). */
  forEach(fn: (key: number, count: number) => void): void {
    for (let i = 0; i < this.keys.length; i++) {
      const key = this.keys[i] as number;
      if (key !== EMPTY) fn(key, this.counts ? (this.counts[i] as number) : 1);
    }
  }
}

/** A key of a foreign key: an integer as a number, anything else (or an integer beyond 15 digits) as text. */
export type Key = number | string;

/** A bitmap over [min, max] only when it is at most this many bits a key (and at most 2^27 bits, 16 MB). */
const BITS_PER_KEY = 64;
const MAX_BITS = 2 ** 27;

/**
 * About what a key costs held: an Int32 slot at up to 3/4 load, doubled on growth (parent 4 bytes a
 * slot, waiting keys 8 with their count); a Set or Map entry, and a string's characters.
 */
const NARROW_BYTES = 12;
const NARROW_COUNTED_BYTES = 24;
const ENTRY_BYTES = 64;
const other = (key: Key) => ENTRY_BYTES + (typeof key === 'string' ? key.length : 0);

/** The distinct keys of a parent table read back; `seal` once it is read in full. */
export class KeySet {
  private numbers: NumberTable | undefined = new NumberTable();
  /** Text keys, and integers beyond 32 bits. */
  private readonly others = new Set<Key>();
  /** Once sealed, dense integer keys as a bitmap from `min` (a lookup without a cache miss). */
  private bits: Uint32Array | undefined;
  private min = 0;
  private sealedNumbers = 0;

  get size(): number {
    return (this.numbers?.size ?? this.sealedNumbers) + this.others.size;
  }

  /** About the bytes its keys hold (see NARROW_BYTES). */
  get bytes(): number {
    return (this.numbers?.size ?? this.sealedNumbers) * NARROW_BYTES + this.otherBytes;
  }

  private otherBytes = 0;

  add(key: Key): void {
    if (typeof key === 'string' || !narrow(key)) {
      if (this.others.has(key)) return;
      this.others.add(key);
      this.otherBytes += other(key);
    } else if (this.numbers) this.numbers.add(key);
    else throw new Error('a key added to a sealed key set');
  }

  has(key: Key): boolean {
    if (typeof key === 'string' || !narrow(key)) return this.others.has(key);
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
  /** Text keys, and integers beyond 32 bits. */
  private readonly others = new Map<Key, number>();

  get size(): number {
    return this.numbers.size + this.others.size;
  }

  /** About the bytes its keys hold (see NARROW_BYTES). */
  get bytes(): number {
    return this.numbers.size * NARROW_COUNTED_BYTES + this.otherBytes;
  }

  private otherBytes = 0;

  add(key: Key): void {
    if (typeof key === 'number' && narrow(key)) this.numbers.add(key);
    else {
      const count = this.others.get(key);
      if (count === undefined) this.otherBytes += other(key);
      this.others.set(key, (count ?? 0) + 1);
    }
  }

  /** Rows whose key `known` does not hold. */
  missing(known: KeySet): number {
    let rows = 0;
    this.numbers.forEach((key, count) => {
      if (!known.has(key)) rows += count;
    });
    for (const [key, count] of this.others) if (!known.has(key)) rows += count;
    return rows;
  }
}
