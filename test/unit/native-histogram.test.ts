// Native histogram operations against brute force: whatever the processes' schemas, zero
// thresholds and bucket budgets, the merged histogram holds, bucket for bucket, what classifying
// every observation directly at the merged schema and zero threshold gives (exact oracle indices).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_SCHEMA, MIN_SCHEMA, upperBound } from '../../src/native/schema.js';
import { bucketCount, emptyNative, limitBuckets, mergeNative, observeNative, reduceTo, spansOf, totalCount, widenZero, type Buckets, type NativeState } from '../../src/native/histogram.js';
import { exactIndex, randomValues, rng } from '../helpers/native-oracle.js';

/** What a histogram at (schema, zeroThreshold) holds for these observations, computed one by one. */
function bruteForce(values: readonly number[], schema: number, zeroThreshold: number): NativeState {
  const h = emptyNative(schema, zeroThreshold);
  for (const v of values) {
    if (Math.abs(v) <= zeroThreshold) h.zeroCount++;
    else {
      const side = v > 0 ? h.positive : h.negative;
      const k = exactIndex(Math.abs(v), schema);
      side.set(k, (side.get(k) ?? 0) + 1);
    }
  }
  return h;
}

const sorted = (b: Buckets) => [...b].sort((x, y) => x[0] - y[0]);
const plain = (h: NativeState) => ({ schema: h.schema, zeroThreshold: h.zeroThreshold, zeroCount: h.zeroCount, positive: sorted(h.positive), negative: sorted(h.negative) });

const THRESHOLDS = [0, 2 ** -128, 1e-9, 0.001, 0.3, 1, 2.5];

