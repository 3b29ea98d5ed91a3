// Issue 3, item 7: bounded memory under a cardinality explosion. Past maxSeriesPerMetric, new label
// sets are dropped (never flushed) and counted in SelfStats.droppedSeries, with one warning per
// process; the series kept are exact and nothing crashes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Gauge, RedisStorageManager, selfMetricsFor } from '../../src/index.js';
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
});
