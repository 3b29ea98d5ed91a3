// A family's keys vanish while the connection stays up and the process registry is intact (one
// Redis Cluster shard restarted empty behind the same address looks like this): no event tells the
// writer, so the periodic epoch check (every third of the TTL) must find it and re-send the family.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, RedisStorageManager } from '../../src/index.js';
import { newPrefix } from '../helpers/redis-server.js';
import { redisSuite } from '../helpers/redis-suite.js';
import { startScraper } from '../helpers/scraper.js';

describe('a family lost with no event', () => {
  const redis = redisSuite();

  it('comes back within a third of the TTL and a flush interval, counted once', async () => {
    const prefix = newPrefix('silent-loss');
    const writer = new RedisStorageManager({
      enabled: true, url: redis.server.url, keyPrefix: prefix, flushIntervalMs: 100, ttlSeconds: 3, exitHooks: false, identity: { host: 'w', pid: 1, nonce: 'n' },
    });
    redis.track(writer);
    await writer.waitUntilConnected(5000);
    const counter = new Counter({ name: 'idle_total', help: 'Idle.', storage: writer, registers: [] });
    counter.inc(7);
    await writer.flush();
    const scraper = await startScraper(redis.server, prefix, { exitHooks: false });
    redis.track(scraper);
    // A collect the restore gate holds back (docs/design.md, Restoration) reads as '503'.
    const sample = async () =>
      (await scraper.getCollector().metrics().catch((e: Error & { code?: string }) => (e.code === 'ERR_PCR_RESTORING' ? '503' : Promise.reject(e)))).split('\n').find((l) => l === '503' || l.startsWith('idle_total')) ?? '(none)';
    assert.equal(await sample(), 'idle_total 7');

    const h = counter.family!.hash;
    const deleted = await redis.server.cli('DEL', `${prefix}:counter:cluster:seq:{${h}}`, `${prefix}:counter:cluster:metric:{${h}}`, `${prefix}:counter:cluster:meta:{${h}}`);
    assert.equal(deleted, '3');
    const lostAt = Date.now();
    // The family's epoch went: the gate holds the scrape back until the writer beats again (no
    // more: nothing tells it the family is gone), and then the loss shows until the check.
    const seen = new Set([await sample()]);
    assert.ok(['503', '(none)'].includes([...seen][0]!), [...seen][0]);
    // Time-based by nature (a periodic check): poll with a deadline of twice the period.
    for (let s = ''; s !== 'idle_total 7' && Date.now() - lostAt < 4_000; seen.add(s)) {
      s = await sample();
      if (s !== 'idle_total 7') await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual([...seen].filter((s) => !['503', '(none)', 'idle_total 7'].includes(s)), []);
    assert.equal(await sample(), 'idle_total 7');
    // The check runs at most one period (1 s) plus one flush interval after the loss; a loaded machine may add a little.
    assert.ok(Date.now() - lostAt <= 2_000, `back after ${Date.now() - lostAt} ms`);
    assert.equal(writer.stats.familiesLost, 1);
    // The next periodic check (no event marks it: wait out one period) finds it whole: nothing re-sent twice.
    await new Promise((r) => setTimeout(r, 1_200));
    assert.equal(await sample(), 'idle_total 7');
    assert.equal(writer.stats.familiesLost, 1);
  });
});
