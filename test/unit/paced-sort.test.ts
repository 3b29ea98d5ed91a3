import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Pacer } from '../../src/pacer.js';
import { byCodeUnits, smallestPaced, sortPaced } from '../../src/collect/paced-sort.js';

describe('sortPaced', () => {
  it('sorts like Array#sort, stably, across several runs and turns of the event loop', async () => {
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const keys = Array.from({ length: 10_001 }, () => JSON.stringify([String(Math.floor(random() * 5000)), 'é\u0001']));
    assert.deepEqual(await sortPaced(keys, byCodeUnits, new Pacer(0, 1)), keys.slice().sort());
    const rows = keys.map((k, i) => [k, i] as const);
    const sorted = await sortPaced(rows, (a, b) => byCodeUnits(a[0], b[0]), new Pacer(0, 1));
    assert.deepEqual(sorted, rows.slice().sort((a, b) => byCodeUnits(a[0], b[0])));
    assert.deepEqual(await sortPaced([], byCodeUnits, new Pacer()), []);
  });
});

describe('smallestPaced', () => {
  let seed = 11;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const hex = () => Array.from({ length: 16 }, () => '0123456789abcdef'[Math.floor(random() * 16)]).join('');
  const expected = (items: string[], k: number) => items.slice().sort().slice(0, k);

  it('gives the k smallest in code-unit order, as a sort of them all would', async () => {
    const ids = Array.from({ length: 50_000 }, () => `${hex()}|counter`);
    for (const k of [0, 1, 2000, 49_999, 50_000, 60_000]) assert.deepEqual(await smallestPaced(ids, k, new Pacer(0, 64)), expected(ids, k), `k = ${k}`);
  });

  it('holds with items that share long prefixes, repeat, or are prefixes of one another', async () => {
    // A hostile index: every hash alike but for the last characters, and duplicates.
    const alike = Array.from({ length: 5000 }, (_, i) => `000000000000${String(i % 3000).padStart(4, '0')}`);
    assert.deepEqual(await smallestPaced(alike, 2500, new Pacer(0, 64)), expected(alike, 2500));
    const same = Array.from({ length: 3000 }, () => 'aaaa');
    assert.deepEqual(await smallestPaced(same, 2100, new Pacer()), expected(same, 2100));
    const nested = Array.from({ length: 4000 }, (_, i) => 'b'.repeat(i % 50) + (i % 7 === 0 ? 'é' : ''));
    assert.deepEqual(await smallestPaced(nested, 2049, new Pacer()), expected(nested, 2049));
  });
});
