// A summary slot's three forms (src/store/hdr-slot.ts) seen through Redis: a slot with few values
// stays sparse, one with many turns dense, and a dense slot the clock has left is kept as the blob
// its flush sent. Whatever the form, the collector's quantiles, from Redis or from this process's
// own state, are those of one HDR histogram of every observation in the window.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { RedisStorageManager, Summary } from '../../src/index.js';
import { KeyBuilder } from '../../src/redis/keys.js';
import { newHdr } from '../../src/store/hdr-slot.js';
import { summarySlot } from '../../src/store/values.js';
import { quantileOf } from '../../src/collect/quantile.js';
import { newPrefix } from '../helpers/redis-server.js';
import { redisSuite } from '../helpers/redis-suite.js';
import { startScraper } from '../helpers/scraper.js';
import { samples } from '../faults/support.js';

const MAX_AGE_SECONDS = 10;
const AGE_BUCKETS = 5;
const SLOT_MS = (MAX_AGE_SECONDS * 1000) / AGE_BUCKETS;
const PERCENTILES = [0.01, 0.5, 0.9, 0.99];

/** Waits for the clock to enter the next age slot, and returns it. */
async function nextSlot(): Promise<number> {
  const now = Date.now();
  await sleep(SLOT_MS - (now % SLOT_MS) + 1);
  return summarySlot(MAX_AGE_SECONDS, AGE_BUCKETS, Date.now());
}

describe('summary slots: sparse, dense, kept as a blob once the clock leaves them', () => {
  const redis = redisSuite();

  it('quantiles through Redis and from local state are those of one histogram of the window', async () => {
    const prefix = newPrefix('summary-slots');
    const writer = redis.track(new RedisStorageManager({
      enabled: true, url: redis.server.url, keyPrefix: prefix, flushIntervalMs: 3_600_000, exitHooks: false,
      identity: { host: 'w', pid: 1, nonce: 'n' },
    }));
    const summary = new Summary({ name: 'slot_seconds', help: 'S.', labelNames: ['s'], percentiles: PERCENTILES, maxAgeSeconds: MAX_AGE_SECONDS, ageBuckets: AGE_BUCKETS, storage: writer, registers: [] });
    await writer.waitUntilConnected(5000);
    const plain = { few: newHdr(), many: newHdr() };
    const observe = (s: 'few' | 'many', x: number): void => {
      summary.observe({ s }, x);
      plain[s].recordValue(Math.round(x * 1e6));
    };

    // A whole slot ahead (2 s) for the first round of observations and its flush.
    const first = await nextSlot();
    for (const x of [0.04, 0.04, 0.25]) observe('few', x);
    for (let i = 1; i <= 1000; i++) observe('many', i / 997);
    const few = summary.series.values.get('few')!;
    const many = summary.series.values.get('many')!;
    assert.ok(Array.isArray(few.slots.get(first)), 'few: sparse');
    assert.ok(typeof many.slots.get(first) === 'object' && !Array.isArray(many.slots.get(first)), 'many: dense');
    await writer.flush();

    // The next slot: one more observation each, then a flush, which keeps the left dense slot as its blob.
    const second = await nextSlot();
    assert.equal(second, first + 1);
    observe('few', 3);
    observe('many', 3);
    await writer.flush();
    const family = summary.family!;
    const processKey = new KeyBuilder(prefix).process(family.typeMode, writer.identity.id, family.hash);
    const blob = many.slots.get(first);
    assert.equal(typeof blob, 'string');
    assert.equal(blob, await redis.server.cli('HGET', processKey, `["many"]#${first}`));
    assert.ok(Array.isArray(few.slots.get(first)), 'few: still sparse');
    assert.deepEqual([...many.slots.keys()], [first, second]);

    const expected: string[] = [];
    for (const s of ['few', 'many'] as const) {
      for (const q of PERCENTILES) expected.push(`slot_seconds{quantile="${q}",s="${s}"} ${quantileOf(plain[s], q)}`);
    }
    const quantiles = (text: string) => samples(text, 'slot_seconds').split('\n').filter((line) => line.includes('quantile='));
    // From Redis alone (another process), and from the writer (its own slots, in every form, merged in).
    const scraper = redis.track(await startScraper(redis.server, prefix, { exitHooks: false }));
    assert.deepEqual(quantiles(await scraper.getCollector().metrics()), expected);
    assert.deepEqual(quantiles(await writer.getCollector().metrics()), expected);
    assert.deepEqual(expected.slice(0, 4), ['slot_seconds{quantile="0.01",s="few"} 0.04', 'slot_seconds{quantile="0.5",s="few"} 0.04', 'slot_seconds{quantile="0.9",s="few"} 3', 'slot_seconds{quantile="0.99",s="few"} 3']);
  });
});
