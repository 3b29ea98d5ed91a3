// A large hash as read-family.lua sends it: its DUMP (Redis's RDB serialization of a hashtable
// hash) cut into parts. The walker (collect/rdb-hash.ts) reads every string encoding Redis writes
// (raw, integers, LZF) across part boundaries; anything else is bad data, counted and skipped as a
// bad packing is (decode.ts, counter-read.ts), never thrown. Real DUMPs are compared against the
// packed read in test/integration/dump-read.test.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SelfStats } from '../../src/stats.js';
import { Pacer } from '../../src/pacer.js';
import { flatPairs } from '../../src/collect/decode.js';
import { sumsByTable, tableFromReply } from '../../src/collect/counter-read.js';
import { DumpedHash } from '../../src/collect/rdb-hash.js';
import { lzfDecompress } from '../../src/collect/lzf.js';

/** An RDB length, in the shortest form (as rdbSaveLen writes it) or the one asked for. */
function len(n: number, form: 6 | 14 | 32 | 64 = n < 64 ? 6 : n < 16384 ? 14 : 32): Buffer {
  if (form === 6) return Buffer.from([n]);
  if (form === 14) return Buffer.from([0x40 | (n >> 8), n & 0xff]);
  if (form === 32) return Buffer.from([0x80, n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]);
  const b = Buffer.alloc(9);
  b[0] = 0x81;
  b.writeBigUInt64BE(BigInt(n), 1);
  return b;
}

/**
 * LZF of `input` as liblzf's format has it (a greedy compressor: literal runs of up to 32 bytes,
 * back references of 3-264 bytes within 8,192), or null when it saves nothing.
 */
function lzf(input: Buffer): Buffer | null {
  const out: number[] = [];
  let literal: number[] = [];
  const flush = () => {
    for (let i = 0; i < literal.length; i += 32) {
      const run = literal.slice(i, i + 32);
      out.push(run.length - 1, ...run);
    }
    literal = [];
  };
  let i = 0;
  while (i < input.length) {
    let best = 0;
    let bestAt = 0;
    for (let j = Math.max(0, i - 8192); j < i; j++) {
      let k = 0;
      while (i + k < input.length && k < 264 && input[j + k] === input[i + k]) k++;
      if (k > best) [best, bestAt] = [k, j];
    }
    if (best < 3) {
      literal.push(input[i++]!);
      continue;
    }
    flush();
    const off = i - bestAt - 1;
    const l = best - 2;
    if (l < 7) out.push((l << 5) | (off >> 8), off & 0xff);
    else out.push((7 << 5) | (off >> 8), l - 7, off & 0xff);
    i += best;
  }
  flush();
  return out.length < input.length ? Buffer.from(out) : null;
}

type Str = string | { int: number; form: 0 | 1 | 2 } | { lzf: string } | { raw: Buffer };

/** One string as rdbSaveRawString writes it, or in the encoding asked for. */
function str(s: Str): Buffer {
  if (typeof s === 'string') {
    const b = Buffer.from(s, 'utf8');
    return Buffer.concat([len(b.length), b]);
  }
  if ('int' in s) {
    const b = Buffer.alloc([1, 2, 4][s.form]!);
    if (s.form === 0) b.writeInt8(s.int);
    else if (s.form === 1) b.writeInt16LE(s.int);
    else b.writeInt32LE(s.int);
    return Buffer.concat([Buffer.from([0xc0 | s.form]), b]);
  }
  if ('raw' in s) return s.raw;
  const b = Buffer.from(s.lzf, 'utf8');
  const c = lzf(b);
  assert.ok(c, `${s.lzf} compresses`);
  return Buffer.concat([Buffer.from([0xc3]), len(c.length), len(b.length), c]);
}

const TRAILER = Buffer.from([0x0a, 0x00, 1, 2, 3, 4, 5, 6, 7, 8]);

/** A DUMP of a hashtable hash: type 4, the pair count, the strings, the trailer. */
function dump(strings: readonly Str[], count = strings.length / 2, countForm?: 6 | 14 | 32 | 64): Buffer {
  return Buffer.concat([Buffer.from([4]), len(count, countForm), ...strings.map(str), TRAILER]);
}

