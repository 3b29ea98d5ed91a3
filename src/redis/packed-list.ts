/**
 * A list of items sent to a Lua script as ONE argument, items separated by '\n' (see flush-family.lua,
 * which splits it back): ioredis spends CPU per argument, one argument per list costs far less. No
 * item may hold a raw newline (fields are JSON arrays, values numbers, base64 or JSON).
 *
 * The items are written as UTF-8 bytes while the list is built (a drain appends as it reads each
 * value), and the bytes go to ioredis as a Buffer, which it copies into the command unchanged. The
 * list it replaces (string[] joined at send time) cost, for a flush of 100k counters, a String() per
 * delta (~0.1 µs a series for a double: V8's number-to-string), the join (another pass over 200k
 * strings spread over the heap), the encoding of the joined string by the socket write, and the
 * garbage of all three. Numbers are written here without String() where the text is sure to be the
 * same (writeNumber): the bytes sent are those of the joined list, byte for byte.
 */
export class PackedList {
  #bytes: Buffer;
  /** Bytes written: every item is followed by '\n' (the last one is left out when sent). */
  #length = 0;
  #count = 0;
  /** Byte offset after every CUT_ITEMS-th item, for chunks(). */
  #cuts: number[] = [];

  /** `initialBytes`: the buffer made at the first item (it doubles as needed). */
  constructor(readonly initialBytes = 256) {
    this.#bytes = NO_BYTES;
  }

  /** A list of these items. */
  static of(items: readonly string[]): PackedList {
    const list = new PackedList(64);
    for (const item of items) list.pushString(item);
    return list;
  }

  /** Items in the list. */
  get count(): number {
    return this.#count;
  }

  /** What is sent: the items joined by '\n', as bytes (a view, not a copy). */
  bytes(): Buffer {
    return this.#bytes.subarray(0, this.#length === 0 ? 0 : this.#length - 1);
  }

