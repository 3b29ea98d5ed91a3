import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import hdr from 'hdr-histogram-js';
import type { Histogram as HdrHistogram } from 'hdr-histogram-js';
import { MAX_SPARSE, addSlotTo, encodeSlot, newHdr, readSlot, recordHdr, recordSparse, slotTotal, fromBlob, sparseSlotFor, type LiveCounts, type SlotCounts } from '../../src/store/hdr-slot.js';
import { quantileOf, quantilesOf } from '../../src/collect/quantile.js';
import { decodeHdrBlob } from '../../src/collect/hdr-blob.js';
import { sparseEntries, sparseSize } from '../../src/store/sparse-counts.js';
import { Summary, RedisStorageManager } from '../../src/index.js';

// A summary slot starts sparse and turns dense past MAX_SPARSE distinct counts indexes. Whatever its
// form, every reading must be the one a plain HDR histogram fed the same values gives: the blob a
// flush sends (byte for byte), the quantiles, the counts a merge adds.

const PERCENTILES = [0, 0.01, 0.05, 0.5, 0.9, 0.95, 0.99, 0.999, 1];

/** The hot path's recording (src/metrics/summary.ts), as a fold. */
function record(c: LiveCounts, v: number): LiveCounts {
  if (!Array.isArray(c)) {
    recordHdr(c, v);
    return c;
  }
  return recordSparse(c, v) ?? c;
}

function feed(values: readonly number[]): { slot: LiveCounts; plain: HdrHistogram } {
  // As the hot path makes a slot: holding its first value at count 0, which the first record counts.
  let slot: LiveCounts = sparseSlotFor(values[0] ?? 0);
  const plain = newHdr();
  for (const v of values) {
    slot = record(slot, v);
    plain.recordValue(v);
  }
  return { slot, plain };
}

function seeded(seed: number): () => number {
  return () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
}

/** Every nonzero count of a histogram, by index. */
function countsOf(h: HdrHistogram): Array<[number, number]> {
  const js = h as unknown as { countsArrayLength: number; getCountAtIndex(i: number): number };
  const out: Array<[number, number]> = [];
  for (let i = 0; i < js.countsArrayLength; i++) if (js.getCountAtIndex(i) !== 0) out.push([i, js.getCountAtIndex(i)]);
  return out;
}

function assertSame(slot: SlotCounts, plain: HdrHistogram, what: string): void {
  assert.equal(slotTotal(slot), plain.totalCount, `${what}: total`);
  assert.equal(encodeSlot(slot), hdr.encodeIntoCompressedBase64(plain), `${what}: blob`);
  assert.deepEqual(readSlot(slot, (h) => PERCENTILES.map((q) => quantileOf(h, q))), PERCENTILES.map((q) => quantileOf(plain, q)), `${what}: quantiles`);
  assert.deepEqual(readSlot(slot, (h) => allAtOnce(h, PERCENTILES)), PERCENTILES.map((q) => quantileOf(plain, q)), `${what}: quantiles in one walk`);
  assert.deepEqual(readSlot(slot, countsOf), countsOf(plain), `${what}: counts`);
}

/** quantilesOf() as an array. */
function allAtOnce(h: HdrHistogram, qs: readonly number[]): number[] {
  const out = new Array<number>(qs.length);
  quantilesOf(h, qs, out);
  return out;
}

describe('quantilesOf: every quantile in one walk of the counts', () => {
  it('gives what the library gives one quantile at a time: zeros, merged histograms, empty ones, quantiles in any order', () => {
    const random = seeded(5);
    const orders = [PERCENTILES, [...PERCENTILES].reverse(), [0.5, 0.5, 0.99, 0], [1], [0], [0.999, 0.001]];
    for (let round = 0; round < 300; round++) {
      const h = newHdr();
      const kind = round % 5;
      const n = kind === 0 ? 0 : Math.floor(random() * 2000) + 1;
      for (let k = 0; k < n; k++) {
        // Zeros (index 0, below minNonZeroValue), small counts, and a wide range.
        const v = kind === 1 && random() < 0.3 ? 0 : Math.floor(random() ** 3 * 2 ** (10 + (round % 30)));
        h.recordValue(v);
      }
      // Half of them merged from two (the library's add keeps minNonZeroValue).
      let read = h;
      if (round % 2 === 1) {
        read = newHdr();
        const other = newHdr();
        for (let k = 0; k < 50; k++) other.recordValue(Math.floor(random() * 1e6));
        read.add(other);
        read.add(h);
      }
      for (const qs of orders) assert.deepEqual(allAtOnce(read, qs), qs.map((q) => quantileOf(read, q)), `round ${round}, ${qs.join(',')}`);
    }
  });
});

