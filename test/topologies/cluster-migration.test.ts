// Issue 10: a slot in migration must stall only its own families, and a reshard left half done must
// not make a final flush time out. A real 3-master Cluster and a writer process under load; the
// slot of c0_total is resharded by hand (CLUSTER SETSLOT ... IMPORTING/MIGRATING and MIGRATE), in
// three phases that each last 2 s while Redis is sampled every 20 ms:
//   1. left half done with the family's keys split: its seq hash moved, the rest not. No script can
//      touch both (TRYAGAIN), so c0 cannot be flushed; every other family flushes every interval.
//   2. every key moved, the slot still migrating: the source answers ASK, flushes follow it.
//   3. the slot handed over (SETSLOT NODE): MOVED, then the new node.
// A second process that stops during phase 1 shuts down at once instead of timing out; the totals
// are exact at the end (that process's update of c0 could not be written, and is not counted).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { startCluster, type RedisCluster } from '../helpers/cluster.js';
import { newPrefix, type RedisServer } from '../helpers/redis-server.js';
import { pollUntil } from '../helpers/reaper.js';
import type { NodeChild } from '../helpers/processes.js';
import { Counter, RedisStorageManager } from '../../src/index.js';
import { familyHash } from '../../src/store/family.js';
import { slotOf } from '../../src/redis/connect.js';
import { counterValues, expectedTotals, FAMILIES, familySlot, startWriter, stopWriter } from './common.js';
import { longestGap, Sampler, staleHeartbeats } from './sampling.js';

const FLUSH_MS = 200;
const PHASE_MS = 2_000;
const WRITER_ID = 'host1:101:n';

