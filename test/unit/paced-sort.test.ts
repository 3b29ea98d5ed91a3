import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Pacer } from '../../src/pacer.js';
import { byCodeUnits, sortPaced } from '../../src/collect/paced-sort.js';

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
