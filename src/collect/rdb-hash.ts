// A hash as DUMP serializes it (Redis's RDB format, src/rdb.c: rdbSaveObject for a hashtable-encoded
// hash), which read-family.lua sends for a large hash in parts of 64 KB: Redis makes it for a
// fraction of the CPU of HGETALL and the packing (see the script). Walked in place, as the packed
// parts are (packed.ts), and with the same interface; only a string that straddles two parts, an
// integer (DUMP writes "123" as one) or an LZF-compressed string is written out, into chunks that
// are kept as long as the walker: a caller may hold on to the positions of what it read.
import { lzfDecompress } from './lzf.js';

/** RDB_TYPE_HASH: a hash in its hashtable encoding, then its length and its field/value strings. */
const HASH_TYPE = 4;
/** After the value: the RDB version (2 bytes) and a CRC64 (8 bytes), not checked (a JS CRC64 of 5 MB costs more than the read it guards). */
const TRAILER = 10;
/**
 * The longest string decompressed (past it, the hash is bad data): Redis would send a longer one
 * only as someone's garbage, and an LZF back reference of 3 bytes makes at most 264, so that a
 * declared length over 88 times the compressed one is no LZF stream at all.
 */
const MAX_STRING = 16 * 2 ** 20;
const MOST_PER_BYTE = 88;
/** The chunks the written-out strings go into. */
const CHUNK = 64 * 1024;
const EMPTY = Buffer.alloc(0);
/** The text of every INT8 (-128..127), which a walker points at rather than writes: small counts are common. */
const SMALL_AT = new Int32Array(257);
const SMALL = (() => {
  let text = '';
  for (let x = -128; x < 128; x++) {
    text += String(x);
    SMALL_AT[x + 129] = text.length;
  }
  return Buffer.from(text, 'latin1');
})();

/**
 * Walks the strings of a dumped hash across its parts: `count()` reads the header (-1: not a hash
 * of that encoding), then each `next()` points `buf`/`start`/`end` at the next string (false: the
 * bytes are not one, or run past the end). `buf` changes from string to string.
 */
export class DumpedHash {
  buf: Buffer = EMPTY;
  start = 0;
  end = 0;
  readonly #parts: readonly Buffer[];
  /** The part read, the offset in it, and the bytes left before the trailer. */
  #k = 0;
  #at = 0;
  #left: number;
  /** Whether the last length read was an encoding (an integer or LZF) rather than a length. */
  #isEncoded = false;
  #chunk = EMPTY;
  #chunkAt = 0;
  readonly #keepFields: boolean;
  /** Strings read so far: even for a field, odd for a value. */
  #strings = 0;
  /** The reused buffers of a field and of a value written out. */
  #fieldRoom = EMPTY;
  #valueRoom = EMPTY;
  #scratch = EMPTY;

  constructor(parts: readonly Buffer[], keepFields = false) {
    this.#parts = parts;
    this.#keepFields = keepFields;
    let total = 0;
    for (const part of parts) total += part.length;
    this.#left = total - TRAILER;
  }

