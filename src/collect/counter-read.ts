// A counter family's reply read through a CounterTable (counter-table.ts): the sums decoded from
// the packed bytes into a Float64Array, and the table built from the reply itself when the family's
// fields changed (or on the first scrape). Anything unusual (a key of another type, packing that is
// not cmsgpack's, a value that is no number, bytes that are no UTF-8, this process's own series not
// in Redis yet) returns null: the caller then reads the family the ordinary way (redis-read.ts),
// which counts and skips what it must, so that both ways print the same text.
import { isUtf8 } from 'node:buffer';
import type { Pacer } from '../pacer.js';
import { byCodeUnits, sortPaced } from './paced-sort.js';
import { CounterTable } from './counter-table.js';
import { parseLabelField } from './labels.js';
import { labelText } from './render.js';

/**
 * Walks the strings of a packed hash (read-family.lua: a cmsgpack array of strings) in place, with
 * no array of their positions: `count()` reads the header (-1: not such packing), then each
 * `next()` moves `start`/`end` to the next string (false: the bytes are not one).
 */
class Packed {
  start = 0;
  end = 0;
  #at = 0;
  constructor(readonly buf: Buffer) {}

  count(): number {
    const buf = this.buf;
    if (buf.length === 0) return 0;
    const head = buf[0]!;
    let count = -1;
    if ((head & 0xf0) === 0x90) [count, this.#at] = [head & 0x0f, 1];
    else if (head === 0xdc && buf.length >= 3) [count, this.#at] = [buf.readUInt16BE(1), 3];
    else if (head === 0xdd && buf.length >= 5) [count, this.#at] = [buf.readUInt32BE(1), 5];
    return count % 2 === 0 ? count : -1;
  }

  next(): boolean {
    const buf = this.buf;
    const at = this.#at;
    if (at >= buf.length) return false;
    const b = buf[at]!;
    let length: number;
    let start: number;
    if ((b & 0xe0) === 0xa0) [length, start] = [b & 0x1f, at + 1];
    else if (b === 0xd9 && at + 2 <= buf.length) [length, start] = [buf[at + 1]!, at + 2];
    else if (b === 0xda && at + 3 <= buf.length) [length, start] = [buf.readUInt16BE(at + 1), at + 3];
    else if (b === 0xdb && at + 5 <= buf.length) [length, start] = [buf.readUInt32BE(at + 1), at + 5];
    else return false;
    if (start + length > buf.length) return false;
    this.start = start;
    this.end = this.#at = start + length;
    return true;
  }

  /** Whether the strings took every byte. */
  isDone(): boolean {
    return this.#at === this.buf.length || this.buf.length === 0;
  }
}

/** The packed hash of a reply, with its number of strings, or null when it is not one. */
function packedOf(reply: unknown): { packed: Packed; count: number } | null {
  if (!Buffer.isBuffer(reply)) return null;
  const packed = new Packed(reply);
  const count = packed.count();
  // Every string takes a byte at least: a larger count is no packing of ours (and no array to allocate).
  return count < 0 || count > reply.length ? null : { packed, count };
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
 * The family's sums by table position (Redis, then this process's unflushed part added as the
 * ordinary read adds it), or null when the reply and the table do not hold the same fields.
 */
export async function sumsByTable(packed: unknown, table: CounterTable, local: ReadonlyMap<string, number> | undefined, pacer: Pacer): Promise<Float64Array | null> {
  const reply = packedOf(packed);
  if (reply === null) return null;
  const { packed: p, count: strings } = reply;
  const buf = p.buf;
  const n = table.size;
  const values = new Float64Array(n);
  const seen = new Uint8Array(n);
  let count = 0;
  for (let s = 0; s < strings; s += 2) {
    if (!p.next()) return null;
    const i = table.find(buf, p.start, p.end);
    if (i < 0 || seen[i] === 1 || !p.next()) return null;
    const x = valueAt(buf, p.start, p.end);
    if (Number.isNaN(x)) return null;
    values[i] = x;
    seen[i] = 1;
    count++;
    const pause = pacer.step();
    if (pause) await pause;
  }
  if (!p.isDone()) return null;
  if (local) {
    for (const [field, x] of local) {
      const i = table.findString(field);
      if (i < 0) return null;
      if (seen[i] === 0) {
        seen[i] = 1;
        count++;
        values[i] = 0 + x;
      } else values[i] = values[i]! + x;
    }
  }
  return count === n ? values : null;
}

/**
 * Creation times by table position (NaN: unknown) from the packed created hash; a value that is no
 * ms count is counted as the ordinary read counts it. Null where that read would count something else.
 */
export async function createdByTable(packed: unknown, table: CounterTable, bad: () => void, pacer: Pacer): Promise<Float64Array | null> {
  const reply = packedOf(packed);
  if (reply === null) return null;
  const { packed: p, count: strings } = reply;
  const buf = p.buf;
  const created = new Float64Array(table.size).fill(NaN);
  let bads = 0;
  for (let s = 0; s < strings; s += 2) {
    if (!p.next()) return null;
    const [fieldStart, fieldEnd] = [p.start, p.end];
    if (!p.next()) return null;
    const ms = valueAt(buf, p.start, p.end);
    if (!(Number.isSafeInteger(ms) && ms >= 0)) bads++;
    else {
      const i = table.find(buf, fieldStart, fieldEnd);
      if (i >= 0) created[i] = ms;
    }
    const pause = pacer.step();
    if (pause) await pause;
  }
  if (!p.isDone()) return null;
  for (let k = 0; k < bads; k++) bad();
  return created;
}

/**
 * Orders two fields given as UTF-8 bytes as JavaScript orders the strings (by UTF-16 code units):
 * byte order, but for a character past U+FFFF (lead byte F0-F4, a surrogate pair in UTF-16), which
 * comes before one of U+E000-U+FFFF (lead byte EE or EF).
 */
function byUtf16(buf: Buffer, a: number, aEnd: number, b: number, bEnd: number): number {
  const length = Math.min(aEnd - a, bEnd - b);
  for (let k = 0; k < length; k++) {
    const x = buf[a + k]!;
    const y = buf[b + k]!;
    if (x === y) continue;
    if (x >= 0xf0 && (y === 0xee || y === 0xef)) return -1;
    if (y >= 0xf0 && (x === 0xee || x === 0xef)) return 1;
    return x - y;
  }
  return aEnd - a - (bEnd - b);
}

/**
 * A table of the reply's fields, sorted as the ordinary merge sorts them (by UTF-16 code units),
 * or null when the reply is not one to build from (see the file's head). Sorted as byte ranges of
 * the reply; each field's string and labels are made one at a time and not kept, so that a first
 * scrape leaves no million strings for the garbage collector to copy and mark.
 */
export async function tableFromReply(packed: unknown, labelNames: readonly string[], pacer: Pacer): Promise<CounterTable | null> {
  const reply = packedOf(packed);
  if (reply === null) return null;
  const { packed: p, count: strings } = reply;
  const buf = p.buf;
  const n = strings / 2;
  const from = new Int32Array(n);
  const to = new Int32Array(n);
  const order: number[] = new Array(n);
  let keyBytes = 0;
  for (let i = 0; i < n; i++) {
    if (!p.next()) return null;
    const { start, end } = p;
    if (!p.next()) return null;
    // Bytes that are no UTF-8 read as U+FFFD: two fields could then be one string.
    for (let b = start; b < end; b++) {
      if (buf[b]! >= 0x80) {
        if (!isUtf8(buf.subarray(start, end))) return null;
        break;
      }
    }
    from[i] = start;
    to[i] = end;
    order[i] = i;
    keyBytes += end - start;
    const pause = pacer.step();
    if (pause) await pause;
  }
  if (!p.isDone()) return null;
  const sorted = await sortPaced(order, (a, b) => byUtf16(buf, from[a]!, to[a]!, from[b]!, to[b]!), pacer);
  const keys = Buffer.allocUnsafe(keyBytes);
  const keyAt = new Int32Array(n + 1);
  let text = Buffer.allocUnsafe(Math.max(64, keyBytes + n * labelNames.join('').length));
  const textAt = new Int32Array(n + 1);
  const valid = new Uint8Array(n);
  let isAscii = true;
  for (let i = 0, k = 0, t = 0; i < n; i++) {
    const j = sorted[i]!;
    if (i > 0 && byUtf16(buf, from[sorted[i - 1]!]!, to[sorted[i - 1]!]!, from[j]!, to[j]!) === 0) return null;
    k += buf.copy(keys, k, from[j]!, to[j]!);
    keyAt[i + 1] = k;
    const labels = parseLabelField(buf.toString('utf8', from[j]!, to[j]!), labelNames);
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