describe('Redis Cluster: a slot resharded under load, and a reshard left half done', () => {
  let cluster: RedisCluster;
  let scraper: RedisStorageManager;
  let writer: NodeChild | undefined;
  const prefix = newPrefix('reshard');
  const connections: Redis[] = [];

  before(async () => {
    cluster = await startCluster({ masters: 3, replicasPerMaster: 0 });
    const nodes = cluster.nodes.map((n) => `${n.host}:${n.port}`).join(',');
    writer = await startWriter(1, { REDIS_CLUSTER_NODES: nodes, REDIS_KEY_PREFIX: prefix, WRITER_FLUSH_MS: String(FLUSH_MS) });
    scraper = new RedisStorageManager({ enabled: true, clusterNodes: nodes.split(','), keyPrefix: prefix, exitHooks: false, identity: { host: 'scraper', pid: 1, nonce: 'n' } });
    await scraper.waitUntilConnected(20_000);
  });

  after(async () => {
    for (const c of connections) c.disconnect();
    await scraper?.shutdown();
    await writer?.kill('SIGKILL');
    await cluster?.stop();
  });

  it('stalls only the migrating family, follows ASK and MOVED, a final flush does not wait for the reshard, and the totals are exact', async () => {
    const connect = (server: RedisServer) => {
      const c = new Redis({ host: server.host, port: server.port, maxRetriesPerRequest: 0 });
      connections.push(c);
      return c;
    };
    const masters = cluster.servers;
    const conn = masters.map(connect);
    const ownerOf = (slot: number) => masters.findIndex((_, i) => i === ownerIndex.get(slot));
    const ownerIndex = new Map<number, number>();
    for (const [from, to, [, port]] of (await conn[0]!.cluster('SLOTS')) as unknown as Array<[number, number, [string, number]]>) {
      for (let slot = from; slot <= to; slot++) ownerIndex.set(slot, masters.findIndex((s) => s.port === port));
    }
    const slot = familySlot(0);
    const source = ownerOf(slot);
    const target = (source + 1) % masters.length;
    const [sourceId, targetId] = await Promise.all([masters[source]!.cli('CLUSTER', 'MYID'), masters[target]!.cli('CLUSTER', 'MYID')]);
    const others = Array.from({ length: FAMILIES - 1 }, (_, i) => i + 1);
    let c0Node: { redis: Redis; asking?: boolean } = { redis: conn[source]! };
    const sampler = new Sampler({
      prefix,
      writerId: WRITER_ID,
      registry: conn[ownerOf(slotOf(`${prefix}:processes:{registry}`))]!,
      nodeOf: (f) => (f === 0 ? c0Node : { redis: conn[ownerOf(familySlot(f))]! }),
      families: [0, ...others],
    });

    const collector = scraper.getCollector();
    let phase1 = 0;
    let phase2 = 0;
    let phase3 = 0;
    let shutdownMs = 0;
    try {
      writer!.child.kill('SIGUSR1'); // load: +1 to every family every 2 ms
      await pollUntil('the load to reach Redis', async () => ((counterValues(await collector.metrics())[1] ?? 0) > 50 ? true : undefined), { timeoutMs: 20_000, intervalMs: 50 });
      const h = familyHash('c0_total');
      const familyKeys = (await masters[source]!.cli('CLUSTER', 'GETKEYSINSLOT', String(slot), '100')).split('\n').sort();
      assert.deepEqual(familyKeys, ['created', 'meta', 'metric', 'seq'].map((k) => `${prefix}:counter:cluster:${k}:{${h}}`));

      // Phase 1: half done, the keys split between the nodes.
      await masters[target]!.cli('CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', sourceId);
      await masters[source]!.cli('CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', targetId);
      assert.equal(await masters[source]!.cli('MIGRATE', masters[target]!.host, String(masters[target]!.port), `${prefix}:counter:cluster:seq:{${h}}`, '0', '5000'), 'OK');
      phase1 = Date.now();
      // A process that updates c0 and c1 and stops meanwhile: c1 is written, c0 cannot be, and its
      // shutdown does not wait for the reshard (nor for its own timeout).
      const leaver = new RedisStorageManager({ enabled: true, clusterNodes: cluster.nodes.map((n) => `${n.host}:${n.port}`), keyPrefix: prefix, flushIntervalMs: FLUSH_MS, exitHooks: false, identity: { host: 'host3', pid: 103, nonce: 'n' } });
      const warnings: string[] = [];
      leaver.logger.warn = (message: string) => void warnings.push(message);
      const leaverCounters = [0, 1].map((f) => new Counter({ name: `c${f}_total`, help: `Family ${f}.`, storage: leaver, registers: [] }));
      await leaver.waitUntilConnected(20_000);
      for (const c of leaverCounters) c.inc(7);
      // TRYAGAIN, which ioredis retries on a random node (that answers MOVED) until its redirections run out.
      await assert.rejects(leaver.flush(), { code: 'ERR_PCR_REDIS', message: /^flush: 1 of 5 commands failed, first: (TRYAGAIN|Too many Cluster redirections)/ });
      assert.deepEqual([...leaver.stats.flushErrors], [['cluster', 1]]);
      const stopping = Date.now();
      await leaver.shutdown();
      shutdownMs = Date.now() - stopping;
      assert.ok(shutdownMs < 2_000, `shutdown took ${shutdownMs} ms (shutdownTimeoutMs 5000)`);
      assert.equal(warnings.filter((w) => w.startsWith('final flush')).length, 1);
      assert.match(warnings.find((w) => w.startsWith('final flush'))!, /^final flush failed: flush: 1 of \d+ commands failed, first: (TRYAGAIN|Too many Cluster redirections)/);
      while (Date.now() - phase1 < PHASE_MS) await new Promise((r) => setTimeout(r, 50));

      // Phase 2: every key moved, the slot not handed over: ASK.
      phase2 = Date.now();
      for (const key of familyKeys.filter((k) => !k.includes(':seq:'))) {
        assert.equal(await masters[source]!.cli('MIGRATE', masters[target]!.host, String(masters[target]!.port), key, '0', '5000'), 'OK');
      }
      c0Node = { redis: conn[target]!, asking: true };
      while (Date.now() - phase2 < PHASE_MS) await new Promise((r) => setTimeout(r, 50));

      // Phase 3: handed over.
      phase3 = Date.now();
      for (const m of masters) await m.cli('CLUSTER', 'SETSLOT', String(slot), 'NODE', targetId);
      c0Node = { redis: conn[target]! };
      while (Date.now() - phase3 < PHASE_MS) await new Promise((r) => setTimeout(r, 50));
    } finally {
      await sampler.stop();
    }
    const samples = sampler.samples;
    const end = samples.at(-1)!.atMs;

    // Every other family, in every phase: an advance at least every 3 intervals; the heartbeat current.
    const gaps = others.map((f) => longestGap(samples, f, phase1, end));
    assert.deepEqual(gaps.filter((g) => g > 3 * FLUSH_MS), [], `longest gaps of c1..c5: ${gaps.join(', ')} ms`);
    assert.deepEqual(staleHeartbeats(samples, phase1, end, 3 * FLUSH_MS), []);
    // c0: frozen while its keys were split (nothing can write it), then flushed every interval.
    const c0InPhase1 = new Set(samples.filter((s) => s.atMs >= phase1 + 100 && s.atMs < phase2).map((s) => s.values.get(0)));
    assert.equal(c0InPhase1.size, 1, `c0 in phase 1: ${[...c0InPhase1].join(', ')}`);
    const c0Gaps = [longestGap(samples, 0, phase2 + FLUSH_MS, phase3), longestGap(samples, 0, phase3 + FLUSH_MS, end)];
    assert.deepEqual(c0Gaps.filter((g) => g > 3 * FLUSH_MS), [], `c0's longest gaps, ASK then MOVED: ${c0Gaps.join(', ')} ms`);
    console.log(`# reshard: others' longest gap ${Math.max(...gaps)} ms; c0 stuck while split, then ${c0Gaps.join(' / ')} ms (ASK / handed over); the leaving process shut down in ${shutdownMs} ms`);

    const totals = await stopWriter(writer!);
    const kinds = JSON.parse(writer!.stdoutLines.find((l) => l.startsWith('kinds '))!.slice(6)) as Record<string, number>;
    writer = undefined;
    assert.ok(totals.failures > 0 && kinds.cluster === totals.failures, `failures ${totals.failures}, kinds ${JSON.stringify(kinds)}`);
    const expected = expectedTotals(new Map([[1, totals]]));
    expected[1]! += 7; // the leaving process's c1; its c0 was never written
    assert.deepEqual(counterValues(await collector.metrics()), expected);
  });
});