  count(): number {
    if (this.#left < 1 || this.#byte() !== HASH_TYPE) return -1;
    const n = this.#length();
    // Each string takes a byte at least.
    if (n < 0 || this.#isEncoded || n > this.#left / 2) return -1;
    return 2 * n;
  }

  next(): boolean {
    this.#strings++;
    return this.#next();
  }

  #next(): boolean {
    // Most strings lie within the part read, their header too: a raw one (6- or 14-bit length)
    // read in place, or an integer.
    const part = this.#parts[this.#k]!;
    const at = this.#at;
    const stop = Math.min(part.length, at + this.#left);
    if (at + 5 <= stop) {
      const b = part[at]!;
      if (b < 0x80) {
        const start = b < 0x40 ? at + 1 : at + 2;
        const end = start + (b < 0x40 ? b : ((b & 0x3f) << 8) | part[at + 1]!);
        if (end <= stop) {
          this.buf = part;
          this.start = start;
          this.end = this.#at = end;
          this.#left -= end - at;
          return true;
        }
      } else if (b >= 0xc0 && b <= 0xc2) {
        const size = b === 0xc0 ? 2 : b === 0xc1 ? 3 : 5;
        this.#at = at + size;
        this.#left -= size;
        this.#decimal(b === 0xc0 ? part.readInt8(at + 1) : b === 0xc1 ? part.readInt16LE(at + 1) : part.readInt32LE(at + 1));
        return true;
      }
    }
    const n = this.#length();
    if (n < 0) return false;
    if (!this.#isEncoded) return this.#raw(n);
    if (n === 3) return this.#lzf();
    // RDB_ENC_INT8, INT16, INT32: little-endian, signed.
    const size = n === 0 ? 1 : n === 1 ? 2 : n === 2 ? 4 : 0;
    if (size === 0 || size > this.#left) return false;
    let x = 0;
    for (let i = 0; i < size; i++) x += this.#byte() * 2 ** (8 * i);
    if (x >= 2 ** (8 * size - 1)) x -= 2 ** (8 * size);
    this.#decimal(x);
    return true;
  }

  /** Whether the strings took every byte up to the trailer. */
  isDone(): boolean {
    return this.#left === 0;
  }

  /** One byte; the caller has checked that one is left. */
  #byte(): number {
    let part = this.#parts[this.#k]!;
    while (this.#at >= part.length) {
      part = this.#parts[++this.#k]!;
      this.#at = 0;
    }
    this.#left--;
    return part[this.#at++]!;
  }

  /** A length as rdbLoadLenByRef reads it (6, 14, 32 or 64 bits), or an encoding (#isEncoded); -1 when malformed. */
  #length(): number {
    this.#isEncoded = false;
    if (this.#left < 1) return -1;
    const b = this.#byte();
    switch (b >> 6) {
      case 0:
        return b & 0x3f;
      case 1:
        return this.#left < 1 ? -1 : ((b & 0x3f) << 8) | this.#byte();
      case 3:
        this.#isEncoded = true;
        return b & 0x3f;
    }
    const size = b === 0x80 ? 4 : b === 0x81 ? 8 : 0;
    if (size === 0 || size > this.#left) return -1;
    let x = 0;
    for (let i = 0; i < size; i++) x = x * 256 + this.#byte();
    // Past 2^53 a double is no longer exact; such a length is past any buffer anyway.
    return x > Number.MAX_SAFE_INTEGER ? -1 : x;
  }

  /** A string of n bytes as it is: in place when it lies within one part, else written out. */
  #raw(n: number): boolean {
    if (n > this.#left) return false;
    let part = this.#parts[this.#k]!;
    while (this.#at >= part.length && this.#k + 1 < this.#parts.length) {
      part = this.#parts[++this.#k]!;
      this.#at = 0;
    }
    if (this.#at + n <= part.length) {
      this.buf = part;
      this.start = this.#at;
      this.end = this.#at += n;
      this.#left -= n;
      return true;
    }
    this.#copy(n, this.#room(n), this.start);
    return true;
  }

  /** RDB_ENC_LZF: the compressed length, the length, then the compressed bytes. */
  #lzf(): boolean {
    const clen = this.#length();
    if (clen < 0 || this.#isEncoded || clen > this.#left) return false;
    const length = this.#length();
    if (length < 0 || this.#isEncoded || length > MAX_STRING || length > clen * MOST_PER_BYTE || clen > this.#left) return false;
    let input = this.#parts[this.#k]!;
    let from = this.#at;
    if (from + clen <= input.length) {
      this.#at += clen;
      this.#left -= clen;
    } else {
      // Straddling two parts (or at the very end of one): gathered first.
      if (this.#scratch.length < clen) this.#scratch = Buffer.allocUnsafe(Math.max(clen, 1024));
      input = this.#scratch;
      from = 0;
      this.#copy(clen, input, 0);
    }
    const out = this.#room(length);
    return lzfDecompress(input, from, from + clen, out, this.start, length);
  }

  /** Room for a string of n bytes written out (see the file's head): sets buf/start/end. */
  #room(n: number): Buffer {
    const isValue = (this.#strings & 1) === 0;
    if (isValue || !this.#keepFields) {
      let room = isValue ? this.#valueRoom : this.#fieldRoom;
      if (room.length < n) {
        room = Buffer.allocUnsafe(Math.max(256, n));
        if (isValue) this.#valueRoom = room;
        else this.#fieldRoom = room;
      }
      this.buf = room;
      this.start = 0;
      this.end = n;
      return room;
    }
    if (this.#chunk.length - this.#chunkAt < n) {
      this.#chunk = Buffer.allocUnsafe(Math.max(CHUNK, n));
      this.#chunkAt = 0;
    }
    this.buf = this.#chunk;
    this.start = this.#chunkAt;
    this.end = this.#chunkAt += n;
    return this.#chunk;
  }

  /** Copies the next n bytes of the parts (n <= #left) to out[at..]. */
  #copy(n: number, out: Buffer, at: number): void {
    this.#left -= n;
    while (n > 0) {
      const part = this.#parts[this.#k]!;
      if (this.#at >= part.length) {
        this.#k++;
        this.#at = 0;
        continue;
      }
      const take = Math.min(n, part.length - this.#at);
      part.copy(out, at, this.#at, this.#at + take);
      this.#at += take;
      at += take;
      n -= take;
    }
  }

  /** An integer's decimal text, as Redis stored it before encoding it (rdbTryIntegerEncoding keeps only exact round trips). */
  #decimal(x: number): void {
    if (x >= -128 && x < 128) {
      this.buf = SMALL;
      this.start = SMALL_AT[x + 128]!;
      this.end = SMALL_AT[x + 129]!;
      return;
    }
    // |x| <= 2^31: integer division by `(y / 10) >>> 0` is exact.
    const y0 = Math.abs(x);
    const digits = y0 < 1e3 ? 3 : y0 < 1e4 ? 4 : y0 < 1e5 ? 5 : y0 < 1e6 ? 6 : y0 < 1e7 ? 7 : y0 < 1e8 ? 8 : y0 < 1e9 ? 9 : 10;
    const out = this.#room(digits + (x < 0 ? 1 : 0));
    let at = this.end;
    let y = Math.abs(x);
    do {
      out[--at] = 48 + (y % 10);
      y = (y / 10) >>> 0;
    } while (y > 0);
    if (x < 0) out[--at] = 45;
  }
}
