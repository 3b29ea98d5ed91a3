import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis, newPrefix, type RedisServer } from '../helpers/redis-server.js';
import { Gauge, Summary, RedisStorageManager } from '../../src/index.js';

describe('REDIS_TTL_SECONDS', () => {
  let server: RedisServer;
  before(async () => {
    server = await startRedis();
  });
  after(async () => {
    await server?.stop();
  });

  it("keeps an idle live process's keys well past the TTL, and lets them expire once it stops", async () => {
    const prefix = newPrefix('ttl');
    const live = new RedisStorageManager({ enabled: true, url: server.url, keyPrefix: prefix, flushIntervalMs: 100, ttlSeconds: 1, identity: { host: 'idle', pid: 1, nonce: 'n' }, exitHooks: false });
    const scraper = new RedisStorageManager({ enabled: true, url: server.url, keyPrefix: prefix, flushIntervalMs: 100, ttlSeconds: 1, identity: { host: 'scraper', pid: 1, nonce: 'n' }, exitHooks: false });
    await Promise.all([live.waitUntilConnected(), scraper.waitUntilConnected()]);
    const gauge = new Gauge({ name: 'idle_value', help: 'Set once.', multiprocessMode: 'all', storage: live, registers: [] });
    const summary = new Summary({ name: 'idle_summary', help: 'Observed once.', percentiles: [0.5], storage: live, registers: [] });
    gauge.set(42);
    summary.observe(3);
    await live.flush();
    const gaugeKey = `${prefix}:gauge_all:idle:1:n:metric:{${gauge.family!.hash}}`;
    const samples = async () => (await scraper.getCollector().metrics()).split('\n').filter((l) => !l.startsWith('#') && l !== '');
    const expected = ['idle_summary{quantile="0.5"} 3', 'idle_summary_sum 3', 'idle_summary_count 1', 'idle_value{pid="idle:1:n"} 42'];
    // Three TTLs with no update: only the heartbeats' TTL refresh keeps the per-process hashes.
    const until = Date.now() + 3_000;
    while (Date.now() < until) {
      assert.equal(await server.cli('EXISTS', gaugeKey), '1');
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.deepEqual(await samples(), expected);
    // Once it has shut down (no more heartbeats, no more refreshes) its per-process data ages out.
    await live.shutdown();
    const deadline = Date.now() + 10_000;
    while ((await server.cli('EXISTS', gaugeKey)) === '1' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.equal(await server.cli('EXISTS', gaugeKey), '0');
    // The summary's count and sum are cluster-wide sums: they stay. Its quantile data was per process.
    assert.deepEqual(await samples(), ['idle_summary{quantile="0.5"} 0', 'idle_summary_sum 3', 'idle_summary_count 1']);
    await scraper.shutdown();
  });
});
