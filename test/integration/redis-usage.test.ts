// The SCAN-free estimate behind prom_client_redis_keys / memory_bytes and `status`: keys counted
// from the index (an upper bound), memory summed exactly over the keys that exist.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis, newPrefix, type RedisServer } from '../helpers/redis-server.js';
import { Counter, Gauge, RedisStorageManager } from '../../src/index.js';
import { readRedisUsage } from '../../src/integrations/redis-usage.js';

describe('Redis usage estimate', () => {
  let redis: RedisServer;
  const prefix = newPrefix('usage');
  const managers: RedisStorageManager[] = [];

  before(async () => {
    redis = await startRedis();
    for (const i of [1, 2]) {
      const storage = new RedisStorageManager({ enabled: true, url: redis.url, keyPrefix: prefix, flushIntervalMs: 60_000, identity: { host: 'h', pid: i, nonce: 'n' } });
      managers.push(storage);
      new Counter({ name: 'c_total', help: 'C.', storage, registers: [] }).inc(i);
      new Gauge({ name: 'g', help: 'G.', multiprocessMode: 'liveall', storage, registers: [] }).set(i);
      await storage.waitUntilConnected(5000);
      await storage.flush();
    }
  });

  after(async () => {
    for (const m of managers) await m.shutdown();
    await redis?.stop();
  });

  it('counts index, registries, 3 keys per family (4 but for gauges) and one per process of per-process families', async () => {
    const usage = await readRedisUsage(managers[0]!.client!, 5_000);
    // 3 (index, processes, live) + 2 families × 3 + the counter's created hash + 1 per-process family × 2 processes.
    assert.deepEqual([usage.families, usage.processes, usage.processesLive, usage.keys], [2, 2, 2, 12]);
    // A gauge family has no cluster hash (nothing is summed), so the count is an upper bound by one.
    const keys = (await redis.cli('KEYS', `${prefix}:*`)).split('\n');
    assert.equal(keys.length, 11);
    let memory = 0;
    for (const key of keys) memory += Number(await redis.cli('MEMORY', 'USAGE', key));
    assert.equal(usage.memoryBytes, memory);
  });
});
