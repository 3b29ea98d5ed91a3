// Issue 3, items 3 and 11 together, against a real Redis: a flush of a large family drains it over
// several ticks and sends it as several pipelines. Updates made while it runs are neither lost nor
// counted twice, and a collect of the writing process started meanwhile counts every series once.
// (The invariants at each single turn of the drain are checked in test/unit/drain.test.ts.)
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { Counter, Histogram, RedisStorageManager } from '../../src/index.js';
import { newPrefix } from '../helpers/redis-server.js';
import { redisSuite } from '../helpers/redis-suite.js';
import { startScraper } from '../helpers/scraper.js';

const SERIES = 60_000;

describe('updates and collects during a sliced drain', () => {
  const redis = redisSuite();

  it('nothing lost, nothing twice', async () => {
    const prefix = newPrefix('concurrency');
    const writer = new RedisStorageManager({
      enabled: true, url: redis.server.url, keyPrefix: prefix, flushIntervalMs: 3_600_000, exitHooks: false, maxSeriesPerMetric: SERIES,
      collectTimeoutMs: 30_000, flushTimeoutMs: 30_000, sliceMs: 1, identity: { host: 'w', pid: 1, nonce: 'n' },
    });
    redis.track(writer);
    const counter = new Counter({ name: 'c_total', help: 'C.', labelNames: ['id'], storage: writer, registers: [] });
    const histogram = new Histogram({ name: 'h', help: 'H.', labelNames: ['id'], buckets: [1], storage: writer, registers: [] });
    await writer.waitUntilConnected(5000);
    for (let i = 0; i < SERIES; i++) counter.inc({ id: String(i) });
    await writer.flush();
    for (let i = 0; i < SERIES; i++) counter.inc({ id: String(i) });
    for (let i = 0; i < 1000; i++) histogram.observe({ id: String(i) }, 0.5);

    const flushing = writer.flush();
    // (Slices of 1 ms: warm, the drain of 60,000 series takes 2-3 ms, so it spans several turns.)
    // Wait until the drain is under way: the batch exists, not all series are in it yet.
    let turns = 0;
    while (counter.family!.draining === undefined && turns++ < 1000) await nextTurn();
    assert.ok(counter.family!.draining, 'the drain spans several turns of the event loop');
    const drainedSoFar = counter.family!.draining.sums.count / 2;
    assert.ok(drainedSoFar > 0 && drainedSoFar < SERIES, `drained ${drainedSoFar} of ${SERIES} at the first turn`);

    // Updates now: to series already drained (they go to the next batch) and to ones not yet drained
    // (they land in this batch). Each series gets +1, then +2 for the first thousand.
    const collecting = writer.getCollector().collect();
    for (let i = 0; i < SERIES; i++) counter.inc({ id: String(i) });
    for (let i = 0; i < 1000; i++) counter.inc({ id: String(i) }, 2);
    histogram.observe({ id: '0' }, 2);
    const midway = await collecting;
    await flushing;
    await writer.flush();

    const total = (family: { values: Array<{ value: number; metricName?: string }> } | undefined, metricName?: string) =>
      (family?.values ?? []).filter((v) => v.metricName === metricName).reduce((a, v) => a + v.value, 0);
    const byName = new Map(midway.map((f) => [f.name, f]));
    // The collect read the shadow store in one tick after the updates above (it awaited Redis
    // first), while the drain went on or after it ended: every series once, updates included.
    assert.equal(total(byName.get('c_total')), 3 * SERIES + 2000);
    assert.equal(total(byName.get('h'), 'h_count'), 1001);

    const scraper = await startScraper(redis.server, prefix, { exitHooks: false, collectTimeoutMs: 30_000 });
    redis.track(scraper);
    const families = new Map((await scraper.getCollector().collect()).map((f) => [f.name, f]));
    const values = families.get('c_total')!.values;
    assert.equal(values.length, SERIES);
    assert.equal(total(families.get('c_total')), 3 * SERIES + 2000);
    assert.equal(values.find((v) => v.labels.id === '0')!.value, 5);
    assert.equal(values.find((v) => v.labels.id === '59999')!.value, 3);
    assert.equal(total(families.get('h'), 'h_count'), 1001);
    assert.equal(total(families.get('h'), 'h_sum'), 502);
    // And the writer's own view agrees now that everything is acknowledged.
    const own = new Map((await writer.getCollector().collect()).map((f) => [f.name, f]));
    assert.equal(total(own.get('c_total')), 3 * SERIES + 2000);
  });
});
