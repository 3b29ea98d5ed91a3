// A counter family's reply read through a CounterTable (counter-table.ts): the sums decoded from
// the packed bytes into a Float64Array, and the table built from the reply itself when the family's
// fields changed (or on the first scrape). Anything unusual (a key of another type, packing that is
// not cmsgpack's, a value that is no number, bytes that are no UTF-8, this process's own series not
// in Redis yet) returns null: the caller then reads the family the ordinary way (redis-read.ts),
// which counts and skips what it must, so that both ways print the same text.
import { isUtf8 } from 'node:buffer';
import type { Pacer } from '../pacer.js';
import { byUtf16, CounterTable } from './counter-table.js';
import { hashReply, isSkipped, type HashReply } from './hash-strings.js';
import { parseLabelField } from './labels.js';
import { labelText } from './render.js';
import { byCodeUnits, sortPaced } from './paced-sort.js';


type PairFn = (fieldBuf: Buffer, fieldStart: number, fieldEnd: number, valueBuf: Buffer, valueStart: number, valueEnd: number) => boolean;

/**
 * Calls `pair` with each field and value of a hash reply (hash-strings.ts), in place; false when
 * the reply is none of ours or `pair` returned false. A field and its value may lie in different
 * buffers (a dump's strings written out: rdb-hash.ts); `keepFields` when `pair` keeps the field's position.
 */
async function eachPair(reply: unknown, pacer: Pacer, pair: PairFn, keepFields = false): Promise<boolean> {
  const hash = hashReply(reply, keepFields);
  if (hash === null) return false;
  const walk: PairWalk = { hash, walker: 0, left: -1, pause: undefined };
  for (;;) {
    const result = pairSlice(walk, pacer, pair);
    if (result !== PAUSED) return result === DONE;
    await walk.pause;
  }
}

/** Where a walk of a hash's pairs stands between two slices. */
interface PairWalk {
  readonly hash: HashReply;
  walker: number;
  /** Strings left in the current walker; -1 before its count() is read. */
  left: number;
  pause: Promise<void> | undefined;
}

const DONE = 0;
const FAILED = 1;
const PAUSED = 2;

/**
 * Walks pairs until the end, a refusal, or a pause of the pacer (set in `walk.pause`). The loop runs
 * in a plain function: V8 did not optimize it inside the async eachPair (a scrape of 100k counters
 * spent 15-50 ms there from one process to the next, against ~10 ms for the same walk and lookups
 * in a plain loop).
 */
function pairSlice(walk: PairWalk, pacer: Pacer, pair: PairFn): number {
  const { walkers, skip } = walk.hash;
  for (; walk.walker < walkers.length; walk.walker++) {
    const p = walkers[walk.walker]!;
    if (walk.left < 0) {
      walk.left = p.count();
      if (walk.left < 0) return FAILED;
    }
    while (walk.left > 0) {
      walk.left -= 2;
      if (!p.next()) return FAILED;
      const { buf, start, end } = p;
      if (!p.next()) return FAILED;
      if (!isSkipped(skip, buf, start, end) && !pair(buf, start, end, p.buf, p.start, p.end)) return FAILED;
      const pause = pacer.step();
      if (pause) {
        walk.pause = pause;
        return PAUSED;
      }
    }
    if (!p.isDone()) return FAILED;
    walk.left = -1;
  }
  return DONE;
}

/** Number(v) of the value's text, NaN for '' (what the ordinary read refuses); digits without a string. */
function valueAt(buf: Buffer, start: number, end: number): number {
  const length = end - start;
  if (length === 0) return NaN;
  if (length <= 15) {
    let x = 0;
    let i = start;
    for (; i < end; i++) {
      const d = buf[i]! - 48;
      if (d < 0 || d > 9) break;
      x = x * 10 + d;
    }
    if (i === end) return x;
  }
  return Number(buf.toString('utf8', start, end));
}

/**
 * This process's unflushed sums, a slice of (field, amount) pairs at a time: `next(add)` adds up to
 * a slice and returns false once none is left (collect/snapshot.ts makes them). A pair marked
 * `once` may come again (one counter listed twice): only its first is added.
 */
export interface LocalFeed {
  next(add: (field: string, amount: number, once?: boolean) => void): boolean;
}

/**
 * The fields a reply and the unflushed part hold that a table does not, and which of its own fields
 * they hold (`seen[i]` 1): the table's fields changed (a series new or removed). See CounterTable.with.
 */
export interface TableChange {
  readonly added: ReadonlySet<string>;
  readonly seen: Uint8Array;
}

