import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, type RedisCluster } from '../helpers/cluster.js';
import { newPrefix, parseInfo } from '../helpers/redis-server.js';
import { pollUntil } from '../helpers/reaper.js';
import type { NodeChild } from '../helpers/processes.js';
import { RedisStorageManager } from '../../src/index.js';
import { counterValues, expectedTotals, FAMILIES, familySlot, startWriter, stopWriter, type WriterTotals } from './common.js';

// Slot ranges `redis-cli --cluster create` gives 3 masters, in the order of `nodes`.
const RANGES = [[0, 5460], [5461, 10922], [10923, 16383]] as const;

describe('Redis Cluster: 3 masters + 3 replicas, real writer processes, a master killed under load', () => {
  let cluster: RedisCluster;
  let scraper: RedisStorageManager;
  const prefix = newPrefix('cluster');
  const writers = new Map<number, NodeChild>();

  before(async () => {
    cluster = await startCluster({ masters: 3, replicasPerMaster: 1 });
    const nodes = cluster.nodes.map((n) => `${n.host}:${n.port}`).join(',');
    const env = {
      REDIS_CLUSTER_NODES: nodes,
      REDIS_KEY_PREFIX: prefix,
      REDIS_WAIT_REPLICAS: '1',
      REDIS_WAIT_TIMEOUT_MS: '1000',
      REDIS_FLUSH_TIMEOUT_MS: '5000',
    };
    const started = await Promise.all([1, 2, 3].map((i) => startWriter(i, env, 60_000)));
    started.forEach((w, i) => writers.set(i + 1, w));
    scraper = new RedisStorageManager({ enabled: true, clusterNodes: nodes.split(','), keyPrefix: prefix, identity: { host: 'scraper', pid: 1, nonce: 'n' } });
    await scraper.waitUntilConnected(20_000);
  });

  after(async () => {
    await scraper?.shutdown();
    await Promise.all([...writers.values()].map((w) => w.kill('SIGKILL')));
    await cluster?.stop();
  });

  it('spreads the families over every master, and the totals of three processes are exact', async () => {
    const mastersHit = new Set(Array.from({ length: FAMILIES }, (_, f) => RANGES.findIndex(([lo, hi]) => familySlot(f) >= lo && familySlot(f) <= hi)));
    assert.deepEqual([...mastersHit].sort(), [0, 1, 2]);
    const one = new Map([1, 2, 3].map((i) => [i, { perFamily: 0, bursts: 1, failures: 0 }]));
    assert.deepEqual(counterValues(await scraper.getCollector().metrics()), expectedTotals(one));
    assert.deepEqual(expectedTotals(one), [6, 12, 18, 24, 30, 36]);
  });

  it('keeps every acknowledged flush through a master failover (REDIS_WAIT_REPLICAS=1), and retries the failed ones', async () => {
    for (const w of writers.values()) w.child.kill('SIGUSR1');
    // Under load: wait until the load shows in Redis, so flushes are in flight when the master dies.
    const collector = scraper.getCollector();
    await pollUntil('the load to reach Redis', async () => ((counterValues(await collector.metrics())[0] ?? 0) > 100 ? true : undefined), { timeoutMs: 20_000, intervalMs: 50 });

    const killedPort = await cluster.killMaster(0); // slots 0-5460: families c3, c4 and the process registry
    const [promotedPort] = await cluster.waitForFailover(30_000);
    assert.notEqual(promotedPort, killedPort);

    // The promoted replica has no replica of its own: WAIT 1 fails there and flushes are held back
    // (kept, retried) until the old master comes back empty and joins as its replica.
    const old = cluster.servers.find((s) => s.port === killedPort)!;
    await old.restartEmpty();
    await pollUntil('the old master to rejoin as a synced replica', async () => {
      const info = parseInfo(await old.cli('INFO', 'replication'));
      return info.get('role') === 'slave' && info.get('master_link_status') === 'up' ? true : undefined;
    }, { timeoutMs: 30_000, intervalMs: 100 });

    const totals = new Map<number, WriterTotals>();
    for (const [i, w] of writers) totals.set(i, await stopWriter(w));
    writers.clear();
    const expected = expectedTotals(totals);
    assert.ok(expected[0]! > 100, `the load wrote ${expected[0]} per family`);
    // The failover did make flushes fail (CLUSTERDOWN, a dead node, WAIT short of a replica)...
    assert.ok([...totals.values()].some((t) => t.failures > 0), `failed flushes: ${[...totals.values()].map((t) => t.failures).join(',')}`);
    // ...and every one of them was sent again: not one increment lost, none counted twice.
    assert.deepEqual(counterValues(await collector.metrics()), expected);
  });
});
