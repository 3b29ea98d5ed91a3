import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sparseEntries, sparseForEach, sparseIncrement, sparseMaxKey, sparseSize, sparseWith } from '../../src/store/sparse-counts.js';

// The sparse table of a summary slot: counts by key, checked against a Map fed the same keys.
describe('sparse counts: an open-addressing table in one array', () => {
  it('starts at its exact size holding its first key at count 0', () => {
    const t = sparseWith(6370);
    assert.deepEqual(t, [1, 6371, 0]);
    assert.deepEqual(sparseEntries(t), []);
    assert.equal(sparseMaxKey(t), -1);
    assert.equal(sparseIncrement(t, 6370, 10), true);
    assert.deepEqual(t, [1, 6371, 1]);
    assert.deepEqual(sparseEntries(t), [[6370, 1]]);
  });

  it('counts as a Map does through every growth, with colliding and near-consecutive keys', () => {
    let seed = 9;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const t = sparseWith(0);
    const expected = new Map<number, number>();
    // Keys 0..299 in a random order, each several times, and a few far apart (up to the largest HDR index).
    const keys: number[] = [0];
    for (let i = 0; i < 3_000; i++) keys.push(Math.floor(random() * 300));
    keys.push(45_055, 1_024, 45_055);
    for (const key of keys) {
      assert.equal(sparseIncrement(t, key, 1_000), true);
      expected.set(key, (expected.get(key) ?? 0) + 1);
    }
    assert.equal(sparseSize(t), expected.size);
    assert.deepEqual(sparseEntries(t), [...expected].sort((a, b) => a[0] - b[0]));
    assert.equal(sparseMaxKey(t), 45_055);
    // Capacity: a power of two, at most 3/4 full.
    const cap = (t.length - 1) / 2;
    assert.equal(cap & (cap - 1), 0);
    assert.ok(expected.size <= cap * 0.75, `${expected.size} keys in ${cap}`);
    let total = 0;
    sparseForEach(t, (_, count) => (total += count));
    assert.equal(total, keys.length);
  });

  it('refuses a new key past the limit and changes nothing; a known key still counts', () => {
    const t = sparseWith(1);
    for (const key of [1, 2, 3]) assert.equal(sparseIncrement(t, key, 3), true);
    const before = [...t];
    assert.equal(sparseIncrement(t, 4, 3), false);
    assert.deepEqual(t, before);
    assert.equal(sparseIncrement(t, 2, 3), true);
    assert.deepEqual(sparseEntries(t), [[1, 1], [2, 2], [3, 1]]);
  });
});