describe('native histogram', () => {
  it('observe: positive, negative and zero buckets', () => {
    const h = emptyNative(3, 0.001);
    for (const v of [1, 1.05, 1.1, -1, -0.0005, 0, 0.001, 0.0011, 2]) observeNative(h, v);
    assert.deepEqual(plain(h), {
      schema: 3, zeroThreshold: 0.001, zeroCount: 3,
      // 1 is the bound of bucket 0; 1.05 and 1.1 lie in (1, 2^(1/8) = 1.0905] and (1.0905, 1.1892]; 0.0011 in (2^(-79/8), 2^(-78/8)].
      positive: [[-78, 1], [0, 1], [1, 1], [2, 1], [8, 1]],
      negative: [[0, 1]],
    });
    assert.equal(totalCount(h), 9);
  });

  it('reduceTo equals observing at the coarser schema, every schema pair', () => {
    const values = randomValues(rng(3), 1000);
    const direct = new Map<number, ReturnType<typeof plain>>();
    for (let s = MAX_SCHEMA; s >= MIN_SCHEMA; s--) direct.set(s, plain(bruteForce(values, s, 0)));
    for (let from = MAX_SCHEMA; from >= MIN_SCHEMA; from--) {
      for (let to = from; to >= MIN_SCHEMA; to--) {
        const fine = direct.get(from)!;
        const h: NativeState = { ...fine, positive: new Map(fine.positive), negative: new Map(fine.negative) };
        reduceTo(h, to);
        assert.deepEqual(plain(h), direct.get(to), `${from} -> ${to}`);
        assert.equal(totalCount(h), 1000);
      }
    }
  });

  it('widenZero moves the buckets below the threshold, and a straddling bucket raises it to its upper bound', () => {
    const h = emptyNative(0, 0);
    for (const v of [0.3, 0.6, 0.9, 1.5, -0.7, -3]) observeNative(h, v);
    // Buckets at schema 0: (0.25,0.5] (0.5,1] (1,2]; 0.75 falls inside (0.5,1], so the threshold becomes 1.
    assert.equal(widenZero(h, 0.75), 1);
    assert.deepEqual(plain(h), { schema: 0, zeroThreshold: 1, zeroCount: 4, positive: [[1, 1]], negative: [[2, 1]] });
    assert.equal(widenZero(h, 0.5), 1, 'never narrows');
  });

  it('limitBuckets halves the resolution until the budget holds; counts stay exact', () => {
    const values = randomValues(rng(5), 2000).filter((v) => v !== 0);
    const h = bruteForce(values, 8, 0);
    const before = bucketCount(h);
    const steps = limitBuckets(h, 160);
    assert.ok(before > 160 && bucketCount(h) <= 160, `${before} -> ${bucketCount(h)}`);
    assert.deepEqual(plain(h), plain(bruteForce(values, 8 - steps, 0)));
    assert.equal(totalCount(h), values.length);
    // At -4 it stops, over budget or not.
    const tight = bruteForce(values, 2, 0);
    limitBuckets(tight, 1);
    assert.equal(tight.schema, MIN_SCHEMA);
  });

  it('merge of processes with random schemas, zero thresholds and budgets equals brute force (200 rounds)', () => {
    const random = rng(42);
    for (let round = 0; round < 200; round++) {
      const processes = 1 + Math.floor(random() * 5);
      const all: number[] = [];
      const parts: NativeState[] = [];
      for (let p = 0; p < processes; p++) {
        const schema = MIN_SCHEMA + Math.floor(random() * (MAX_SCHEMA - MIN_SCHEMA + 1));
        const h = emptyNative(schema, THRESHOLDS[Math.floor(random() * THRESHOLDS.length)]!);
        const budget = [0, 4, 20, 160][Math.floor(random() * 4)]!;
        for (const v of randomValues(random, Math.floor(random() * 400))) {
          observeNative(h, v);
          // As the hot path does: the budget is applied as buckets are made.
          limitBuckets(h, budget);
          all.push(v);
        }
        parts.push(h);
      }
      const budget = random() < 0.5 ? 0 : 30;
      const merged = mergeNative(parts, budget)!;
      assert.equal(totalCount(merged), all.length, `round ${round}: no count lost`);
      assert.deepEqual(plain(merged), plain(bruteForce(all, merged.schema, merged.zeroThreshold)), `round ${round}`);
      const coarsest = Math.min(...parts.map((p) => p.schema));
      if (budget === 0) assert.equal(merged.schema, coarsest);
      else assert.ok(merged.schema <= coarsest);
      assert.ok(merged.zeroThreshold >= Math.max(...parts.map((p) => p.zeroThreshold)));
      if (budget > 0 && merged.schema > MIN_SCHEMA) assert.ok(bucketCount(merged) <= budget);
    }
  });

  it('merge never changes its inputs', () => {
    const a = emptyNative(3, 0);
    const b = emptyNative(1, 0.6);
    for (const v of [0.2, 0.7, 1.3, 9]) {
      observeNative(a, v);
      observeNative(b, v);
    }
    const before = [plain(a), plain(b)];
    const merged = mergeNative([a, b])!;
    assert.deepEqual([plain(a), plain(b)], before);
    // The bucket of 0.7 at schema 1, (2^-1, 2^-0.5], straddles b's threshold 0.6: the zero bucket widens to 2^-0.5.
    assert.deepEqual(plain(merged), { schema: 1, zeroThreshold: upperBound(-1, 1), zeroCount: 4, positive: [[1, 2], [7, 2]], negative: [] });
  });

  it('spans: runs with gaps of up to two buckets filled, deltas to the previous bucket', () => {
    const b: Buckets = new Map([[-3, 2], [-2, 5], [0, 1], [4, 4], [5, 4], [20, 1]]);
    assert.deepEqual(spansOf(b), {
      spans: [{ offset: -3, length: 4 }, { offset: 3, length: 2 }, { offset: 14, length: 1 }],
      deltas: [2, 3, -5, 1, 3, 0, -3],
    });
    assert.deepEqual(spansOf(new Map()), { spans: [], deltas: [] });
    // Decoding the spans gives the buckets back (zero-count buckets dropped), for random sets.
    const random = rng(9);
    for (let round = 0; round < 100; round++) {
      const m: Buckets = new Map();
      for (let i = 0; i < 30; i++) m.set(Math.floor((random() - 0.5) * 80), Math.floor(random() * 5));
      const { spans, deltas } = spansOf(m);
      const back: Buckets = new Map();
      let index = 0;
      let at = 0;
      let count = 0;
      spans.forEach((s, i) => {
        index = i === 0 ? s.offset : index + s.offset;
        for (let j = 0; j < s.length; j++, index++) {
          count += deltas[at++]!;
          if (count !== 0) back.set(index, count);
        }
      });
      assert.equal(at, deltas.length);
      assert.deepEqual(sorted(back), sorted(new Map([...m].filter(([, c]) => c !== 0))));
    }
  });
});
