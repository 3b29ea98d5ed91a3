// Issue 3, item 7: bounded memory under a cardinality explosion. Past maxSeriesPerMetric, new label
// sets are dropped (never flushed) and counted in SelfStats.droppedSeries, with one warning per
// process; the series kept are exact and nothing crashes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Gauge, Histogram, RedisStorageManager, Summary, selfMetricsFor } from '../../src/index.js';
import { newPrefix } from '../helpers/redis-server.js';
import { redisSuite } from '../helpers/redis-suite.js';
import { startScraper } from '../helpers/scraper.js';
import { samples } from './support.js';

describe('cardinality limit', () => {
  const redis = redisSuite();

  it('drops label sets past the limit, counts every refused update, warns once, flushes the rest exactly', async () => {
    const prefix = newPrefix('cardinality');
    const writer = new RedisStorageManager({
      enabled: true, url: redis.server.url, keyPrefix: prefix, flushIntervalMs: 3_600_000, exitHooks: false, maxSeriesPerMetric: 3,
      identity: { host: 'w', pid: 1, nonce: 'n' },
    });
    redis.track(writer);
    const storage = { storage: writer, registers: [] };
    const counter = new Counter({ name: 'req_total', help: 'Requests.', labelNames: ['user'], ...storage });
    const gauge = new Gauge({ name: 'sessions', help: 'Sessions.', labelNames: ['user'], multiprocessMode: 'sum', ...storage });

    const warnings: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
      if (String(chunk).includes('maxSeriesPerMetric')) warnings.push(String(chunk));
      return write(chunk, ...rest);
    }) as typeof process.stderr.write;
    try {
      for (let u = 0; u < 1000; u++) counter.inc({ user: `u${u}` }, 2); // 3 kept, 997 refused
      counter.inc({ user: 'u5' }); // a refused label set again: refused again
      counter.inc({ user: 'u1' }); // a kept one: counted
      for (let u = 0; u < 10; u++) gauge.set({ user: `u${u}` }, u); // 3 kept, 7 refused
    } finally {
      process.stderr.write = write;
    }
    assert.equal(writer.stats.droppedSeries, 997 + 1 + 7);
    assert.equal(writer.dict.droppedSeries, writer.stats.droppedSeries);
    assert.equal(counter.series.droppedSeries, 998);
    assert.equal(counter.series.values.size, 3);
    assert.equal(gauge.series.values.size, 3);
    assert.equal(warnings.length, 1, warnings.join(''));
    assert.match(warnings[0]!, /metric `req_total` reached maxSeriesPerMetric \(3\)/);

    await writer.waitUntilConnected(5000);
    await writer.flush();
    const scraper = await startScraper(redis.server, prefix, { exitHooks: false });
    redis.track(scraper);
    const text = await scraper.getCollector().metrics();
    assert.equal(samples(text, 'req_total', 'sessions'), ['req_total{user="u0"} 2', 'req_total{user="u1"} 3', 'req_total{user="u2"} 2', 'sessions{user="u0"} 0', 'sessions{user="u1"} 1', 'sessions{user="u2"} 2'].join('\n'));
    // Nothing of the dropped label sets reached Redis (__epoch: the epoch of the sums, see design.md).
    const fields = await redis.server.cli('HKEYS', `${prefix}:counter:cluster:metric:{${counter.family!.hash}}`);
    assert.deepEqual(fields.split('\n').sort(), ['["u0"]', '["u1"]', '["u2"]', '__epoch']);
    // The self-monitoring counter carries the same number.
    selfMetricsFor(writer, { sampleRedisUsage: false }).refresh();
    const self = await writer.getCollector().getFamily('prom_client_redis_series_dropped_total');
    assert.deepEqual(self.values.map((v) => v.value), [1005]);
  });

  it('families past maxFamilies work in memory, are never flushed, counted and warned about once by name', async () => {
    const prefix = newPrefix('family-limit');
    const writer = redis.track(new RedisStorageManager({
      enabled: true, url: redis.server.url, keyPrefix: prefix, flushIntervalMs: 3_600_000, exitHooks: false, maxFamilies: 3,
      identity: { host: 'w', pid: 1, nonce: 'n' },
    }));
    const storage = { storage: writer, registers: [] };
    const warnings: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
      if (String(chunk).includes('maxFamilies')) warnings.push(String(chunk));
      return write(chunk, ...rest);
    }) as typeof process.stderr.write;
    const counters: Counter[] = [];
    let gauge: Gauge;
    let summary: Summary;
    try {
      for (let i = 0; i < 3; i++) counters.push(new Counter({ name: `kept_${i}_total`, help: 'Kept.', labelNames: ['k'], ...storage }));
      gauge = new Gauge({ name: 'over_gauge', help: 'Over.', multiprocessMode: 'sum', ...storage });
      summary = new Summary({ name: 'over_summary', help: 'Over.', percentiles: [0.5], maxAgeSeconds: 60, ...storage });
      // Made again under a taken name: one family, still past the limit, not counted twice.
      new Histogram({ name: 'over_histogram', help: 'Over.', buckets: [1], ...storage });
      new Histogram({ name: 'over_histogram', help: 'Over, again.', buckets: [1], ...storage }).observe(0.5);
      for (const [i, c] of counters.entries()) c.inc({ k: 'a' }, i + 1);
      gauge.set(7);
      summary.observe(2);
    } finally {
      process.stderr.write = write;
    }
    assert.equal(writer.stats.droppedFamilies, 3);
    assert.equal(warnings.length, 1, warnings.join(''));
    assert.match(warnings[0]!, /metric `over_gauge` is past maxFamilies \(3 families in this process\)/);
    // The API works on them as without Redis: get() answers from this object's own series.
    assert.deepEqual((await gauge.get()).values.map((v) => v.value), [7]);
    assert.deepEqual((await summary.get()).values.filter((v) => v.metricName === 'over_summary_count').map((v) => v.value), [1]);

    await writer.waitUntilConnected(5000);
    await writer.flush();
    const scraper = redis.track(await startScraper(redis.server, prefix, { exitHooks: false }));
    const text = await scraper.getCollector().metrics();
    assert.equal(samples(text, 'kept_0_total', 'kept_1_total', 'kept_2_total', 'over_gauge', 'over_summary', 'over_histogram'), 'kept_0_total{k="a"} 1\nkept_1_total{k="a"} 2\nkept_2_total{k="a"} 3');
    // Not one key of the families past the limit: 3 counters of 4 keys (meta, sums, seq, created), the index and registries.
    const keys = (await redis.server.cli('KEYS', `${prefix}:*`)).split('\n').sort();
    assert.deepEqual(keys.filter((k) => k.includes('over')), []);
    assert.deepEqual(keys.filter((k) => k.includes(':cluster:')).length, 3 * 4);
    assert.deepEqual(JSON.parse(JSON.stringify(await redis.server.cli('HLEN', `${prefix}:families`))), '3');
    // The writer's own scrape does not show them either (they would look like resets next to other processes' scrapes).
    assert.equal(samples(await writer.getCollector().metrics(), 'over_gauge', 'over_summary', 'over_histogram'), '');
    // The package's own metrics are not counted against the limit: the drop counter reaches Redis.
    selfMetricsFor(writer, { sampleRedisUsage: false }).refresh();
    await writer.flush();
    assert.equal(samples(await scraper.getCollector().metrics(), 'prom_client_redis_families_dropped_total'), 'prom_client_redis_families_dropped_total 3');
    // Nothing of them waits for a flush (so a shutdown with Redis down has nothing of them to warn about).
    const over = [...writer.dict.families.values()].filter((f) => f.isOverLimit);
    assert.deepEqual(over.map((f) => [f.def.name, f.isDirty, f.pending.length, f.series.dirty.length]), [['over_gauge', false, 0, 0], ['over_summary', false, 0, 0], ['over_histogram', false, 0, 0]]);
  });
});