describe('the blob of a sparse slot, written from its counts', () => {
  it('is the library\'s encoding byte for byte: empty, a zero, single zeros and runs between counts, wide values', () => {
    const cases = [[], [5], [5, 7], [5, 6], [0], [0, 1], [0, 0, 3], [2 ** 40], [1, 2 ** 45, 17, 17], [1000, 1001, 1003], [2 ** 53 - 1, 1]];
    for (const values of cases) {
      const { slot, plain } = feed(values);
      assert.ok(Array.isArray(slot), `${values.join(',')}: sparse`);
      assert.equal(encodeSlot(slot), readSlot(slot, (h) => hdr.encodeIntoCompressedBase64(h)), values.join(','));
      assert.equal(encodeSlot(slot), hdr.encodeIntoCompressedBase64(plain), values.join(','));
    }
  });
});

describe('summary slots: sparse counts, dense past MAX_SPARSE distinct indexes', () => {
  it('one observation stays sparse: one index, count 1, the blob and quantiles of a histogram', () => {
    const { slot, plain } = feed([40_000]);
    // 40,000 µs (0.04 s): bucket 5, sub-bucket 40,000 >>> 5 = 1,250, index 5 × 1,024 + 1,250.
    assert.ok(Array.isArray(slot));
    assert.deepEqual(sparseEntries(slot), [[6370, 1]]);
    assertSame(slot, plain, 'one value');
    assert.deepEqual(readSlot(slot, (h) => [0.5, 0.99].map((q) => quantileOf(h, q))), [0.04, 0.04]);
  });

  it('repeated and equivalent values share an index', () => {
    // 2,048 and 2,049 are one index (unit 2 past 2,048: bucket 1, 1,024 + 2,048 >>> 1); 0 has index 0.
    const { slot, plain } = feed([5, 2049, 2048, 0, 5, 1_000_000, 5, 2 ** 40 + 3]);
    assert.ok(Array.isArray(slot));
    assert.deepEqual(sparseEntries(slot).map(([, count]) => count), [1, 3, 2, 1, 1]);
    assert.deepEqual(sparseEntries(slot).slice(0, 3), [[0, 1], [5, 3], [2048, 2]]);
    assertSame(slot, plain, 'small set');
  });

  it(`turns dense at the ${MAX_SPARSE + 1}th distinct index, counts exact across the switch`, () => {
    // Values 0..MAX_SPARSE-1 are MAX_SPARSE distinct indexes (unit resolution below 2,048), twice each.
    const values: number[] = [];
    for (let round = 0; round < 2; round++) for (let v = 0; v < MAX_SPARSE; v++) values.push(v * 7);
    const { slot, plain } = feed(values);
    assert.ok(Array.isArray(slot));
    assert.equal(sparseSize(slot), MAX_SPARSE);
    assertSame(slot, plain, 'full sparse');
    // The next distinct index turns it dense, with that value counted.
    const dense = record(slot, 123_456_789);
    plain.recordValue(123_456_789);
    assert.ok(!Array.isArray(dense));
    assertSame(dense, plain, 'just dense');
    // A value already seen keeps a full sparse slot sparse.
    const again = feed([...values, 7]);
    assert.ok(Array.isArray(again.slot));
    assertSame(again.slot, again.plain, 'full sparse, repeat');
  });

  it('random values (wide and narrow ranges): same blob, quantiles and counts, sparse or dense', () => {
    const random = seeded(7);
    for (const [count, spread] of [[1, 36], [10, 36], [200, 36], [300, 36], [5_000, 20], [20_000, 36], [1_000, 12]] as const) {
      const values = Array.from({ length: count }, () => Math.floor(random() ** 4 * 2 ** (random() * spread)));
      const { slot, plain } = feed(values);
      assert.equal(Array.isArray(slot), countsOf(plain).length <= MAX_SPARSE, `${count} values: form`);
      assertSame(slot, plain, `${count} values`);
    }
  });

  it('a blob of a sparse slot decodes (as the collector does) to the same counts', () => {
    const { slot, plain } = feed([1, 999, 40_000, 40_001, 2 ** 33, 7_000_000_000_000]);
    const decoded = decodeHdrBlob(encodeSlot(slot), 524_288);
    assert.ok(typeof decoded !== 'string');
    assert.deepEqual(countsOf(decoded), countsOf(plain));
    assert.equal(decoded.totalCount, 6);
  });

  it('addSlotTo merges sparse and dense slots as add() merges the histograms', () => {
    const random = seeded(11);
    const parts = [[40_000, 40_000, 3], Array.from({ length: 3_000 }, () => Math.floor(random() * 2 ** 30)), [2 ** 45, 17], []];
    const viaSlots = newHdr();
    const viaAdd = newHdr();
    for (const values of parts) {
      const { slot, plain } = feed(values);
      addSlotTo(viaSlots, slot);
      viaAdd.add(plain);
    }
    assert.equal(viaSlots.totalCount, 3_005);
    assert.deepEqual(countsOf(viaSlots), countsOf(viaAdd));
    assert.deepEqual(PERCENTILES.map((q) => quantileOf(viaSlots, q)), PERCENTILES.map((q) => quantileOf(viaAdd, q)));
    assert.deepEqual(allAtOnce(viaSlots, PERCENTILES), PERCENTILES.map((q) => quantileOf(viaAdd, q)));
  });

  it('reading a sparse slot leaves the shared scratch histogram empty for the next one', () => {
    const big = feed([2 ** 44, 5]);
    const small = feed([3]);
    assertSame(big.slot, big.plain, 'big');
    // After a wide slot, a narrow one still encodes with a narrow header (highest trackable value 2).
    assertSame(small.slot, small.plain, 'small after big');
    assert.deepEqual(readSlot(small.slot, countsOf), [[3, 1]]);
  });

  it('a blob slot reads as the dense slot it was, and records on (growing) when decoded again', () => {
    const random = seeded(5);
    const values = Array.from({ length: 2_000 }, () => Math.floor(random() * 2 ** 20));
    const { slot, plain } = feed(values);
    assert.ok(!Array.isArray(slot));
    const blob = encodeSlot(slot);
    assert.equal(encodeSlot(blob), blob);
    assertSame(blob, plain, 'blob');
    const merged = newHdr();
    addSlotTo(merged, blob);
    assert.deepEqual(countsOf(merged), countsOf(plain));
    // Decoded (the hot path, a clock set back into the slot): the same blob, then values past its
    // counts array (2^20 fits 11,264 counts; 2^36 needs more) land as in the plain histogram.
    const back = fromBlob(blob);
    assert.equal(encodeSlot(back), blob);
    for (const v of [7, 2 ** 36 + 5, 2 ** 19]) {
      recordHdr(back, v);
      plain.recordValue(v);
    }
    assertSame(back, plain, 'decoded, recorded on');
  });

  it('a Summary gives the quantiles of an HDR histogram of its observations, below and past the switch', async () => {
    const storage = new RedisStorageManager({ env: {} });
    const summary = new Summary({ name: 'slot_summary', help: 'S.', labelNames: ['k'], registers: [], storage });
    const random = seeded(3);
    const few = [0.04, 0.04, 0.5, 1.25, 0.001];
    const many = Array.from({ length: 5_000 }, () => Math.round(random() * 2_000) / 1000);
    const expected = new Map<string, number[]>();
    for (const [k, values] of [['few', few], ['many', many]] as const) {
      const plain = newHdr();
      for (const x of values) {
        summary.observe({ k }, x);
        plain.recordValue(Math.round(x * 1e6));
      }
      expected.set(k, summary.percentiles.map((q) => quantileOf(plain, q)));
    }
    const forms = [...summary.series.values.values()].map((v) => Array.isArray(v.slots.get(0)));
    assert.deepEqual(forms, [true, false]);
    const got = await summary.get();
    for (const k of ['few', 'many']) {
      const quantiles = got.values.filter((s) => s.labels.k === k && s.labels.quantile !== undefined).map((s) => s.value);
      assert.deepEqual(quantiles, expected.get(k), k);
    }
    assert.deepEqual(expected.get('few'), [0.001, 0.001, 0.04, 1.25, 1.25, 1.25, 1.25]);
    await storage.shutdown();
  });
});
