// Issue 10: one dead Redis Cluster master must stall nothing else. A real writer process under
// load flushes six families spread over three masters (each with a replica,
// cluster-require-full-coverage no); one master that holds neither the process registry nor the
// watched families is SIGKILLed. Until its replica is promoted and after, Redis itself is sampled
// every 20 ms: the families on the healthy masters advance at least every 3 flush intervals and
// the writer's heartbeat stays within its live timeout in every sample.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { startCluster, type RedisCluster } from '../helpers/cluster.js';
import { newPrefix } from '../helpers/redis-server.js';
import { pollUntil } from '../helpers/reaper.js';
import type { NodeChild } from '../helpers/processes.js';
import { RedisStorageManager } from '../../src/index.js';
import { familyHash } from '../../src/store/family.js';
import { slotOf } from '../../src/redis/connect.js';
import { counterValues, expectedTotals, FAMILIES, familySlot, startWriter, stopWriter } from './common.js';
import { longestGap, Sampler, staleHeartbeats } from './sampling.js';

const FLUSH_MS = 200;
const LIVE_TIMEOUT_MS = 3 * FLUSH_MS; // the writer's default
const WRITER_ID = 'host1:101:n';

describe('Redis Cluster: one master dead, the other masters keep flushing every interval', () => {
  let cluster: RedisCluster;
  let scraper: RedisStorageManager;
  let writer: NodeChild | undefined;
  const prefix = newPrefix('outage');
  const observers: Redis[] = [];

  before(async () => {
    cluster = await startCluster({ masters: 3, replicasPerMaster: 1, args: ['--cluster-require-full-coverage', 'no'] });
    const nodes = cluster.nodes.map((n) => `${n.host}:${n.port}`).join(',');
    writer = await startWriter(1, { REDIS_CLUSTER_NODES: nodes, REDIS_KEY_PREFIX: prefix, WRITER_FLUSH_MS: String(FLUSH_MS) });
    scraper = new RedisStorageManager({ enabled: true, clusterNodes: nodes.split(','), keyPrefix: prefix, exitHooks: false, identity: { host: 'scraper', pid: 1, nonce: 'n' } });
    await scraper.waitUntilConnected(20_000);
  });

  after(async () => {
    for (const o of observers) o.disconnect();
    await scraper?.shutdown();
    await writer?.kill('SIGKILL');
    await cluster?.stop();
  });

  it('healthy families advance at most 3 intervals apart and the heartbeat stays current through the outage and the failover; totals exact', async () => {
    // Which master owns what, from the cluster itself.
    const masters = cluster.servers.filter((_, i) => cluster.nodes[i]!.role === 'master');
    const ownerOf = new Map<number, number>(); // slot -> index in `masters`
    const probe = new Redis({ host: masters[0]!.host, port: masters[0]!.port, maxRetriesPerRequest: 0 });
    observers.push(probe);
    for (const [from, to, [, port]] of (await probe.cluster('SLOTS')) as unknown as Array<[number, number, [string, number]]>) {
      for (let slot = from; slot <= to; slot++) ownerOf.set(slot, masters.findIndex((s) => s.port === port));
    }
    const registryMaster = ownerOf.get(slotOf(`${prefix}:processes:{registry}`))!;
    const byMaster = [0, 1, 2].map((m) => Array.from({ length: FAMILIES }, (_, f) => f).filter((f) => ownerOf.get(familySlot(f)) === m));
    const victim = [0, 1, 2].find((m) => m !== registryMaster && byMaster[m]!.length > 0 && [0, 1, 2].some((o) => o !== m && o !== registryMaster && byMaster[o]!.length > 0))!;
    assert.notEqual(victim, undefined, `a master to kill that holds neither the registry nor all healthy families: ${JSON.stringify(byMaster)}, registry on ${registryMaster}`);
    const healthy = [0, 1, 2].filter((m) => m !== victim).flatMap((m) => byMaster[m]!);
    assert.ok(healthy.length >= 2 && byMaster[victim]!.length >= 1, `families: healthy ${healthy}, on the victim ${byMaster[victim]}`);

    const observerOf = new Map<number, Redis>();
    for (const m of [0, 1, 2].filter((m) => m !== victim)) {
      const o = new Redis({ host: masters[m]!.host, port: masters[m]!.port, maxRetriesPerRequest: 0 });
      observers.push(o);
      observerOf.set(m, o);
    }
    const clusterKey = (f: number) => `${prefix}:counter:cluster:metric:{${familyHash(`c${f}_total`)}}`;
    writer!.child.kill('SIGUSR1'); // load: +1 to every family every 2 ms
    const collector = scraper.getCollector();
    await pollUntil('the load to reach Redis', async () => ((counterValues(await collector.metrics())[healthy[0]!] ?? 0) > 50 ? true : undefined), { timeoutMs: 20_000, intervalMs: 50 });

    // Scrapes during the outage: each one is either refused (503: a family could not be read) or
    // complete, and a complete one never shows a counter lower than an earlier one.
    const scrapes: Array<{ atMs: number; values?: number[]; error?: string }> = [];
    let stop = false;
    const sampler = new Sampler({
      prefix,
      writerId: WRITER_ID,
      registry: observerOf.get(registryMaster)!,
      nodeOf: (f) => ({ redis: observerOf.get(ownerOf.get(familySlot(f))!)! }),
      families: healthy,
    });
    const scraping = (async () => {
      while (!stop) {
        try {
          scrapes.push({ atMs: Date.now(), values: counterValues(await collector.metrics()) });
        } catch (error) {
          scrapes.push({ atMs: Date.now(), error: `${(error as { code?: string }).code}` });
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    await new Promise((r) => setTimeout(r, 500)); // samples from before the kill, for comparison
    const killedAt = Date.now();
    await cluster.killMaster(victim);
    const [promoted] = await cluster.waitForFailover(30_000);
    const promotedAt = Date.now();
    // The dead master's families flush again, on its promoted replica.
    const onVictim = byMaster[victim]![0]!;
    const replica = new Redis({ host: '127.0.0.1', port: promoted!, maxRetriesPerRequest: 0 });
    observers.push(replica);
    const atPromotion = Number(await replica.hget(clusterKey(onVictim), '[]'));
    while (Number(await replica.hget(clusterKey(onVictim), '[]')) <= atPromotion) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 1_000)); // and a second of normal operation after it
    stop = true;
    const samples = await sampler.stop();
    await scraping;
    const end = samples.at(-1)!.atMs;

    const during = samples.filter((s) => s.atMs >= killedAt);
    assert.ok(during.length >= 100, `${during.length} samples over ${end - killedAt} ms`);
    // Every sample: the writer is live (its deadline is ahead) and its heartbeat is not older than its live timeout.
    assert.deepEqual(staleHeartbeats(samples, killedAt, end, LIVE_TIMEOUT_MS), []);
    // Every healthy family: the longest time between two successive advances, over the whole outage.
    const gaps = healthy.map((f) => longestGap(samples, f, killedAt, end));
    assert.deepEqual(gaps.filter((g) => g > 3 * FLUSH_MS), [], `longest gaps (ms) of c${healthy.join(', c')}: ${gaps.join(', ')}`);
    console.log(`# outage: failover ${promotedAt - killedAt} ms after the kill; longest gaps ${gaps.join(', ')} ms (interval ${FLUSH_MS}); max heartbeat age ${Math.max(...during.map((s) => s.heartbeatAgeMs))} ms`);

    // Scrapes: refused while the dead master's families cannot be read, complete otherwise, and
    // never lower than an earlier complete one.
    let highest = Array.from({ length: FAMILIES }, () => 0);
    for (const s of scrapes) {
      if (s.error !== undefined) {
        assert.ok(s.error === 'ERR_PCR_REDIS' || s.error === 'ERR_PCR_TIMEOUT', `scrape failed with ${s.error}`);
        continue;
      }
      assert.ok(s.values!.every((v, f) => v >= highest[f]!), `a scrape went down: ${highest} -> ${s.values}`);
      highest = s.values!;
    }
    const refused = scrapes.filter((s) => s.error !== undefined);
    assert.ok(refused.length > 0 && refused.every((s) => s.atMs >= killedAt), `${refused.length} refused scrapes`);
    console.log(`# scrapes: ${refused.length} of ${scrapes.length} refused, from ${refused[0]!.atMs - killedAt} to ${refused.at(-1)!.atMs - killedAt} ms after the kill`);

    // Everything the writer counted is in Redis exactly once; its failed flushes were the dead node's.
    const totals = await stopWriter(writer!);
    const kinds = JSON.parse(writer!.stdoutLines.find((l) => l.startsWith('kinds '))!.slice(6)) as Record<string, number>;
    writer = undefined;
    assert.ok(totals.failures > 0, 'flushes to the dead master failed');
    assert.deepEqual(Object.keys(kinds).filter((k) => k !== 'connection' && k !== 'cluster'), []);
    assert.equal((kinds.connection ?? 0) + (kinds.cluster ?? 0), totals.failures);
    assert.deepEqual(counterValues(await collector.metrics()), expectedTotals(new Map([[1, totals]])));
  });
});
