// The collector's reading of native bucket fields from Redis: what another process wrote is input,
// so every field that is not one we write is skipped and counted, and the rest is served.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SelfStats } from '../../src/stats.js';
import { mergeNativeFields } from '../../src/collect/native-merge.js';

describe('native fields from Redis', () => {
  it('merges schemas and zero buckets; skips and counts garbage', () => {
    const stats = new SelfStats();
    const fields = new Map<string, number>([
      ['sum', 10], ['count', 7], ['+Inf', 7],
      ['n+3:0', 1], ['n+3:1', 2], ['n+1:1', 1], ['n-3:8', 1], ['nz:0.001', 1], ['nz:0.5', 1],
      // Garbage: schema out of range, not an integer, index too large, no index, negative count, bad threshold, unknown side.
      ['n+9:1', 5], ['n+2.5:1', 5], ['n+3:99999999', 5], ['n+3:', 5], ['n+3:2', -1], ['nz:x', 5], ['nz:', 5], ['n*3:1', 5],
    ]);
    const merged = mergeNativeFields({ schema: 3, zeroThreshold: 0.001, maxBuckets: 160 }, fields, stats);
    // Schema 1 (the coarsest); buckets 3:0 -> 1:0, 3:1 -> 1:1, 1:1; zero threshold 0.5 (no bucket straddles it:
    // bucket 1:0 is (2^-0.5, 1], lower bound 0.707 >= 0.5).
    assert.deepEqual(
      { schema: merged.schema, zeroThreshold: merged.zeroThreshold, zeroCount: merged.zeroCount, positive: [...merged.positive].sort((a, b) => a[0] - b[0]), negative: [...merged.negative] },
      { schema: 1, zeroThreshold: 0.5, zeroCount: 2, positive: [[0, 1], [1, 3]], negative: [[2, 1]] },
    );
    assert.equal(stats.badData.get('native'), 8);
  });

  it('a series without native fields shows as an empty native histogram of the family', () => {
    const merged = mergeNativeFields({ schema: 3, zeroThreshold: 0.001, maxBuckets: 160 }, new Map([['sum', 0], ['count', 0]]), new SelfStats());
    assert.deepEqual({ ...merged, positive: merged.positive.size, negative: merged.negative.size }, { schema: 3, zeroThreshold: 0.001, zeroCount: 0, positive: 0, negative: 0 });
  });
});
