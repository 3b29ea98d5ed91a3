// The keys each kind of flush batch names (flush-family.lua's roles). In Redis Cluster, a script
// naming a key that is missing from a slot being migrated gets TRYAGAIN: a batch must name the keys
// it writes and the two that tell a loss (the cluster hash of summed types, the meta hash), which
// always exist once the family was flushed, and nothing else (issue 10: counter and histogram
// batches named the per-process hash, which never exists for them, and stalled during migrations).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { flushKeys } from '../../src/flush/batch.js';
import { KeyBuilder } from '../../src/redis/keys.js';
import { PackedList } from '../../src/redis/packed-list.js';
import { FLAG_EXPECT_PROCESS, FLAG_META, FLAG_RESET, type FamilyBatch, type MetricFamily } from '../../src/store/family.js';

const keys = new KeyBuilder('p');

type Lists = 'sums' | 'sets' | 'dels' | 'exemplars' | 'created';

function batch(type: 'counter' | 'histogram' | 'gauge' | 'summary', parts: { flags?: number } & Partial<Record<Lists, string[]>>): FamilyBatch {
  const typeMode = type === 'gauge' ? 'gauge_sum' : type;
  const family = { def: { type }, typeMode, hash: 'h' } as unknown as MetricFamily;
  const list = (name: Lists) => PackedList.of(parts[name] ?? []);
  return { family, seq: 1, flags: parts.flags ?? 0, clientNowMs: 0, sums: list('sums'), sets: list('sets'), dels: list('dels'), exemplars: list('exemplars'), created: list('created') };
}

/** The roles, and the keys by their kind (what follows `p:<typeMode>:`). */
function named(b: FamilyBatch): string {
  const { keys: list, roles } = flushKeys(b, keys, 'w:1:n');
  return `${roles} ${list.map((k) => k.replace(/^p:[a-z_]+:/, '')).join(' ')}`;
}

describe('flushKeys: only the keys a batch needs', () => {
  it('counters and histograms: seq, cluster and meta hash; exemplars and creation times when sent; never a process hash', () => {
    for (const type of ['counter', 'histogram'] as const) {
      assert.equal(named(batch(type, { flags: FLAG_META, sums: ['[]', '1'], created: ['[]', '5'] })), 'cmr cluster:seq:{h} cluster:metric:{h} cluster:meta:{h} cluster:created:{h}', type);
      assert.equal(named(batch(type, { sums: ['[]', '1'] })), 'cm cluster:seq:{h} cluster:metric:{h} cluster:meta:{h}', type);
      assert.equal(named(batch(type, { sums: ['[]', '1'], exemplars: ['[]', '1|[{},1]'] })), 'cme cluster:seq:{h} cluster:metric:{h} cluster:meta:{h} cluster:exemplar:{h}', type);
      // The epoch check (an empty batch) and a re-send after a loss.
      assert.equal(named(batch(type, {})), 'cm cluster:seq:{h} cluster:metric:{h} cluster:meta:{h}', type);
      assert.equal(named(batch(type, { flags: FLAG_RESET | FLAG_META, sums: ['[]', '9'], created: ['[]', '5'] })), 'cmr cluster:seq:{h} cluster:metric:{h} cluster:meta:{h} cluster:created:{h}', type);
    }
  });

  it('gauges: seq and meta hash, the process hash when they set or delete values or expect it; never the cluster hash', () => {
    // First flush: the process hash is created, not expected.
    assert.equal(named(batch('gauge', { flags: FLAG_META, sets: ['[]', '3'] })), 'mp cluster:seq:{h} cluster:meta:{h} w:1:n:metric:{h}');
    assert.equal(named(batch('gauge', { flags: FLAG_EXPECT_PROCESS, sets: ['[]', '3'] })), 'mp cluster:seq:{h} cluster:meta:{h} w:1:n:metric:{h}');
    assert.equal(named(batch('gauge', { flags: FLAG_EXPECT_PROCESS, dels: ['["x"]'] })), 'mp cluster:seq:{h} cluster:meta:{h} w:1:n:metric:{h}');
    // The epoch check expects nothing of the process hash.
    assert.equal(named(batch('gauge', {})), 'm cluster:seq:{h} cluster:meta:{h}');
  });

  it('summaries: sums in the cluster hash, quantile data in the process hash', () => {
    assert.equal(named(batch('summary', { flags: FLAG_EXPECT_PROCESS, sums: ['[]#sum', '1', '[]#count', '1'], sets: ['[]#0', 'HDR'] })), 'cmp cluster:seq:{h} cluster:metric:{h} cluster:meta:{h} w:1:n:metric:{h}');
    assert.equal(named(batch('summary', {})), 'cm cluster:seq:{h} cluster:metric:{h} cluster:meta:{h}');
  });
});