/**
 * The family's sums by table position (Redis, then this process's unflushed part added as the
 * ordinary read adds it); a TableChange when the reply and the unflushed part hold other fields than
 * the table (at most mostAddedTo(table.size) new ones: more, and it is built again); null when the
 * reply is not one to read through a table.
 */
export async function sumsByTable(packed: unknown, table: CounterTable, local: (() => LocalFeed) | undefined, pacer: Pacer): Promise<Float64Array | TableChange | null> {
  const n = table.size;
  const values = new Float64Array(n);
  const seen = new Uint8Array(n);
  const added = new Set<string>();
  // A family that changed more is built again, from its bytes (no string per field).
  const mostAdded = mostAddedTo(n);
  let count = 0;
  const order = table.sumsOrder;
  order.begin();
  let j = 0;
  const read = await eachPair(packed, pacer, (fieldBuf, fieldStart, fieldEnd, valueBuf, valueStart, valueEnd) => {
    const i = table.findAt(order, j++, fieldBuf, fieldStart, fieldEnd);
    if (i < 0) {
      // Bytes that are no UTF-8 read as U+FFFD: two fields could then be one string.
      if (!isUtf8(fieldBuf.subarray(fieldStart, fieldEnd))) return false;
      const field = fieldBuf.toString('utf8', fieldStart, fieldEnd);
      if (added.has(field)) return false;
      added.add(field);
      return added.size <= mostAdded;
    }
    if (seen[i] === 1) return false;
    const x = valueAt(valueBuf, valueStart, valueEnd);
    if (Number.isNaN(x)) return false;
    values[i] = x;
    seen[i] = 1;
    count++;
    return true;
  });
  if (!read) return null;
  if (local) {
    // Summed by position first, as the ordinary read sums them in a map, then added to Redis's
    // value: a slice at a time, and no map (a map of a process's own million unflushed counters
    // held the event loop ~35 ms at each of its resizes).
    // Made at the first pair (most processes that read a family hold none of its series).
    let sums: Float64Array | undefined;
    // Bit 1: a local sum; bit 2: a pair marked `once` added.
    let has = NO_LOCAL;
    const add = (field: string, x: number, once?: boolean): void => {
      const i = table.findString(field);
      if (i < 0) added.add(field);
      else {
        if (sums === undefined) [sums, has] = [new Float64Array(n), new Uint8Array(n)];
        const h = has[i]!;
        if (once === true) {
          if ((h & 2) !== 0) return;
          has[i] = h | 2;
        }
        if ((h & 1) === 0) {
          has[i] = has[i]! | 1;
          sums[i] = 0 + x;
        } else sums[i] = sums[i]! + x;
      }
    };
    for (const feed = local(); feed.next(add); ) {
      if (added.size > mostAdded) return null;
      const pause = pacer.due();
      if (pause) await pause;
    }
    if (added.size > mostAdded) return null;
    for (let i = 0; sums !== undefined && i < n; i += LOCAL_PER_SLICE) {
      count += addSums(values, seen, sums, has, i, Math.min(n, i + LOCAL_PER_SLICE));
      const pause = pacer.due();
      if (pause) await pause;
    }
  }
  return added.size === 0 && count === n ? values : { added, seen };
}

/** Table positions whose local sums are added between two looks at the pacer. */
const LOCAL_PER_SLICE = 8192;
const NO_LOCAL = new Uint8Array(0);

/**
 * The most new fields a table of `n` takes as a change (CounterTable.with) rather than built again:
 * a change costs a string per new field and their sort, a build one pass of radix sort over the
 * bytes of all (a table of 1M with 1M new fields took 3.4 s as a change, 2.8 s built).
 */
export function mostAddedTo(n: number): number {
  return Math.max(64, n >>> 3);
}

/**
 * Adds the local sums of positions `from` to `to` (where `has`) to the values; returns how many
 * positions Redis did not hold (a plain function, as pairSlice).
 */
function addSums(values: Float64Array, seen: Uint8Array, sums: Float64Array, has: Uint8Array, from: number, to: number): number {
  let count = 0;
  for (let i = from; i < to; i++) {
    if (has[i] === 0) continue;
    if (seen[i] === 0) {
      seen[i] = 1;
      count++;
      values[i] = 0 + sums[i]!;
    } else values[i] = values[i]! + sums[i]!;
  }
  return count;
}

/**
 * Creation times by table position (NaN: unknown) from the packed created hash; a value that is no
 * ms count is counted as the ordinary read counts it. Null where that read would count something else.
 */
