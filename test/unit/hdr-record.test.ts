import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import hdr from 'hdr-histogram-js';
import { newHdr, recordHdr } from '../../src/store/hdr-slot.js';

// recordHdr computes hdr-histogram-js's counts index itself; the histogram it leaves must be the
// one recordValue would have left, bit for bit, for any value (including resizes and 2^32 and up).
describe('recordHdr: recordValue with a cheaper counts index', () => {
  it('leaves the same histogram as recordValue', () => {
    const fast = newHdr();
    const slow = newHdr();
    let seed = 42;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const values = [0, 1, 1023, 1024, 2047, 2048, 2049, 4095, 4096, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 3];
    for (let i = 0; i < 20_000; i++) values.push(Math.floor(random() ** 4 * 2 ** (random() * 36)));
    for (const v of values) {
      recordHdr(fast, v);
      slow.recordValue(v);
    }
    assert.equal(fast.totalCount, values.length);
    assert.equal(fast.maxValue, slow.maxValue);
    assert.equal(fast.minNonZeroValue, slow.minNonZeroValue);
    assert.equal(hdr.encodeIntoCompressedBase64(fast), hdr.encodeIntoCompressedBase64(slow));
    for (const q of [1, 50, 90, 99, 99.9, 100]) assert.equal(fast.getValueAtPercentile(q), slow.getValueAtPercentile(q));
  });
});
