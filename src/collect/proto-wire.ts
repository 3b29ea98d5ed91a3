// A protobuf wire-format writer, only what io.prometheus.client.MetricFamily needs: varints
// (uint64, int64, zigzag sint32/sint64), doubles, strings and nested messages. Hand-written rather
// than a protobuf library's: those build one message object per sample before encoding (what
// render.ts avoids for text), while this writes each field as the merge hands it over. Checked
// against protobufjs's decoder in test/unit/protobuf.test.ts.

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LEN = 2;

export class ProtoWriter {
  #buf = new Uint8Array(64 * 1024);
  #view = new DataView(this.#buf.buffer);
  /** The same memory as #buf, for Buffer.write of strings. */
  #bytes = Buffer.from(this.#buf.buffer);
  #pos = 0;

  get length(): number {
    return this.#pos;
  }

  #room(n: number): void {
    if (this.#pos + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.#pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#buf.subarray(0, this.#pos));
    this.#buf = next;
    this.#view = new DataView(next.buffer);
    this.#bytes = Buffer.from(next.buffer);
  }

  /** An unsigned varint of a safe integer >= 0 (up to 2^53; uint64 fields of counts). */
  varint(x: number): void {
    this.#room(10);
    const buf = this.#buf;
    let pos = this.#pos;
    while (x >= 0x80000000) {
      buf[pos++] = (x % 128) | 0x80;
      x = Math.floor(x / 128);
    }
    while (x > 0x7f) {
      buf[pos++] = (x & 0x7f) | 0x80;
      x >>>= 7;
    }
    buf[pos++] = x;
    this.#pos = pos;
  }

  /** A negative int64 as protobuf's ten-byte two's complement varint (timestamps before 1970). */
  #negativeVarint(x: number): void {
    let v = BigInt.asUintN(64, BigInt(x));
    this.#room(10);
    while (v > 0x7fn) {
      this.#buf[this.#pos++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.#buf[this.#pos++] = Number(v);
  }

  tag(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  uint64(field: number, x: number): void {
    this.tag(field, WIRE_VARINT);
    this.varint(x);
  }

  int64(field: number, x: number): void {
    this.tag(field, WIRE_VARINT);
    if (x >= 0) this.varint(x);
    else this.#negativeVarint(x);
  }

  /** sint32 / sint64: zigzag, so that small negative numbers stay short. */
  sint(field: number, x: number): void {
    this.tag(field, WIRE_VARINT);
    this.varint(x >= 0 ? 2 * x : -2 * x - 1);
  }

  double(field: number, x: number): void {
    this.tag(field, WIRE_FIXED64);
    this.#room(8);
    this.#view.setFloat64(this.#pos, x, true);
    this.#pos += 8;
  }

  string(field: number, s: string): void {
    this.tag(field, WIRE_LEN);
    this.#room(s.length * 3 + 1);
    const start = this.#pos;
    const bytes = this.#bytes;
    if (s.length * 3 < 128) {
      // At most 127 bytes: the length is one byte, written in front of the text.
      const written = bytes.write(s, start + 1, 'utf8');
      this.#buf[start] = written;
      this.#pos = start + 1 + written;
    } else {
      const written = bytes.write(s, start, 'utf8');
      this.#pos = start + written;
      this.#insertLength(start);
    }
  }

  /** Starts a nested message (or a delimited top-level one when `field` is 0); returns its mark. */
  begin(field: number): number {
    if (field !== 0) this.tag(field, WIRE_LEN);
    return this.#pos;
  }

  /** Ends the message begun at `mark`: its length goes in front of it. */
  end(mark: number): void {
    this.#insertLength(mark);
  }

  /** Moves the bytes from `from` to the end up by the size of their length's varint, and writes it there. */
  #insertLength(from: number): void {
    const length = this.#pos - from;
    const size = varintSize(length);
    this.#room(size);
    const buf = this.#buf;
    buf.copyWithin(from + size, from, from + length);
    let pos = from;
    let x = length;
    while (x > 0x7f) {
      buf[pos++] = (x & 0x7f) | 0x80;
      x >>>= 7;
    }
    buf[pos] = x;
    this.#pos = from + size + length;
  }

  /** The bytes written so far (a copy-free view). */
  finish(): Buffer {
    return this.#bytes.subarray(0, this.#pos);
  }
}

function varintSize(x: number): number {
  let n = 1;
  while (x > 0x7f) {
    x >>>= 7;
    n++;
  }
  return n;
}