export async function createdByTable(packed: unknown, table: CounterTable, bad: () => void, pacer: Pacer): Promise<Float64Array | null> {
  const created = new Float64Array(table.size).fill(NaN);
  let bads = 0;
  const order = table.createdOrder;
  order.begin();
  let j = 0;
  const read = await eachPair(packed, pacer, (fieldBuf, fieldStart, fieldEnd, valueBuf, valueStart, valueEnd) => {
    const at = j++;
    const ms = valueAt(valueBuf, valueStart, valueEnd);
    if (!(Number.isSafeInteger(ms) && ms >= 0)) bads++;
    else {
      const i = table.findAt(order, at, fieldBuf, fieldStart, fieldEnd);
      if (i >= 0) created[i] = ms;
    }
    return true;
  });
  if (!read) return null;
  for (let k = 0; k < bads; k++) bad();
  return created;
}

/**
 * A table of the reply's fields, sorted as the ordinary merge sorts them (by UTF-16 code units),
 * or null when the reply is not one to build from (see the file's head). Sorted as byte ranges of
 * the reply; each field's string and labels are made one at a time and not kept, so that a first
 * scrape leaves no million strings for the garbage collector to copy and mark.
 */
export async function tableFromReply(packed: unknown, labelNames: readonly string[], pacer: Pacer): Promise<CounterTable | null> {
  const hash = hashReply(packed);
  if (hash === null) return null;
  // The pairs the headers announce (eachPair checks each against the bytes).
  let most = 0;
  for (const strings of hash.walkers) {
    const count = strings.count();
    if (count < 0) return null;
    most += count / 2;
  }
  // Each field by the buffer it lies in (a part, or a chunk of a dump's written-out strings).
  const bufs: Buffer[] = [];
  const bufIndex = new Map<Buffer, number>();
  const bufOf = new Int32Array(most);
  const from = new Int32Array(most);
  const to = new Int32Array(most);
  let n = 0;
  let keyBytes = 0;
  let last: Buffer | null = null;
  let lastIndex = -1;
  const read = await eachPair(packed, pacer, (buf, start, end) => {
    // Bytes that are no UTF-8 read as U+FFFD: two fields could then be one string.
    for (let b = start; b < end; b++) {
      if (buf[b]! >= 0x80) {
        if (!isUtf8(buf.subarray(start, end))) return false;
        break;
      }
    }
    if (buf !== last) {
      let index = bufIndex.get(buf);
      if (index === undefined) {
        index = bufs.push(buf) - 1;
        bufIndex.set(buf, index);
      }
      [last, lastIndex] = [buf, index];
    }
    bufOf[n] = lastIndex;
    from[n] = start;
    to[n] = end;
    keyBytes += end - start;
    n++;
    return true;
  }, true);
  if (!read) return null;
  const bufAt = (i: number) => bufs[bufOf[i]!]!;
  const compare = (a: number, b: number) => byUtf16(bufAt(a), from[a]!, to[a]!, bufAt(b), from[b]!, to[b]!);
  const sorted = await sortFields(n, bufAt, from, to, pacer);
  const keys = Buffer.allocUnsafe(keyBytes);
  const keyAt = new Int32Array(n + 1);
  let text = Buffer.allocUnsafe(Math.max(64, keyBytes + n * labelNames.join('').length));
  const textAt = new Int32Array(n + 1);
  const valid = new Uint8Array(n);
  let isAscii = true;
  for (let i = 0, k = 0, t = 0; i < n; i++) {
    const j = sorted[i]!;
    if (i > 0 && compare(sorted[i - 1]!, j) === 0) return null;
    k += bufAt(j).copy(keys, k, from[j]!, to[j]!);
    keyAt[i + 1] = k;
    const labels = parseLabelField(bufAt(j).toString('utf8', from[j]!, to[j]!), labelNames);
    if (labels !== null) {
      valid[i] = 1;
      const line = labelText(labels);
      const need = t + 3 * line.length;
      if (need > text.length) {
        const grown = Buffer.allocUnsafe(Math.max(need, text.length * 2));
        text.copy(grown, 0, 0, t);
        text = grown;
      }
      const wrote = text.write(line, t);
      if (wrote !== line.length) isAscii = false;
      t += wrote;
    }
    textAt[i + 1] = t;
    const pause = pacer.step();
    if (pause) await pause;
  }
  return CounterTable.build({ keys, keyAt, text: text.subarray(0, textAt[n]), textAt, valid, isAscii, labelNames: labelNames.join(',') }, pacer);
}

