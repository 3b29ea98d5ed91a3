import { randomBytes } from 'node:crypto';
import type { Pacer } from '../pacer.js';
import type { Exemplar } from '../store/values.js';

/**
 * A counter family's series as the text exposition needs them, kept from one scrape to the next
 * outside the JavaScript heap: the Redis fields (UTF-8 bytes, in exposition order) behind an
 * open-addressing index, and each series' label text. A scrape of a million counters then decodes
 * the family's reply straight into a Float64Array (no field string, no Map entry per series) and
 * writes the lines from these bytes: the garbage collector has a few large buffers to look at
 * instead of millions of strings and objects, whose marking and compaction held the event loop
 * 50-100 ms (perf/README.md, target 5b). Built by the merge from a scrape that parsed and sorted
 * the fields the ordinary way; used while the family's set of fields stays the same.
 */
export class CounterTable {
  readonly size: number;
  /** The label names the table was built for (a family redefined with others is built again). */
  readonly labelNames: string;
  /** Whether every label text is ASCII (the lines can then be read back as latin1, a plain copy). */
  readonly isAscii: boolean;
  readonly #keys: Buffer;
  readonly #keyAt: Int32Array;
  readonly #text: Buffer;
  readonly #textAt: Int32Array;
  /** 1 where the field is a label set of ours (the others are counted as bad data at every scrape). */
  readonly #valid: Uint8Array;
  readonly #slots: Int32Array;
  readonly #seed: number;
  /** The seed of findAt's second hash. */
  readonly #seed2: number;
  /** The longest probe any field needed: a lookup that goes further cannot find anything. */
  readonly #maxProbe: number;
  #scratch = Buffer.allocUnsafe(256);
  /** Where the sums' and the creation times' replies put each field at the last scrape. */
  readonly sumsOrder = new ReplyOrder();
  readonly createdOrder = new ReplyOrder();

  private constructor(parts: { labelNames: string; keys: Buffer; keyAt: Int32Array; text: Buffer; textAt: Int32Array; valid: Uint8Array; slots: Int32Array; seed: number; seed2: number; maxProbe: number; isAscii: boolean }) {
    this.size = parts.keyAt.length - 1;
    this.labelNames = parts.labelNames;
    this.isAscii = parts.isAscii;
    this.#keys = parts.keys;
    this.#keyAt = parts.keyAt;
    this.#text = parts.text;
    this.#textAt = parts.textAt;
    this.#valid = parts.valid;
    this.#slots = parts.slots;
    this.#seed = parts.seed;
    this.#seed2 = parts.seed2;
    this.#maxProbe = parts.maxProbe;
  }

  /**
   * A table of the fields `keys[keyAt[i], keyAt[i + 1])` (distinct UTF-8, in exposition order) with
   * their label texts `text[textAt[i], textAt[i + 1])` (`valid[i]` 0: not a label set of ours), or
   * null when the fields hash too unevenly to index in bounded work (fields crafted to collide: the
   * family is then scraped the ordinary way).
   */
  static async build(parts: { keys: Buffer; keyAt: Int32Array; text: Buffer; textAt: Int32Array; valid: Uint8Array; isAscii: boolean; labelNames: string }, pacer: Pacer): Promise<CounterTable | null> {
    const { keys, keyAt } = parts;
    const n = keyAt.length - 1;
    let capacity = 8;
    while (capacity < n * 2) capacity *= 2;
    const slots = new Int32Array(capacity);
    const mask = capacity - 1;
    const seeds = randomBytes(8);
    const seed = seeds.readInt32LE(0);
    let maxProbe = 0;
    for (let i = 0; i < n; i++) {
      let slot = hashOf(keys, keyAt[i]!, keyAt[i + 1]!, seed) & mask;
      let probe = 0;
      while (slots[slot] !== 0) {
        slot = (slot + 1) & mask;
        if (++probe > MAX_PROBE) return null;
      }
      slots[slot] = i + 1;
      if (probe > maxProbe) maxProbe = probe;
      const pause = pacer.step();
      if (pause) await pause;
    }
    return new CounterTable({ ...parts, slots, seed, seed2: seeds.readInt32LE(4), maxProbe });
  }

