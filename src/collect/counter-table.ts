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
  static async build(parts: { keys: Buffer; keyAt: Int32Array; text: Buffer; textAt: Int32Array; valid: Uint8Array; isAscii: boolean; labelNames: string }, pacer: Pacer, seeds: readonly [number, number] = randomSeeds()): Promise<CounterTable | null> {
    const { keys, keyAt } = parts;
    const n = keyAt.length - 1;
    let capacity = 8;
    while (capacity < n * 2) capacity *= 2;
    const slots = new Int32Array(capacity);
    const mask = capacity - 1;
    const [seed, seed2] = seeds;
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
    return new CounterTable({ ...parts, slots, seed, seed2, maxProbe });
  }

  /**
   * This table with the fields where `keep[i]` is 0 left out and the fields `added` put in their
   * places (sorted by byUtf16, none of them here; `text` null: not a label set of ours), and where
   * each field of this table went (`at[i]`, -1: left out) and how many stayed; null as build(). A family's set of
   * fields changes at a scrape where one series is new: a million fields sorted again took ~2 s of
   * CPU (and their label texts parsed again ~0.5 s), where this copies the bytes in order. The seeds
   * stay, so that the reply orders move over (findAt).
   */
  async with(added: ReadonlyArray<{ readonly key: Buffer; readonly text: Buffer | null }>, keep: Uint8Array, pacer: Pacer): Promise<{ table: CounterTable; at: Int32Array; kept: number } | null> {
    const oldKeys = this.#keys;
    const oldKeyAt = this.#keyAt;
    const oldText = this.#text;
    const oldTextAt = this.#textAt;
    let n = added.length;
    let keyBytes = 0;
    let textBytes = 0;
    let isAscii = this.isAscii;
    for (const a of added) {
      keyBytes += a.key.length;
      if (a.text) {
        textBytes += a.text.length;
        if (isAscii && !a.text.every((b) => b < 0x80)) isAscii = false;
      }
    }
    for (let i = 0; i < this.size; ) {
      for (const end = Math.min(this.size, i + MOVES_PER_SLICE); i < end; i++) {
        if (keep[i] !== 1) continue;
        n++;
        keyBytes += oldKeyAt[i + 1]! - oldKeyAt[i]!;
        textBytes += oldTextAt[i + 1]! - oldTextAt[i]!;
      }
      const pause = pacer.due();
      if (pause) await pause;
    }
    const keys = Buffer.allocUnsafe(keyBytes);
    const keyAt = new Int32Array(n + 1);
    const text = Buffer.allocUnsafe(textBytes);
    const textAt = new Int32Array(n + 1);
    const valid = new Uint8Array(n);
    const at = new Int32Array(this.size).fill(-1);
    let i = 0;
    let a = 0;
    for (let m = 0, k = 0, t = 0; m < n; m++) {
      while (i < this.size && keep[i] !== 1) i++;
      const next = a < added.length ? added[a]! : undefined;
      if (i < this.size && (next === undefined || byUtf16(oldKeys, oldKeyAt[i]!, oldKeyAt[i + 1]!, next.key, 0, next.key.length) < 0)) {
        k += copyBytes(oldKeys, oldKeyAt[i]!, oldKeyAt[i + 1]!, keys, k);
        t += copyBytes(oldText, oldTextAt[i]!, oldTextAt[i + 1]!, text, t);
        valid[m] = this.#valid[i]!;
        at[i++] = m;
      } else {
        k += copyBytes(next!.key, 0, next!.key.length, keys, k);
        if (next!.text) {
          t += copyBytes(next!.text, 0, next!.text.length, text, t);
          valid[m] = 1;
        }
        a++;
      }
      keyAt[m + 1] = k;
      textAt[m + 1] = t;
      const pause = pacer.step();
      if (pause) await pause;
    }
    const table = await CounterTable.build({ keys, keyAt, text, textAt, valid, isAscii, labelNames: this.labelNames }, pacer, [this.#seed, this.#seed2]);
    if (!table) return null;
    await table.sumsOrder.moveFrom(this.sumsOrder, at, n, pacer);
    await table.createdOrder.moveFrom(this.createdOrder, at, n, pacer);
    return { table, at, kept: n - added.length };
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
   * A field new in Redis moves every field after it by one place in the reply (DUMP and HGETALL go
   * through the hash's buckets in order): the place is then looked for one before or after, as far
   * as the fields moved so far (ReplyOrder.lookup), where a one-place shift looked up half a million
   * fields of a million at the scrape after one new series (~1.1 s of CPU).
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
    const known = order.lookup(j, this.size, h1, h2);
    if (known >= 0) return known;
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

/**
 * For findAt: the table position and the two hashes of the field each reply position held. A read
 * begins at position 0 (begin()) and goes through the reply in order; what it finds at other
 * places than before is written to copies, so that the rest of the read still sees the last one's.
 */
export class ReplyOrder {
  index = new Int32Array(0);
  hash1 = new Int32Array(0);
  hash2 = new Int32Array(0);
  /** The last read's places, while this read writes new ones (copied at its first change). */
  #last: { index: Int32Array; hash1: Int32Array; hash2: Int32Array } | undefined;
  /** How far the fields moved, as this read found so far: position j held the field of j + shift. */
  #shift = 0;

  get size(): number {
    return this.index.length;
  }

  /** A read of the reply from its first position. */
  begin(): void {
    this.#last = undefined;
    this.#shift = 0;
  }

  /**
   * The table position of the field with hashes `h1` and `h2` at reply position `j`, from where the
   * last read had it: at j moved as far as the fields before it, or one place more either way; -1
   * when none of those held it.
   */
  lookup(j: number, most: number, h1: number, h2: number): number {
    const last = this.#last ?? this;
    const n = last.index.length;
    const shift = this.#shift;
    for (let d = 0; d < 3; d++) {
      const s = d === 0 ? shift : d === 1 ? shift - 1 : shift + 1;
      const k = j + s;
      if (k < 0 || k >= n || last.hash1[k] !== h1 || last.hash2[k] !== h2) continue;
      const i = last.index[k]!;
      if (s !== 0) {
        this.#shift = s;
        this.remember(j, most, i, h1, h2);
      }
      return i;
    }
    return -1;
  }

  /** Remembers that the field of table position `i` came at reply position `j` (< `most`, the table's size). */
  remember(j: number, most: number, i: number, h1: number, h2: number): void {
    if (j >= most) return;
    if (this.index.length !== most) {
      // Sized once, for the table's fields: a reply holds each at most once.
      this.index = new Int32Array(most);
      this.hash1 = new Int32Array(most);
      this.hash2 = new Int32Array(most);
    } else if (this.#last === undefined) {
      // The first change of this read: the rest of it reads the last read's places.
      this.#last = { index: this.index, hash1: this.hash1, hash2: this.hash2 };
      this.index = this.index.slice();
      this.hash1 = this.hash1.slice();
      this.hash2 = this.hash2.slice();
    }
    this.index[j] = i;
    this.hash1[j] = h1;
    this.hash2[j] = h2;
  }

  /** The positions `from` remembered, for a table of `most` fields where field i of its own went to `at[i]` (-1: gone). */
  async moveFrom(from: ReplyOrder, at: Int32Array, most: number, pacer: Pacer): Promise<void> {
    if (from.size === 0) return;
    const index = new Int32Array(most);
    const hash1 = new Int32Array(most);
    const hash2 = new Int32Array(most);
    const end = Math.min(from.size, most);
    for (let j = 0; j < end; ) {
      for (const slice = Math.min(end, j + MOVES_PER_SLICE); j < slice; j++) {
        const i = at[from.index[j]!]!;
        if (i < 0) continue;
        index[j] = i;
        hash1[j] = from.hash1[j]!;
        hash2[j] = from.hash2[j]!;
      }
      const pause = pacer.due();
      if (pause) await pause;
    }
    [this.index, this.hash1, this.hash2] = [index, hash1, hash2];
  }
}

function randomSeeds(): [number, number] {
  const bytes = randomBytes(8);
  return [bytes.readInt32LE(0), bytes.readInt32LE(4)];
}

/**
 * Orders two fields given as UTF-8 bytes as JavaScript orders the strings (by UTF-16 code units):
 * byte order, but for a character past U+FFFF (lead byte F0-F4, a surrogate pair in UTF-16), which
 * comes before one of U+E000-U+FFFF (lead byte EE or EF).
 */
export function byUtf16(bufA: Uint8Array, a: number, aEnd: number, bufB: Uint8Array, b: number, bEnd: number): number {
  const length = Math.min(aEnd - a, bEnd - b);
  for (let k = 0; k < length; k++) {
    const x = bufA[a + k]!;
    const y = bufB[b + k]!;
    if (x === y) continue;
    if (x >= 0xf0 && (y === 0xee || y === 0xef)) return -1;
    if (y >= 0xf0 && (x === 0xee || x === 0xef)) return 1;
    return x - y;
  }
  return aEnd - a - (bEnd - b);
}

/** Reply positions moved between two looks at the pacer (a few ns each). */
const MOVES_PER_SLICE = 8192;

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