/**
 * The table with the change a read found (TableChange) made to it: its new fields' labels parsed
 * and put in order, the fields no longer held left out, the rest copied (CounterTable.with).
 */
export async function tableWithChange(table: CounterTable, change: TableChange, labelNames: readonly string[], pacer: Pacer): ReturnType<CounterTable['with']> {
  const added: Array<{ key: Buffer; text: Buffer | null }> = [];
  // JavaScript's order of strings, by UTF-16 code units: byUtf16's of their bytes. Paced: Redis
  // sends a hash's fields in no order, and 100k of them took ~0.1 s to sort in one call.
  for (const field of await sortPaced([...change.added], byCodeUnits, pacer)) {
    const labels = parseLabelField(field, labelNames);
    added.push({ key: Buffer.from(field), text: labels === null ? null : Buffer.from(labelText(labels)) });
    const pause = pacer.step();
    if (pause) await pause;
  }
  return table.with(added, change.seen, pacer);
}

// Runs sorted natively, each one unit of work: 512 indices take well under a slice with a JS comparator.
const RUN = 512;

/**
 * `items` sorted by `compare`, as sortPaced() (paced-sort.ts) sorts, but in two Int32Arrays merged
 * back and forth: a million indices in JS arrays were copied by every scavenge while the sort ran
 * (8-10 ms pauses); these buffers are outside the heap. `items` is sorted in place or replaced.
 */
async function sortIndices(items: Int32Array, compare: (a: number, b: number) => number, pacer: Pacer): Promise<Int32Array> {
  const n = items.length;
  let from: Int32Array = items;
  for (let i = 0; i < n; i += RUN) {
    from.subarray(i, Math.min(i + RUN, n)).sort(compare);
    const pause = pacer.due();
    if (pause) await pause;
  }
  let to: Int32Array = new Int32Array(n);
  for (let width = RUN; width < n; width *= 2) {
    for (let lo = 0; lo < n; lo += 2 * width) {
      const mid = Math.min(lo + width, n);
      const hi = Math.min(lo + 2 * width, n);
      let i = lo;
      let j = mid;
      let k = lo;
      while (i < mid && j < hi) {
        to[k++] = compare(from[i]!, from[j]!) <= 0 ? from[i++]! : from[j++]!;
        const pause = pacer.step();
        if (pause) await pause;
      }
      to.set(from.subarray(i, mid), k);
      to.set(from.subarray(j, hi), k + mid - i);
    }
    [from, to] = [to, from];
  }
  return from;
}

/** Key bytes per pass of sortFields(): 5 bytes and a 24-bit place in the group make one 64-bit key. */
const KEY_BYTES = 5;
/** Groups this small, or still tied after this many passes, are sorted with the comparator. */
const SMALL_GROUP = 32;
const MAX_PASSES = 8;
/** Keys sorted natively at once: a few ms, within a slice. */
const KEY_RUN = 32768;

/**
 * The fields `bufOf(i)[from[i], to[i])`, i in 0 .. n - 1, in byUtf16 order: a radix sort on their
 * bytes, most significant first. A group of fields skips the prefix they all share, then is ordered
 * by its next 5 bytes, packed with each field's place in the group into a 64-bit key that a
 * BigUint64Array sorts natively; fields whose keys tie form the groups of the next pass. 100,000
 * label sets of one route (`["GET","/api/v1/items/...`, 20 bytes shared) took ~0.45 s of CPU with a
 * comparator of bytes, about half of a first scrape of the family. Where bytes order differently
 * from UTF-16 code units (a byte of EE or above, see byUtf16), in small groups and past MAX_PASSES,
 * the comparator decides.
 */