  /** The position of the field whose UTF-8 bytes are `bytes[start, end)`, or -1. */
  find(bytes: Uint8Array, start: number, end: number): number {
    const keys = this.#keys;
    const keyAt = this.#keyAt;
    const mask = this.#slots.length - 1;
    const length = end - start;
    let slot = hashOf(bytes, start, end, this.#seed) & mask;
    for (let probe = 0; probe <= this.#maxProbe; probe++) {
      const at = this.#slots[slot]! - 1;
      if (at < 0) return -1;
      const from = keyAt[at]!;
      if (keyAt[at + 1]! - from === length) {
        let i = 0;
        while (i < length && keys[from + i] === bytes[start + i]) i++;
        if (i === length) return at;
      }
      slot = (slot + 1) & mask;
    }
    return -1;
  }

  /**
   * find() for the field at position `j` of a reply, through what that position held at the last
   * scrape: Redis sends a hash's fields in the same order from one read to the next (until the hash
   * is rehashed or changes), so the field at `j` is most likely the one met there before. That one
   * is known by two 32-bit hashes of its bytes (seeds of this table, one pass over the bytes read in
   * order) instead of the index's probes and compares, which land at random in a table of several
   * MB, out of the CPU's caches at every scrape (~250 ns a field at 100k fields in a scrape, ~70 ns
   * once cached). A field whose hashes differ is looked up and its position remembered. Two
   * different fields would have to agree in both hashes and the length to be taken for one another.
   */
  findAt(order: ReplyOrder, j: number, bytes: Uint8Array, start: number, end: number): number {
    let h1 = this.#seed ^ 0x811c9dc5;
    let h2 = this.#seed2;
    for (let k = start; k < end; k++) {
      const b = bytes[k]!;
      h1 = Math.imul(h1 ^ b, 0x01000193);
      h2 = Math.imul(h2 ^ b, 0x5bd1e995);
      h2 ^= h2 >>> 15;
    }
    h2 = (h2 ^ (end - start)) | 0;
    if (j < order.size && order.hash1[j] === h1 && order.hash2[j] === h2) return order.index[j]!;
    const i = this.find(bytes, start, end);
    if (i >= 0) order.remember(j, this.size, i, h1, h2);
    return i;
  }

  /** The position of a field given as a string, or -1. */
  findString(field: string): number {
    // Encoded into a buffer kept for it (a Buffer.from per call costs ~0.3 µs: a million own series).
    if (field.length * 3 > this.#scratch.length) this.#scratch = Buffer.allocUnsafe(Math.max(256, field.length * 3));
    const length = this.#scratch.write(field, 0);
    return this.find(this.#scratch, 0, length);
  }

  /** The field at a position, as a string. */
  field(i: number): string {
    return this.#keys.toString('utf8', this.#keyAt[i], this.#keyAt[i + 1]);
  }

  isValid(i: number): boolean {
    return this.#valid[i] === 1;
  }

  /** Writes the label text of the series at `i` (without braces) into `out` at `at`; returns the bytes written. */
  copyText(i: number, out: Buffer, at: number): number {
    return copyBytes(this.#text, this.#textAt[i]!, this.#textAt[i + 1]!, out, at);
  }

  textLength(i: number): number {
    return this.#textAt[i + 1]! - this.#textAt[i]!;
  }
}

/**
 * Copies `from[start, end)` into `to` at `at` and returns the bytes copied: a short run byte by byte
 * (Buffer.copy is a call into C++, ~70 ns, against ~1 ns a byte here: a label text is ~10-40 bytes).
 */
export function copyBytes(from: Uint8Array, start: number, end: number, to: Uint8Array, at: number): number {
  const n = end - start;
  if (n > 64) {
    to.set(from.subarray(start, end), at);
    return n;
  }
  for (let k = 0; k < n; k++) to[at + k] = from[start + k]!;
  return n;
}

/** For findAt: the table position and the two hashes of the field each reply position held. */
export class ReplyOrder {
  index = new Int32Array(0);
  hash1 = new Int32Array(0);
  hash2 = new Int32Array(0);

  get size(): number {
    return this.index.length;
  }

  /** Remembers that the field of table position `i` came at reply position `j` (< `most`, the table's size). */
  remember(j: number, most: number, i: number, h1: number, h2: number): void {
    if (j >= most) return;
    if (this.index.length !== most) {
      // Sized once, for the table's fields: a reply holds each at most once.
      this.index = new Int32Array(most);
      this.hash1 = new Int32Array(most);
      this.hash2 = new Int32Array(most);
    }
    this.index[j] = i;
    this.hash1[j] = h1;
    this.hash2[j] = h2;
  }
}

/** Bounds the work of one lookup, whatever the fields: colliding ones make the family go the ordinary way. */
const MAX_PROBE = 64;

/** FNV-1a over bytes, from a seed of the table's own (fields crafted to collide need to know it). */
function hashOf(bytes: Uint8Array, start: number, end: number, seed: number): number {
  let h = seed ^ 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  return (h ^ (h >>> 15)) >>> 0;
}

/** What the merge hands the text exposition for a counter family read through a table. */
export interface CounterValues {
  readonly table: CounterTable;
  /** The summed value of each series, Redis and this process's unflushed part together. */
  readonly values: Float64Array;
  /** Creation times, ms (NaN: unknown), when the scrape reads them. */
  readonly created: Float64Array | undefined;
  /** Latest exemplars by position (usually none). */
  readonly exemplars: ReadonlyMap<number, Exemplar>;
}
