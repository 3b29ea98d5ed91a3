import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, type RedisCluster } from '../helpers/cluster.js';
import { newPrefix, parseInfo } from '../helpers/redis-server.js';
import { pollUntil } from '../helpers/reaper.js';
import type { NodeChild } from '../helpers/processes.js';
import { RedisStorageManager } from '../../src/index.js';
import { counterValues, expectedTotals, FAMILIES, familySlot, startWriter, stopWriter, type WriterTotals } from './common.js';

const PASSWORD = 'cluster pa$$ word';
const CLUSTER_COMMANDS = '-@all +eval +evalsha +hset +hget +hdel +hgetall +hincrbyfloat +hkeys +type +exists +expire +zadd +zrem +zrange +zrangebyscore +zscore +time +info +client|setname +wait +cluster|slots +cluster|info +asking +readonly +readwrite';

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
    // The writers run as a user with the minimal rights of docs/scale-out.md, plus WAIT and Cluster's.
    for (const server of cluster.servers) {
      await server.cli('ACL', 'SETUSER', 'metrics', 'reset', 'on', `>${PASSWORD}`, `~${prefix}:*`, 'resetchannels', ...CLUSTER_COMMANDS.split(' '));
    }
    const env = {
      REDIS_USERNAME: 'metrics',
      REDIS_PASSWORD: PASSWORD,
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

  it('follows a slot migration under load: MOVED and ASK are followed, nothing is lost', async () => {
    for (const w of writers.values()) w.child.kill('SIGUSR1');
    const collector = scraper.getCollector();
    await pollUntil('the load to reach Redis', async () => ((counterValues(await collector.metrics())[0] ?? 0) > 50 ? true : undefined), { timeoutMs: 20_000, intervalMs: 50 });
    const masters = cluster.servers.filter((_, i) => cluster.nodes[i]!.role === 'master');
    const [from, to] = [masters[2]!, masters[1]!];
    const slot = String(familySlot(0)); // c0_total, on master 2
    const [fromId, toId] = await Promise.all([from.cli('CLUSTER', 'MYID'), to.cli('CLUSTER', 'MYID')]);
    const askingCalls = async () => Number(/cmdstat_asking:calls=(\d+)/.exec(await to.cli('INFO', 'commandstats'))?.[1] ?? 0);
    const askedBefore = await askingCalls();

    await to.cli('CLUSTER', 'SETSLOT', slot, 'IMPORTING', fromId);
    await from.cli('CLUSTER', 'SETSLOT', slot, 'MIGRATING', toId);
    // One key at a time: between two, a flush touching both gets TRYAGAIN.
    for (;;) {
      const [key] = (await from.cli('CLUSTER', 'GETKEYSINSLOT', slot, '1')).split('\n').filter(Boolean);
      if (key === undefined) break;
      await from.cli('MIGRATE', to.host, String(to.port), key, '0', '5000');
    }
    // Every key moved, the slot not yet handed over: the source answers ASK. Hold this state until
    // a writer's flush has followed an ASK to the importing node.
    await pollUntil('a flush to follow ASK to the importing node', async () => ((await askingCalls()) > askedBefore ? true : undefined), { timeoutMs: 20_000, intervalMs: 20 });
    for (const node of [to, from, masters[0]!]) await node.cli('CLUSTER', 'SETSLOT', slot, 'NODE', toId);
    // From now on the source answers MOVED, and the writers' slot tables follow.

    // A writer that meets a node new to it checks its families (Redis may have lost them) and is in the
    // restoring registry meanwhile: a scrape then is held back (ERR_PCR_RESTORING) and retried.
    const before = await pollUntil('a scrape', async () => counterValues(await collector.metrics())[0], { timeoutMs: 20_000, intervalMs: 50 });
    await pollUntil('c0_total to grow on its new node', async () => ((counterValues(await collector.metrics())[0] ?? 0) > before ? true : undefined), { timeoutMs: 20_000, intervalMs: 50 });
    // The family's meta, cluster, seq and created hashes all moved, and nothing was written at the old place.
    assert.deepEqual([await from.cli('CLUSTER', 'COUNTKEYSINSLOT', slot), await to.cli('CLUSTER', 'COUNTKEYSINSLOT', slot)], ['0', '4']);
  });

  it('keeps every acknowledged flush through a master failover (REDIS_WAIT_REPLICAS=1), and retries the failed ones', async () => {
    // Still under load from the test before: flushes are in flight when the master dies.
    const collector = scraper.getCollector();

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
    // The minimal rights were enough on every node that stayed up (the restarted one has no users).
    for (const server of cluster.servers.filter((s) => s.port !== killedPort)) assert.equal(await server.cli('ACL', 'LOG'), '');
  });
});
