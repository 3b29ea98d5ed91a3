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
 * A table of the reply's fields, sorted as the ordinary merge sorts them (by UTF-16 code units),
 * or null when the reply is not one to build from (see the file's head). The field strings and
 * their labels are made one at a time here and not kept.
 */
export async function tableFromReply(packed: unknown, labelNames: readonly string[], pacer: Pacer): Promise<CounterTable | null> {
  const reply = packedOf(packed);
  if (reply === null) return null;
  const { packed: p, count: strings } = reply;
  const buf = p.buf;
  const n = strings / 2;
  const fields: string[] = new Array(n);
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
    fields[i] = buf.toString('utf8', start, end);
    const pause = pacer.step();
    if (pause) await pause;
  }
  if (!p.isDone()) return null;
  const sorted = await sortPaced(fields, byCodeUnits, pacer);
  fields.length = 0;
  const texts: (string | null)[] = new Array(n);
  for (let i = 0; i < n; i++) {
    if (i > 0 && sorted[i] === sorted[i - 1]) return null;
    const labels = parseLabelField(sorted[i]!, labelNames);
    texts[i] = labels === null ? null : labelText(labels);
    const pause = pacer.step();
    if (pause) await pause;
  }
  return CounterTable.build(sorted, texts, labelNames.join(','), pacer);
}
