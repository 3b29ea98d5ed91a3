// Strings packed by cmsgpack (read-family.lua) read in place: shared by the ordinary read (decode.ts)
// and the counter tables' (counter-read.ts).
/**
 * Walks the strings of a packed hash (read-family.lua: a cmsgpack array of strings) in place, with
 * no array of their positions: `count()` reads the header (-1: not such packing), then each
 * `next()` moves `start`/`end` to the next string (false: the bytes are not one).
 */
export class Packed {
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
    // Each string takes a byte at least: a larger count is no packing of ours.
    return count % 2 === 0 && count <= buf.length ? count : -1;
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
