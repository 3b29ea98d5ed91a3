import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { startSentinel, type SentinelSetup } from '../helpers/sentinel.js';
import { newPrefix } from '../helpers/redis-server.js';
import type { NodeChild } from '../helpers/processes.js';
import { RedisStorageManager } from '../../src/index.js';
import { counterValues, expectedTotals, startWriter, stopWriter, type WriterTotals } from './common.js';

describe('Sentinel: 1 master, 1 replica, 3 sentinels; the master is killed', () => {
  let setup: SentinelSetup;
  let scraper: RedisStorageManager;
  const prefix = newPrefix('sentinel');
  const writers = new Map<number, NodeChild>();

  before(async () => {
    setup = await startSentinel();
    const sentinels = setup.sentinels.map((s) => `${s.host}:${s.port}`);
    const env = { REDIS_SENTINELS: sentinels.join(','), REDIS_SENTINEL_NAME: setup.masterName, REDIS_KEY_PREFIX: prefix };
    const started = await Promise.all([1, 2].map((i) => startWriter(i, env)));
    started.forEach((w, i) => writers.set(i + 1, w));
    scraper = new RedisStorageManager({ enabled: true, sentinels, sentinelName: setup.masterName, keyPrefix: prefix, identity: { host: 'scraper', pid: 1, nonce: 'n' } });
    await scraper.waitUntilConnected(10_000);
  });

  after(async () => {
    await scraper?.shutdown();
    await Promise.all([...writers.values()].map((w) => w.kill('SIGKILL')));
    await setup?.stop();
  });

  it('finds the master through the sentinels; totals exact', async () => {
    const bursts = new Map([1, 2].map((i) => [i, { perFamily: 0, bursts: 1, failures: 0 }]));
    assert.deepEqual(counterValues(await scraper.getCollector().metrics()), expectedTotals(bursts));
    assert.deepEqual(expectedTotals(bursts), [3, 6, 9, 12, 15, 18]);
  });

  it('follows the promoted replica by itself: a burst written during the failover lands within seconds, totals exact', async () => {
    // Everything written so far is on the replica: replication is ordered, so once a write made
    // after the writers' flushes is acknowledged by the replica, theirs are too.
    const admin = new Redis(setup.master.redisOptions({ lazyConnect: true }));
    await admin.connect();
    await admin.set(`${prefix}:marker`, '1');
    assert.equal(await admin.call('WAIT', '1', '5000'), 1);
    admin.disconnect();

    await setup.killMaster();
    // Written while there is no master: the flushes fail and are kept.
    for (const w of writers.values()) w.child.kill('SIGUSR2');
    const master = await setup.waitForNewMaster(30_000);
    assert.equal(master.port, setup.replica.port);
    const promotedAt = Date.now();
    await Promise.all([...writers.values()].map((w) => w.waitForLine(/^flushed$/, 30_000)));
    const resumedMs = Date.now() - promotedAt;
    assert.ok(resumedMs < 10_000, `flushing resumed ${resumedMs} ms after the promotion`);

    const totals = new Map<number, WriterTotals>();
    for (const [i, w] of writers) totals.set(i, await stopWriter(w));
    writers.clear();
    assert.deepEqual([...totals.values()].map((t) => t.bursts), [2, 2]);
    assert.ok([...totals.values()].every((t) => t.failures > 0), 'the flushes during the failover failed');
    assert.deepEqual(counterValues(await scraper.getCollector().metrics()), expectedTotals(totals));
  });
});