export async function sortFields(n: number, bufOf: (i: number) => Buffer, from: Int32Array, to: Int32Array, pacer: Pacer): Promise<Int32Array> {
  const compare = (a: number, b: number) => byUtf16(bufOf(a), from[a]!, to[a]!, bufOf(b), from[b]!, to[b]!);
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const byComparator = async (lo: number, hi: number) => order.set(await sortIndices(order.slice(lo, hi), compare, pacer), lo);
  const groups: Array<[lo: number, hi: number, depth: number, pass: number]> = [[0, n, 0, 0]];
  while (groups.length > 0) {
    const [lo, hi, depth, pass] = groups.pop()!;
    const size = hi - lo;
    if (size <= 1) continue;
    if (size <= SMALL_GROUP || pass >= MAX_PASSES || size >= 1 << 24) {
      await byComparator(lo, hi);
      continue;
    }
    // The bytes every field of the group shares past `depth`, and the longest field.
    const first = order[lo]!;
    const firstBuf = bufOf(first);
    const firstFrom = from[first]! + depth;
    let shared = Math.max(0, to[first]! - firstFrom);
    let longest = to[first]! - from[first]!;
    for (let k = lo + 1; k < hi; k++) {
      const i = order[k]!;
      const buf = bufOf(i);
      const start = from[i]! + depth;
      const length = Math.min(shared, to[i]! - start);
      let m = 0;
      while (m < length && buf[start + m] === firstBuf[firstFrom + m]) m++;
      shared = m;
      if (to[i]! - from[i]! > longest) longest = to[i]! - from[i]!;
      const pause = pacer.step();
      if (pause) await pause;
    }
    const at = depth + shared;
    // Every field ends before `at`: they differ only by length (or are the same): the comparator's work.
    if (at >= longest) {
      await byComparator(lo, hi);
      continue;
    }
    const keys = new BigUint64Array(size);
    const words = new Uint32Array(keys.buffer);
    let isBytewise = true;
    for (let k = 0; k < size; k++) {
      const i = order[lo + k]!;
      const buf = bufOf(i);
      const start = from[i]! + at;
      const end = to[i]!;
      let high = 0;
      for (let b = 0; b < 4; b++) {
        // A field that ended pads with 0, below every byte: it comes first, as the shorter string.
        const x = start + b < end ? buf[start + b]! : 0;
        if (x >= 0xee) isBytewise = false;
        high = (high << 8) | x;
      }
      const x = start + 4 < end ? buf[start + 4]! : 0;
      if (x >= 0xee) isBytewise = false;
      // Little-endian words: the low one (fifth byte, place in the group) first.
      words[2 * k] = ((x << 24) | k) >>> 0;
      words[2 * k + 1] = high >>> 0;
      const pause = pacer.step();
      if (pause) await pause;
    }
    if (!isBytewise) {
      await byComparator(lo, hi);
      continue;
    }
    const sorted = await sortKeys(keys, pacer);
    const group = order.slice(lo, hi);
    let runStart = 0;
    for (let k = 0; k < size; k++) {
      order[lo + k] = group[sorted[2 * k]! & 0xffffff]!;
      const tied = k > 0 && sorted[2 * k + 1] === sorted[2 * k - 1] && sorted[2 * k]! >>> 24 === sorted[2 * k - 2]! >>> 24;
      if (!tied) {
        if (k - runStart > 1) groups.push([lo + runStart, lo + k, at + KEY_BYTES, pass + 1]);
        runStart = k;
      }
      const pause = pacer.step();
      if (pause) await pause;
    }
    if (size - runStart > 1) groups.push([lo + runStart, hi, at + KEY_BYTES, pass + 1]);
    const pause = pacer.due();
    if (pause) await pause;
  }
  return order;
}

/** The keys sorted (runs of KEY_RUN natively, then merged), as their 32-bit words (low, high). */
async function sortKeys(keys: BigUint64Array, pacer: Pacer): Promise<Uint32Array> {
  const n = keys.length;
  for (let i = 0; i < n; i += KEY_RUN) {
    keys.subarray(i, Math.min(i + KEY_RUN, n)).sort();
    const pause = pacer.due();
    if (pause) await pause;
  }
  let src: Uint32Array = new Uint32Array(keys.buffer);
  let dst: Uint32Array = new Uint32Array(2 * n);
  for (let width = KEY_RUN; width < n; width *= 2) {
    for (let lo = 0; lo < n; lo += 2 * width) {
      const mid = Math.min(lo + width, n);
      const hi = Math.min(lo + 2 * width, n);
      let i = lo;
      let j = mid;
      let k = lo;
      while (i < mid && j < hi) {
        const a = src[2 * i + 1]!;
        const b = src[2 * j + 1]!;
        const next = a < b || (a === b && src[2 * i]! <= src[2 * j]!) ? i++ : j++;
        dst[2 * k] = src[2 * next]!;
        dst[2 * k + 1] = src[2 * next + 1]!;
        k++;
        const pause = pacer.step();
        if (pause) await pause;
      }
      dst.set(src.subarray(2 * i, 2 * mid), 2 * k);
      dst.set(src.subarray(2 * j, 2 * hi), 2 * (k + mid - i));
    }
    [src, dst] = [dst, src];
  }
  return src;
}