  /** The items as strings (for readers of a batch: the collect's own unflushed sums, tests). */
  items(): string[] {
    if (this.#count === 0) return [];
    return this.bytes().toString('utf8').split('\n');
  }

  /** The field/value pairs of a list of pairs, values as numbers (the sums of a batch). */
  forEachPair(fn: (field: string, value: number) => void): void {
    for (let at = 0; at >= 0; ) at = this.pairsFrom(at, Infinity, fn);
  }

  /**
   * Calls `fn` with at most `most` pairs of a list of pairs, from the byte offset `at` (0 for the
   * first pair), and returns the offset of the next pair, or -1 when none is left: a reader of a
   * large batch goes through it a slice at a time, one string made per field.
   */
  pairsFrom(at: number, most: number, fn: (field: string, value: number) => void): number {
    const b = this.#bytes;
    const length = this.#length;
    for (let k = 0; k < most; k++) {
      // Every item ends with a newline (endItem), the last one too.
      let fieldEnd = at;
      while (fieldEnd < length && b[fieldEnd] !== NEWLINE) fieldEnd++;
      let valueEnd = fieldEnd + 1;
      while (valueEnd < length && b[valueEnd] !== NEWLINE) valueEnd++;
      if (valueEnd >= length) return -1;
      fn(b.toString('utf8', at, fieldEnd), Number(b.toString('latin1', fieldEnd + 1, valueEnd)));
      at = valueEnd + 1;
    }
    return at >= length ? -1 : at;
  }

  /** A copy of the list, which later writes to this one leave as it is (a drain's list read while it grows). */
  copy(): PackedList {
    const out = new PackedList(0);
    out.#bytes = Buffer.from(this.#bytes.subarray(0, this.#length));
    out.#length = this.#length;
    out.#count = this.#count;
    out.#cuts = [...this.#cuts];
    return out;
  }

  pushString(s: string): void {
    this.write(s);
    this.endItem();
  }

  pushNumber(x: number): void {
    this.writeNumber(x);
    this.endItem();
  }

  /**
   * Writes a part of the current item: an item made of several parts (a field and its suffix) is
   * written part by part, with no string made for the whole. endItem() ends it.
   */
  write(s: string): void {
    const n = s.length;
    this.#reserve(n * 3 + 1);
    const b = this.#bytes;
    const start = this.#length;
    let at = start;
    // ASCII byte by byte: for a short field a call into C++ (Buffer.write) costs more than the copy.
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) {
        at = start + b.write(s, start, 'utf8');
        break;
      }
      b[at++] = c;
    }
    this.#length = at;
  }

  /** Writes a number as a part of the current item, as String(x) would. */
  writeNumber(x: number): void {
    this.#reserve(MAX_NUMBER_BYTES + 1);
    this.#length = writeNumber(this.#bytes, this.#length, x);
  }

  endItem(): void {
    this.#reserve(1);
    this.#bytes[this.#length++] = NEWLINE;
    if (++this.#count % CUT_ITEMS === 0) this.#cuts.push(this.#length);
  }

  /**
   * Moves the items out into a list of their own (exact size), and empties this one, which keeps its
   * buffer for the next items: a drain hands parts over this way.
   */
  take(): PackedList {
    if (this.#count === 0) return EMPTY_LIST;
    const out = this.copy();
    this.#length = 0;
    this.#count = 0;
    this.#cuts = [];
    return out;
  }

  /**
   * The list cut into lists of at most `maxItems` items, which must be a multiple of CUT_ITEMS (views
   * of these bytes, not copies).
   */
  chunks(maxItems: number): PackedList[] {
    if (this.#count <= maxItems) return [this];
    const every = maxItems / CUT_ITEMS;
    if (!Number.isInteger(every)) throw new RangeError(`Expected maxItems to be a multiple of ${CUT_ITEMS}, got ${maxItems}`);
    const out: PackedList[] = [];
    let from = 0;
    for (let k = 0; k < this.#count; k += maxItems) {
      const cut = k + maxItems < this.#count ? this.#cuts[(k + maxItems) / CUT_ITEMS - 1]! : this.#length;
      const part = new PackedList(0);
      part.#bytes = this.#bytes.subarray(from, cut);
      part.#length = cut - from;
      part.#count = Math.min(maxItems, this.#count - k);
      out.push(part);
      from = cut;
    }
    return out;
  }

  #reserve(n: number): void {
    if (this.#length + n <= this.#bytes.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.#bytes.length * 2, this.#length + n, this.initialBytes));
    this.#bytes.copy(grown, 0, 0, this.#length);
    this.#bytes = grown;
  }
}

const NO_BYTES = Buffer.alloc(0);

/** The list of no items (shared: never pushed to). */
export const EMPTY_LIST = new PackedList(0);

/** chunks() cuts at multiples of this many items. */
export const CUT_ITEMS = 2000;

const NEWLINE = 10;
/** The longest String(x) of a number: '-1.2345678901234567e-308' is 24 bytes. */
const MAX_NUMBER_BYTES = 25;

/**
 * Writes String(x) at `at` and returns the offset after it. Integers are written digit by digit; a
 * number with at most 6 decimals and |x| < 1e6 too (its text is then the shortest one that reads
 * back as x, so String(x) gives the same: no other decimal of 6 places lies within its rounding
 * interval, ~1e-10 wide); anything else takes String() (V8's shortest round-trip). The digit loops
 * work on int32 values (`| 0`): `%` on a double is a call to fmod.
 */
export function writeNumber(b: Buffer, at: number, x: number): number {
  if ((x | 0) === x) {
    if (x >= 0) return writeInt(b, at, x);
    b[at++] = MINUS;
    // -2^31 has no int32 opposite: it takes the safe-integer path.
    return writeWhole(b, at, -x);
  }
  if (Number.isSafeInteger(x)) {
    if (x < 0) {
      b[at++] = MINUS;
      x = -x;
    }
    return writeWhole(b, at, x);
  }
  if (x > -1e6 && x < 1e6) {
    let m = Math.round(x * 1e6);
    if (m / 1e6 === x) {
      if (m < 0) {
        b[at++] = MINUS;
        m = -m;
      }
      // m < 1e12: both halves are int32.
      const whole = Math.floor(m / 1e6) | 0;
      let fraction = (m - whole * 1e6) | 0;
      at = writeInt(b, at, whole);
      let digits = 6;
      while (fraction % 10 === 0) {
        fraction = (fraction / 10) | 0;
        digits--;
      }
      b[at] = DOT;
      at += digits + 1;
      for (let i = 1; i <= digits; i++) {
        b[at - i] = ZERO + (fraction % 10);
        fraction = (fraction / 10) | 0;
      }
      return at;
    }
  }
  const text = String(x);
  for (let i = 0; i < text.length; i++) b[at++] = text.charCodeAt(i);
  return at;
}

/** A safe integer >= 0: at most 16 digits, as two int32 halves. */
function writeWhole(b: Buffer, at: number, x: number): number {
  if (x < 1e9) return writeInt(b, at, x | 0);
  const high = Math.floor(x / 1e9);
  let low = (x - high * 1e9) | 0;
  at = writeInt(b, at, high | 0);
  at += 9;
  for (let i = 1; i <= 9; i++) {
    b[at - i] = ZERO + (low % 10);
    low = (low / 10) | 0;
  }
  return at;
}

/** An int32 x >= 0. */
function writeInt(b: Buffer, at: number, x: number): number {
  if (x < 10) {
    b[at] = ZERO + x;
    return at + 1;
  }
  const digits = x < 100 ? 2 : x < 1e3 ? 3 : x < 1e4 ? 4 : x < 1e5 ? 5 : x < 1e6 ? 6 : x < 1e7 ? 7 : x < 1e8 ? 8 : x < 1e9 ? 9 : 10;
  let i = at + digits;
  while (i > at) {
    b[--i] = ZERO + (x % 10);
    x = (x / 10) | 0;
  }
  return at + digits;
}

const ZERO = 48;
const MINUS = 45;
const DOT = 46;
