// Issue 11 on Redis Cluster: one registry member containing braces (`evil{x}`) made every collect
// fail with a cross-slot error (its per-process key hashed on `x`, not on the family's tag) until
// someone removed it. Now it is skipped and counted, and every scrape serves the valid data; so are
// a meta hash with an injecting label name and a family index entry with braces.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster } from 'ioredis';
import { Counter, Gauge, RedisStorageManager, Summary } from '../../src/index.js';
import { familyHash } from '../../src/store/family.js';
import { startCluster, type RedisCluster } from '../helpers/cluster.js';
import { newPrefix } from '../helpers/redis-server.js';
import { promtoolCheck } from '../faults/hostile-support.js';

const EXPECTED = [
  '# HELP dur Durations.', '# TYPE dur summary', 'dur{quantile="0.5"} 3', 'dur_sum 3', 'dur_count 1', '',
  '# HELP jobs_total Jobs.', '# TYPE jobs_total counter', 'jobs_total{k="a"} 1', 'jobs_total{k="b"} 2', '',
  '# HELP load Load.', '# TYPE load gauge', 'load{pid="w:1:n"} 4', '',
].join('\n');

describe('Redis Cluster: garbage in the registry and the index', () => {
  let cluster: RedisCluster;
  let client: Cluster;
  const managers: RedisStorageManager[] = [];
  const prefix = newPrefix('cluster-hostile');

  before(async () => {
    cluster = await startCluster({ masters: 3, replicasPerMaster: 0 });
    client = new Cluster(cluster.startupNodes);
  });

  after(async () => {
    await Promise.all(managers.map((m) => m.shutdown()));
    client?.disconnect();
    await cluster?.stop();
  });

  function manager(host: string): RedisStorageManager {
    const m = new RedisStorageManager({ enabled: true, clusterNodes: cluster.nodes.map((n) => `${n.host}:${n.port}`), keyPrefix: prefix, flushIntervalMs: 3_600_000, exitHooks: false, identity: { host, pid: 1, nonce: 'n' } });
    managers.push(m);
    return m;
  }

  it('a member `evil{x}` in both registries: every collect succeeds with the valid data, the member counted as `process`', async () => {
    const writer = manager('w');
    const storage = { storage: writer, registers: [] };
    const jobs = new Counter({ name: 'jobs_total', help: 'Jobs.', labelNames: ['k'], ...storage });
    jobs.inc({ k: 'a' }, 1);
    jobs.inc({ k: 'b' }, 2);
    new Gauge({ name: 'load', help: 'Load.', multiprocessMode: 'liveall', ...storage }).set(4);
    new Summary({ name: 'dur', help: 'Durations.', percentiles: [0.5], ...storage }).observe(3);
    await writer.waitUntilConnected(20_000);
    await writer.flush();

    const [sec] = (await client.time()) as [number, number];
    await client.zadd(`${prefix}:processes:{registry}`, sec * 1000, 'evil{x}');
    await client.zadd(`${prefix}:live:{registry}`, sec * 1000 + 600_000, 'evil{x}');
    // A family index entry with braces, and a meta hash whose label name would inject a series.
    await client.hset(`${prefix}:families`, 'evil{x}', 'counter');
    const h = familyHash('injected_total');
    await client.hset(`${prefix}:families`, h, 'counter');
    await client.hset(`${prefix}:counter:cluster:meta:{${h}}`, { name: 'injected_total', help: 'x', type: 'counter', mode: '', labelNames: JSON.stringify(['a="1"} 666\nfake_injected_metric{b']) });
    await client.hset(`${prefix}:counter:cluster:metric:{${h}}`, '["v"]', '1');

    const scraper = manager('scraper');
    await scraper.waitUntilConnected(20_000);
    for (let i = 1; i <= 3; i++) {
      const text = await scraper.getCollector().metrics();
      assert.equal(text, EXPECTED);
      assert.deepEqual(Object.fromEntries([...scraper.stats.badData].sort()), { index: i, 'label-names': i, process: 2 * i });
    }
    assert.deepEqual(await promtoolCheck(EXPECTED), { code: 0, output: '' });
    // The writer, whose own families are read with the same registry, serves the same.
    assert.equal(await writer.getCollector().metrics(), EXPECTED);
  });
});