/** The reply read-family.lua makes of a dump: 'dump', the field to skip, the parts. */
function reply(bytes: Buffer, partSize = 65536, skip = ''): Buffer[] {
  const parts: Buffer[] = [Buffer.from('dump'), Buffer.from(skip)];
  for (let at = 0; at < bytes.length; at += partSize) parts.push(bytes.subarray(at, at + partSize));
  return parts;
}

function read(r: unknown): { pairs: Array<[string, string]>; bad: Record<string, number> } {
  const stats = new SelfStats();
  const pairs = [...flatPairs(r, stats)];
  return { pairs, bad: Object.fromEntries(stats.badData) };
}

/** Every string the walker yields, as text, or the index where it failed. */
function walk(parts: Buffer[]): string[] | number {
  const w = new DumpedHash(parts);
  const n = w.count();
  if (n < 0) return -1;
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    if (!w.next()) return i;
    out.push(w.buf.toString('utf8', w.start, w.end));
  }
  return w.isDone() ? out : n;
}

const long = JSON.stringify(['GET', '/api/route/17/items', '200', '/api/route/17/items/é😀']);
const repeated = JSON.stringify(['x'.repeat(300), 'y'.repeat(40)]);

describe('a dumped hash (rdb-hash.ts)', () => {
  it('reads raw strings of every length form, and integers as their decimal text', () => {
    const s64 = 'a'.repeat(64);
    const s20k = 'b'.repeat(20000);
    const strings: Str[] = ['', 'x', s64, s20k, 'é', { int: 0, form: 0 }, { int: -128, form: 0 }, { int: 127, form: 0 }, { int: -32768, form: 1 }, { int: 32767, form: 1 }, { int: -2147483648, form: 2 }, { int: 2147483647, form: 2 }, { int: 306075, form: 2 }, { int: -7, form: 0 }];
    const texts = ['', 'x', s64, s20k, 'é', '0', '-128', '127', '-32768', '32767', '-2147483648', '2147483647', '306075', '-7'];
    assert.deepEqual(walk([dump(strings)]), texts);
    // The count in every length form, 64-bit included (Redis writes it past 2^32 only).
    for (const form of [6, 14, 32, 64] as const) assert.deepEqual(walk([dump(strings, 7, form)]), texts);
    // A string's length in the 64-bit form.
    assert.deepEqual(walk([dump([{ raw: Buffer.concat([len(3, 64), Buffer.from('abc')]) }, '1'])]), ['abc', '1']);
  });

  it('decompresses LZF strings: literal runs, short and long back references, overlapping copies', () => {
    const strings: Str[] = [{ lzf: long + long }, { lzf: repeated }, { lzf: 'ab'.repeat(100) }, { lzf: '0123456789'.repeat(5) + 'é'.repeat(40) }];
    assert.deepEqual(walk([dump(strings)]), [long + long, repeated, 'ab'.repeat(100), '0123456789'.repeat(5) + 'é'.repeat(40)]);
    // The compressor above writes every form: a long reference (length byte) and a literal run of 32.
    const c = lzf(Buffer.from(repeated))!;
    assert.ok(c.some((b) => b >> 5 === 7), 'a long back reference');
    const out = Buffer.alloc(repeated.length);
    assert.equal(lzfDecompress(c, 0, c.length, out, 0, out.length), true);
    assert.equal(out.toString(), repeated);
  });

  it('reads the same strings however the dump is cut into parts, straddling strings included', () => {
    const strings: Str[] = [];
    for (let i = 0; i < 60; i++) strings.push(i % 3 === 0 ? { lzf: `${long}${i}${long}` } : JSON.stringify(['k', String(i)]), i % 2 === 0 ? { int: i * 1000, form: 2 } : String(i / 7));
    const bytes = dump(strings);
    const whole = walk([bytes]);
    assert.ok(Array.isArray(whole) && whole.length === 120);
    for (const size of [1, 2, 3, 5, 7, 13, 64, 100, 1000]) assert.deepEqual(walk(reply(bytes, size).slice(2)), whole, `parts of ${size}`);
    // Empty parts between, and every cut in two.
    assert.deepEqual(walk([Buffer.alloc(0), bytes.subarray(0, 50), Buffer.alloc(0), bytes.subarray(50)]), whole);
    for (let cut = 0; cut <= bytes.length; cut++) assert.deepEqual(walk([bytes.subarray(0, cut), bytes.subarray(cut)]), whole, `cut at ${cut}`);
  });

  it('gives the pairs to the ordinary read, leaving out the field the script names', () => {
    const strings: Str[] = ['["a"]', { int: 12, form: 0 }, '__epoch', 'e1', { lzf: long }, '2.5'];
    assert.deepEqual(read(reply(dump(strings), 4, '__epoch')), { pairs: [['["a"]', '12'], [long, '2.5']], bad: {} });
    assert.deepEqual(read(reply(dump(strings), 4)), { pairs: [['["a"]', '12'], ['__epoch', 'e1'], [long, '2.5']], bad: {} });
    // The same reply as latin1 strings (a test's replies): read alike.
    assert.deepEqual(read(reply(dump(strings), 5, '__epoch').map((b) => b.toString('latin1'))), { pairs: [['["a"]', '12'], [long, '2.5']], bad: {} });
  });

  it('gives the counter tables the same sums, fields written out (straddling, LZF, integers) kept by the table', async () => {
    const values = Array.from({ length: 300 }, (_, i) => `value-${i}-${'z'.repeat(i % 40)}`);
    const strings: Str[] = ['__epoch', 'e'];
    values.forEach((v, i) => {
      const f = JSON.stringify([v]);
      strings.push(f.length > 24 && lzf(Buffer.from(f)) ? { lzf: f } : f, i % 2 ? { int: i, form: i < 128 ? 0 : 1 } : `${i}.5`);
    });
    const r = reply(dump(strings), 97, '__epoch');
    const table = await tableFromReply(r, ['k'], new Pacer());
    assert.ok(table);
    const sorted = values.map((v) => JSON.stringify([v])).sort();
    assert.deepEqual(Array.from({ length: table.size }, (_, i) => table.field(i)), sorted);
    const sums = await sumsByTable(r, table, undefined, new Pacer());
    assert.ok(sums instanceof Float64Array);
    assert.deepEqual(Array.from(sums), sorted.map((f) => {
      const i = values.indexOf(JSON.parse(f)[0]);
      return i % 2 ? i : i + 0.5;
    }));
  });

  it('counts what is malformed and keeps the pairs before it, never throwing', () => {
    const good = dump(['["a"]', '1', '["b"]', '2']);
    const bad = (bytes: Buffer) => read(reply(bytes, 3));
    // Truncated anywhere: at most the pairs before the cut, one bad packing.
    for (let cut = 0; cut < good.length; cut++) {
      const r = bad(good.subarray(0, cut));
      assert.deepEqual(r.bad, { packing: 1 }, `cut at ${cut}`);
      assert.ok(r.pairs.length <= 1);
    }
    // Not a hashtable hash (a listpack is type 16), or a count past what the bytes can hold.
    assert.deepEqual(bad(Buffer.concat([Buffer.from([16]), good.subarray(1)])), { pairs: [], bad: { packing: 1 } });
    assert.deepEqual(bad(dump(['["a"]', '1'], 3)), { pairs: [['["a"]', '1']], bad: { packing: 1 } });
    assert.deepEqual(bad(dump(['["a"]', '1'], 5)), { pairs: [], bad: { packing: 1 } });
    assert.deepEqual(bad(dump(['["a"]', '1'], 2 ** 32 - 1, 32)), { pairs: [], bad: { packing: 1 } });
    assert.deepEqual(bad(dump(['["a"]', '1'], 2 ** 52, 64)), { pairs: [], bad: { packing: 1 } });
    // A count that is an encoding; bytes left before the trailer.
    assert.deepEqual(bad(Buffer.concat([Buffer.from([4, 0xc0]), good.subarray(2)])), { pairs: [], bad: { packing: 1 } });
    assert.deepEqual(bad(Buffer.concat([good.subarray(0, good.length - 10), Buffer.from([0x00]), TRAILER])), { pairs: [['["a"]', '1'], ['["b"]', '2']], bad: { packing: 1 } });
    // A string longer than what is left, in every length form, and an unknown length form (0x82).
    for (const form of [14, 32, 64] as const) assert.deepEqual(bad(dump([{ raw: Buffer.concat([len(2 ** 13, form), Buffer.from('abc')]) }, '1'])), { pairs: [], bad: { packing: 1 } });
    assert.deepEqual(bad(dump([{ raw: Buffer.concat([len(2 ** 60, 64), Buffer.from('abc')]) }, '1'])), { pairs: [], bad: { packing: 1 } });
    assert.deepEqual(bad(dump([{ raw: Buffer.from([0x82, 0, 0, 0, 1, 0x61]) }, '1'])), { pairs: [], bad: { packing: 1 } });
    // An unknown string encoding (0xc4), an integer cut short.
    assert.deepEqual(bad(dump(['["a"]', '1', '["b"]', { raw: Buffer.from([0xc4, 1]) }])), { pairs: [['["a"]', '1']], bad: { packing: 1 } });
    assert.deepEqual(bad(Buffer.concat([dump(['["a"]', { raw: Buffer.from([0xc2, 1, 2]) }]).subarray(0, -10), TRAILER.subarray(0, 9)])), { pairs: [], bad: { packing: 1 } });
  });

  it('refuses LZF that is no stream of the declared length: bad back references, runs past either end, huge lengths', () => {
    const lzfStr = (clen: number, length: number, data: number[]): Str => ({ raw: Buffer.concat([Buffer.from([0xc3]), len(clen), len(length), Buffer.from(data)]) });
    const bad = (s: Str) => read(reply(dump(['["a"]', s]), 7));
    const refused = { pairs: [], bad: { packing: 1 } };
    // A valid one first: literal 'ab', then 3 bytes from 2 back.
    assert.deepEqual(bad(lzfStr(5, 5, [1, 0x61, 0x62, 0x20, 1])), { pairs: [['["a"]', 'ababa']], bad: {} });
    // A back reference before the string's start (distance 3 with 2 bytes written).
    assert.deepEqual(bad(lzfStr(5, 5, [1, 0x61, 0x62, 0x20, 2])), refused);
    // A back reference at the very start.
    assert.deepEqual(bad(lzfStr(2, 3, [0x20, 0])), refused);
    // Output longer, or shorter, than declared.
    assert.deepEqual(bad(lzfStr(5, 4, [1, 0x61, 0x62, 0x20, 1])), refused);
    assert.deepEqual(bad(lzfStr(5, 6, [1, 0x61, 0x62, 0x20, 1])), refused);
    // A literal run past the compressed bytes; a back reference cut short (its distance byte, its length byte).
    assert.deepEqual(bad(lzfStr(3, 5, [4, 0x61, 0x62])), refused);
    assert.deepEqual(bad(lzfStr(3, 5, [0, 0x61, 0x20])), refused);
    assert.deepEqual(bad(lzfStr(3, 12, [0, 0x61, 0xe0])), refused);
    // Declared lengths past any bound: more than 88 bytes per compressed byte, more than 16 MiB, past the dump.
    assert.deepEqual(bad(lzfStr(2, 177, [0x00, 0x61])), refused);
    assert.deepEqual(bad({ raw: Buffer.concat([Buffer.from([0xc3]), len(2 ** 20), len(2 ** 30), Buffer.from([0, 0x61])]) }), refused);
    assert.deepEqual(bad({ raw: Buffer.concat([Buffer.from([0xc3]), len(100), len(2 ** 25, 32), Buffer.from([0, 0x61])]) }), refused);
    assert.deepEqual(bad({ raw: Buffer.concat([Buffer.from([0xc3]), Buffer.from([0xc0]), len(2)]) }), refused);
  });

  it('never throws on random damage to a dump, and reads no more pairs than it announces', () => {
    const strings: Str[] = [];
    for (let i = 0; i < 40; i++) strings.push(i % 4 === 0 ? { lzf: `${long}${i}` } : JSON.stringify([String(i)]), { int: i * 997, form: 2 });
    const bytes = dump(strings);
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let round = 0; round < 3000; round++) {
      const damaged = Buffer.from(bytes);
      for (let k = 1 + Math.floor(random() * 4); k > 0; k--) damaged[Math.floor(random() * damaged.length)] = Math.floor(random() * 256);
      const r = read(reply(damaged, 1 + Math.floor(random() * 200), '__epoch'));
      assert.ok(r.pairs.length <= 40);
      assert.ok(Object.keys(r.bad).every((k) => k === 'packing') && (r.bad.packing ?? 0) <= 1);
    }
  });
});
