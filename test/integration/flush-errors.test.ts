// Failed flushes are counted under the kind the README documents: a WAIT shortfall is
// `replication`, an ACL or maxmemory refusal is `command`, a server that went away is
// `connection` (the Cluster kinds are checked in test/topologies/cluster-outage.test.ts).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { Counter, RedisStorageManager, selfMetricsFor } from '../../src/index.js';
import { newPrefix, startRedis } from '../helpers/redis-server.js';
import { redisSuite } from '../helpers/redis-suite.js';

/** A writer with one counter updated, connected; flushes only when told (1 h interval). */
async function writerOf(url: string, prefix: string, options: Record<string, unknown> = {}): Promise<RedisStorageManager> {
  const manager = new RedisStorageManager({ enabled: true, url, keyPrefix: prefix, flushIntervalMs: 3_600_000, shutdownTimeoutMs: 300, exitHooks: false, identity: { host: 'w', pid: 1, nonce: 'n' }, ...options });
  new Counter({ name: 'jobs_total', help: 'Jobs.', storage: manager, registers: [] }).inc(3);
  await manager.waitUntilConnected(5000);
  return manager;
}

/** What the self-metric says, kind by kind. */
async function selfKinds(manager: RedisStorageManager): Promise<string[]> {
  selfMetricsFor(manager, { sampleRedisUsage: false }).refresh();
  const family = await manager.getCollector().getFamily('prom_client_redis_flush_errors_total');
  return family.values.map((v) => `${v.labels.kind} ${v.value}`).sort();
}

