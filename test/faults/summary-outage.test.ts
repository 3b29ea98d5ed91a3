// Issue 11: a summary's memory is bounded by series × age buckets at all times, Redis up or down.
// Each series holds one HDR histogram per age slot it observed in, within its window; a slot that
// ages out while Redis is down is dropped (its observations are already in the sum and count,
// which still reach Redis exactly), and only slots a flush has sent leave a deletion to send.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { RedisStorageManager, Summary } from '../../src/index.js';
import { KeyBuilder } from '../../src/redis/keys.js';
import { newPrefix } from '../helpers/redis-server.js';
import { redisSuite } from '../helpers/redis-suite.js';
import { startScraper } from '../helpers/scraper.js';
import { samples } from './support.js';

const SERIES = 100;
const AGE_BUCKETS = 5;

describe('summary age slots during a Redis outage', () => {
  const redis = redisSuite();

  it('holds at most ageBuckets histograms per series however long Redis is frozen, and flushes exact counts and sums after', async () => {
    const prefix = newPrefix('summary-outage');
    const writer = redis.track(new RedisStorageManager({
      enabled: true, url: redis.server.url, keyPrefix: prefix, flushIntervalMs: 100, flushTimeoutMs: 300, exitHooks: false,
      identity: { host: 'w', pid: 1, nonce: 'n' },
    }));
    // maxAgeSeconds 1 over 5 buckets: a new age slot every 200 ms.
    const summary = new Summary({ name: 'latency_seconds', help: 'Latency.', labelNames: ['s'], percentiles: [0.5], maxAgeSeconds: 1, ageBuckets: AGE_BUCKETS, storage: writer, registers: [] });
    await writer.waitUntilConnected(5000);

    const count = new Array<number>(SERIES).fill(0);
    const sum = new Array<number>(SERIES).fill(0);
    /** The age slots each series observed in, as its value reports right after the observation. */
    const observedSlots = Array.from({ length: SERIES }, () => new Set<number>());
    let round = 0;
    const observeAll = (): void => {
      round++;
      for (let s = 0; s < SERIES; s++) {
        // Multiples of 1/64: every sum is exact in binary.
        const x = ((round + s) % 64) / 64;
        summary.observe({ s: `s${s}` }, x);
        count[s]!++;
        sum[s]! += x;
        observedSlots[s]!.add(summary.series.values.get(`s${s}`)!.currentSlot);
      }
    };
    /** Checks every series' held state against what it observed; returns the histograms held in all. */
    const checkHeld = (): number => {
      let held = 0;
      for (let s = 0; s < SERIES; s++) {
        const v = summary.series.values.get(`s${s}`)!;
        const window = [...observedSlots[s]!].filter((slot) => slot > v.currentSlot - AGE_BUCKETS).sort();
        assert.deepEqual([...v.slots.keys()].sort(), window, `series s${s}`);
        assert.ok((v.sentSlots?.length ?? 0) + (v.prunedSlots?.length ?? 0) <= AGE_BUCKETS, `series s${s}: ${v.sentSlots?.length} sent, ${v.prunedSlots?.length} pruned`);
        held += v.slots.size;
      }
      return held;
    };

    // Redis up: half a second of observations, flushed.
    for (let i = 0; i < 20; i++) {
      observeAll();
      await sleep(25);
    }
    await writer.flush();
    // (The flush's drain dropped the slots older than its own window, which may have moved on since
    // the last observation: an observation re-anchors the window the check computes.)
    observeAll();
    const heldBefore = checkHeld();

    // Redis frozen for 4 s (20 slot lengths): the flush timer keeps failing meanwhile.
    const failuresBefore = writer.stats.flushFailures;
    redis.server.freeze();
    let heldMax = 0;
    try {
      const until = Date.now() + 4000;
      while (Date.now() < until) {
        observeAll();
        heldMax = Math.max(heldMax, checkHeld());
        await sleep(25);
      }
      assert.ok(writer.stats.flushFailures > failuresBefore, 'flushes failed during the outage');
      // One batch waits for Redis; the deltas since stay in the store.
      assert.ok(summary.family!.pending.length <= 1, `${summary.family!.pending.length} batches pending`);
    } finally {
      redis.server.thaw();
    }
    console.log(`held HDR histograms: ${heldBefore} before the outage, at most ${heldMax} during 4 s of it (${SERIES} series × ${AGE_BUCKETS} age buckets = ${SERIES * AGE_BUCKETS})`);
    assert.ok(heldMax <= SERIES * AGE_BUCKETS);

    // Redis back: the sums and counts of every observation arrive exactly, and this process's hash
    // holds exactly the slots the series hold (aged-out ones deleted, unsent ones never written).
    await writer.flush().catch(() => {}); // the batch sent while frozen may still time out
    await writer.flush();
    const scraper = redis.track(await startScraper(redis.server, prefix, { exitHooks: false }));
    const text = await scraper.getCollector().metrics();
    const expected: string[] = [];
    for (let s = 0; s < SERIES; s++) expected.push(`latency_seconds_count{s="s${s}"} ${count[s]}`, `latency_seconds_sum{s="s${s}"} ${sum[s]}`);
    const got = samples(text, 'latency_seconds').split('\n').filter((line) => !line.includes('quantile=')).sort();
    assert.deepEqual(got, expected.sort());
    const family = summary.family!;
    const fields = (await redis.server.cli('HKEYS', new KeyBuilder(prefix).process(family.typeMode, writer.identity.id, family.hash))).split('\n').filter(Boolean);
    const inRedis = fields.sort();
    const held: string[] = [];
    for (let s = 0; s < SERIES; s++) for (const slot of summary.series.values.get(`s${s}`)!.slots.keys()) held.push(`["s${s}"]#${slot}`);
    assert.deepEqual(inRedis, held.sort());
  });
});
