// LZF decompression (liblzf's lzf_decompress, as Redis ships it in src/lzf_d.c), for the strings
// DUMP compresses (rdb-hash.ts). What it reads came from Redis: every length is checked.

/**
 * Decompresses `input[from, to)` into `out[at, at + length)`; false when those bytes are not an
 * LZF stream of exactly `length` bytes (a run or a back reference past either end).
 */
export function lzfDecompress(input: Buffer, from: number, to: number, out: Buffer, at: number, length: number): boolean {
  const outEnd = at + length;
  let ip = from;
  let op = at;
  while (ip < to) {
    const ctrl = input[ip++]!;
    if (ctrl < 32) {
      // A literal run of ctrl + 1 bytes.
      const run = ctrl + 1;
      if (op + run > outEnd || ip + run > to) return false;
      input.copy(out, op, ip, ip + run);
      op += run;
      ip += run;
      continue;
    }
    // A back reference: 3 bits of length (7: one more byte of it), 13 bits of distance.
    let len = ctrl >> 5;
    if (ip >= to) return false;
    if (len === 7) {
      len += input[ip++]!;
      if (ip >= to) return false;
    }
    let ref = op - ((ctrl & 0x1f) << 8) - 1 - input[ip++]!;
    len += 2;
    if (op + len > outEnd || ref < at) return false;
    // Byte by byte: the source may overlap what this copy writes (a repeated run).
    while (len-- > 0) out[op++] = out[ref++]!;
  }
  return op === outEnd;
}