describe('flush error kinds, from a real Redis', () => {
  const redis = redisSuite();

  it('a WAIT that saw too few replicas is `replication`', async () => {
    const writer = redis.track(await writerOf(redis.server.url, newPrefix('kind-wait'), { waitReplicas: 1, waitTimeoutMs: 50 }));
    await assert.rejects(writer.flush(), { code: 'ERR_PCR_REPLICAS', message: 'WAIT: 0 of 1 replicas acknowledged the flush within 50 ms (REDIS_WAIT_REPLICAS, REDIS_WAIT_TIMEOUT_MS); the flush is kept and retried' });
    assert.deepEqual([...writer.stats.flushErrors], [['replication', 1]]);
    assert.deepEqual(await selfKinds(writer), ['replication 1']);
  });

  it('a command the ACL refuses is `command`', async () => {
    const prefix = newPrefix('kind-acl');
    await redis.server.cli('ACL', 'SETUSER', 'nozadd', 'on', '>pw', `~${prefix}:*`, '+@all', '-zadd');
    const writer = redis.track(await writerOf(redis.server.url, prefix, { username: 'nozadd', password: 'pw' }));
    await assert.rejects(writer.flush(), {
      code: 'ERR_PCR_AUTH',
      message: /^flush: Redis user `nozadd` lacks a right \(ERR The user executing the script can't run this command or subcommand script: [0-9a-f]{40}, on @user_script:\d+\.\): it needs the keys ~t:kind-acl:\S+ and the commands of the minimal ACL line in docs\/scale-out.md$/,
    });
    assert.deepEqual([...writer.stats.flushErrors], [['command', 1]]);
    await redis.server.cli('ACL', 'DELUSER', 'nozadd');
  });

  it('a write refused by maxmemory (noeviction) is `command`', async () => {
    const server = await startRedis({ args: ['--maxmemory', '2mb', '--maxmemory-policy', 'noeviction'] });
    const filler = new Redis(server.redisOptions());
    try {
      const writer = await writerOf(server.url, newPrefix('kind-oom'));
      // Filled 256 KB at a time: a write is accepted while memory is below the limit (the last one
      // takes it over), refused after.
      let accepted = 0;
      for (;;) {
        const refused = await filler.set(`filler:${accepted}`, 'x'.repeat(256 * 1024)).then(() => undefined, (e: Error) => e.message);
        if (refused !== undefined) {
          assert.equal(refused, "OOM command not allowed when used memory > 'maxmemory'.");
          break;
        }
        accepted++;
      }
      assert.ok(accepted >= 2 && accepted < 40, `${accepted} filler keys`);
      await assert.rejects(writer.flush(), { code: 'ERR_PCR_REDIS', message: /^flush: \d+ of \d+ commands failed, first: OOM command not allowed when used memory > 'maxmemory'/ });
      assert.deepEqual([...writer.stats.flushErrors], [['command', 1]]);
      assert.deepEqual(await selfKinds(writer), ['command 1']);
      await writer.shutdown();
    } finally {
      filler.disconnect();
      await server.stop();
    }
  });

  it('a server that went away is `connection`', async () => {
    const server = await startRedis();
    const writer = await writerOf(server.url, newPrefix('kind-gone'));
    await writer.flush();
    await server.stop();
    await assert.rejects(writer.flush(), { code: 'ERR_PCR_REDIS' });
    assert.deepEqual([...writer.stats.flushErrors], [['connection', 1]]);
    await writer.shutdown();
  });

  it('after a failed flush, the next one sends the updates made since, not only the failed batches', async () => {
    const server = await startRedis({ args: ['--maxmemory-policy', 'noeviction'] });
    const reader = new Redis(server.redisOptions());
    try {
      const prefix = newPrefix('after-failure');
      const writer = await writerOf(server.url, prefix);
      const c = new Counter({ name: 'after_failure_total', help: 'Jobs.', labelNames: ['k'], storage: writer, registers: [] });
      c.inc({ k: 'a' }, 3);
      await writer.flush();
      // Every write refused (used memory is above one byte): the flush fails, its batches stay.
      await server.cli('CONFIG', 'SET', 'maxmemory', '1');
      c.inc({ k: 'a' }, 4);
      c.inc({ k: 'b' }, 1);
      await assert.rejects(writer.flush(), { code: 'ERR_PCR_REDIS', message: /OOM command not allowed/ });
      await server.cli('CONFIG', 'SET', 'maxmemory', '0');
      // Updated after the failure and before the call: the flush resolves once these are in Redis too.
      c.inc({ k: 'a' }, 5);
      c.inc({ k: 'c' }, 0.25);
      await writer.flush();
      const { __epoch: epoch, ...sums } = await reader.hgetall(`${prefix}:counter:cluster:metric:{${c.family!.hash}}`);
      assert.ok(epoch);
      assert.deepEqual(sums, { '["a"]': '12', '["b"]': '1', '["c"]': '0.25' });
      assert.equal(c.family!.pending.length, 0);
      const served = (await writer.getCollector().getFamily('after_failure_total')).values;
      assert.deepEqual(served.map((v) => [v.labels.k, v.value]).sort(), [['a', 12], ['b', 1], ['c', 0.25]]);
      await writer.shutdown();
    } finally {
      reader.disconnect();
      await server.stop();
    }
  });

  it('a flush that Redis answers LOST (FLUSHALL) resolves once the re-send of everything is applied', async () => {
    const server = await startRedis();
    const reader = new Redis(server.redisOptions());
    try {
      const prefix = newPrefix('after-loss');
      const writer = await writerOf(server.url, prefix);
      const c = new Counter({ name: 'after_loss_total', help: 'Jobs.', labelNames: ['k'], storage: writer, registers: [] });
      c.inc({ k: 'a' }, 3);
      await writer.flush();
      await server.cli('FLUSHALL');
      c.inc({ k: 'a' }, 4);
      c.inc({ k: 'b' }, 1);
      // Its first round is answered LOST (the family's keys are gone); the flush goes on with the re-send.
      await writer.flush();
      const { __epoch: epoch, ...sums } = await reader.hgetall(`${prefix}:counter:cluster:metric:{${c.family!.hash}}`);
      assert.ok(epoch);
      assert.deepEqual(sums, { '["a"]': '7', '["b"]': '1' });
      assert.deepEqual([c.family!.needsReset, c.family!.pending.length], [false, 0]);
      await writer.shutdown();
    } finally {
      reader.disconnect();
      await server.stop();
    }
  });
});
