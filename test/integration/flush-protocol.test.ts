import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { startRedis, newPrefix, type RedisServer } from '../helpers/redis-server.js';
import { Counter, Gauge, Histogram, Summary, RedisStorageManager } from '../../src/index.js';
import { flushArgs, flushKeys, metaPairs } from '../../src/flush/batch.js';
import { FLAG_RESET, type FamilyBatch } from '../../src/store/family.js';
import { seqFieldOf } from '../../src/identity.js';

// The flush script receives sums, sets and dels packed into one '\n'-joined argument each. These
// tests write through one process and read through another (or raw Redis), so that every list of
// the protocol, and every character a label value may hold, is checked on what Redis applied.
describe('flush protocol: packed sums, sets and dels', () => {
  let server: RedisServer;
  let redis: Redis;
  before(async () => {
    server = await startRedis();
    redis = new Redis(server.port, server.host);
  });
  after(async () => {
    redis?.disconnect();
    await server?.stop();
  });

  const manager = (prefix: string, host: string) =>
    new RedisStorageManager({ enabled: true, url: server.url, keyPrefix: prefix, flushIntervalMs: 3_600_000, maxSeriesPerMetric: 100_000, identity: { host, pid: 1, nonce: 'n' } });

  it('label values with newlines, quotes, backslashes, # and @ land as themselves', async () => {
    const prefix = newPrefix('packed');
    const writer = manager(prefix, 'writer');
    const reader = manager(prefix, 'reader');
    await Promise.all([writer.waitUntilConnected(), reader.waitUntilConnected()]);
    const odd = ['a\nb', '"q"', 'back\\slash', 'x#sum', '@at', '', 'ünï\u2028', '\r\n\n'];
    const c = new Counter({ name: 'odd_total', help: 'Help with\na newline.', labelNames: ['v'], storage: writer, registers: [] });
    odd.forEach((v, i) => c.inc({ v }, i + 0.5));
    await writer.flush();
    const { __epoch: epoch, ...cluster } = await redis.hgetall(`${prefix}:counter:cluster:metric:{${c.family!.hash}}`);
    assert.deepEqual(cluster, Object.fromEntries(odd.map((v, i) => [JSON.stringify([v]), String(i + 0.5)])));
    assert.equal(epoch, await redis.hget(`${prefix}:counter:cluster:seq:{${c.family!.hash}}`, '__epoch'));
    assert.equal(await redis.hget(`${prefix}:counter:cluster:meta:{${c.family!.hash}}`, 'help'), 'Help with\na newline.');
    const values = (await reader.getCollector().getFamily('odd_total')).values;
    assert.deepEqual(
      values.map((v) => [v.labels.v ?? '', v.value]).sort(),
      odd.map((v, i) => [v, i + 0.5]).sort(),
    );
    await Promise.all([writer.shutdown(), reader.shutdown()]);
  });

  it('histograms, gauges with stamps, summaries and removals, read by another process', async () => {
    const prefix = newPrefix('kinds');
    const writer = manager(prefix, 'writer');
    const reader = manager(prefix, 'reader');
    await Promise.all([writer.waitUntilConnected(), reader.waitUntilConnected()]);
    const storage = { storage: writer, registers: [] };
    const h = new Histogram({ name: 'p_h', help: 'H.', labelNames: ['k'], buckets: [1, 2], ...storage });
    h.observe({ k: 'a' }, 0.5);
    h.observe({ k: 'a' }, 1.5);
    h.observe({ k: 'a' }, 9);
    const g = new Gauge({ name: 'p_g', help: 'G.', labelNames: ['k'], multiprocessMode: 'mostrecent', ...storage });
    g.set({ k: 'kept' }, 3);
    g.set({ k: 'gone' }, 4);
    const s = new Summary({ name: 'p_s', help: 'S.', percentiles: [0.5], ...storage });
    [1, 2, 3].forEach((x) => s.observe(x));
    await writer.flush();

    const processKey = `${prefix}:gauge_mostrecent:writer:1:n:metric:{${g.family!.hash}}`;
    const before = await redis.hgetall(processKey);
    assert.deepEqual(Object.keys(before).sort(), ['@["gone"]', '@["kept"]', '["gone"]', '["kept"]']);
    // '@' stamps are moved to Redis time by the script: within a minute of Redis's clock.
    const [sec] = await redis.time();
    assert.ok(Math.abs(Number(before['@["kept"]']) - Number(sec) * 1000) < 60_000, `stamp ${before['@["kept"]']}`);

    g.remove({ k: 'gone' });
    await writer.flush();
    assert.deepEqual(Object.keys(await redis.hgetall(processKey)).sort(), ['@["kept"]', '["kept"]']);

    const text = await reader.getCollector().metrics();
    assert.match(text, /^p_h_bucket\{le="1",k="a"\} 1$/m);
    assert.match(text, /^p_h_bucket\{le="2",k="a"\} 2$/m);
    assert.match(text, /^p_h_bucket\{le="\+Inf",k="a"\} 3$/m);
    assert.match(text, /^p_h_sum\{k="a"\} 11$/m);
    assert.match(text, /^p_g\{k="kept"\} 3$/m);
    assert.doesNotMatch(text, /gone/);
    assert.match(text, /^p_s\{quantile="0.5"\} 2$/m);
    assert.match(text, /^p_s_count 3$/m);
    await Promise.all([writer.shutdown(), reader.shutdown()]);
  });

  it('a family larger than one script call is split and summed exactly', async () => {
    const prefix = newPrefix('split');
    const writer = manager(prefix, 'writer');
    await writer.waitUntilConnected();
    const c = new Counter({ name: 'wide_total', help: 'W.', labelNames: ['i'], storage: writer, registers: [] });
    const n = 12_345;
    for (let round = 1; round <= 2; round++) {
      for (let i = 0; i < n; i++) c.inc({ i }, 0.25 * round);
      await writer.flush();
    }
    const { __epoch: epoch, ...cluster } = await redis.hgetall(`${prefix}:counter:cluster:metric:{${c.family!.hash}}`);
    // The cluster hash carries the family's epoch (see design.md), the seq hash's.
    assert.equal(epoch, await redis.hget(`${prefix}:counter:cluster:seq:{${c.family!.hash}}`, '__epoch'));
    assert.equal(Object.keys(cluster).length, n);
    for (let i = 0; i < n; i++) assert.equal(cluster[`["${i}"]`], '0.75');
    await writer.shutdown();
  });

  // The script adds the sums itself (HMGET, then HSET) when the user may run HMGET, else with one
  // HINCRBYFLOAT per field: the same values either way, but for a fractional sum's last bit.
  for (const path of ['HMGET and HSET', 'HINCRBYFLOAT, for a user without +hmget']) {
    it(`sums by ${path}: garbage and non-finite sums restart from the delta, repaired; a field named twice adds both`, async () => {
      const prefix = newPrefix('sums');
      const user = path.startsWith('HMGET') ? undefined : 'nohmget';
      if (user) await server.cli('ACL', 'SETUSER', user, 'on', '>pw', `~${prefix}:*`, '+@all', '-hmget');
      const writer = new RedisStorageManager({ enabled: true, url: server.url, keyPrefix: prefix, flushIntervalMs: 3_600_000, identity: { host: 'writer', pid: 1, nonce: 'n' }, ...(user ? { username: user, password: 'pw' } : {}) });
      await writer.waitUntilConnected();
      await server.cli('ACL', 'LOG', 'RESET');
      const stats0 = await redis.info('commandstats');
      const c = new Counter({ name: 'sums_total', help: 'S.', labelNames: ['k'], storage: writer, registers: [] });
      // HINCRBYFLOAT adds in long double, where 1.7e308 + 1.7e308 is finite: `huge` is for the HMGET path.
      const names = user ? ['int', 'frac', 'garbage', 'twice'] : ['int', 'frac', 'garbage', 'huge', 'twice'];
      for (const k of names) c.inc({ k }, 1);
      await writer.flush();
      const key = `${prefix}:counter:cluster:metric:{${c.family!.hash}}`;
      await redis.hset(key, '["garbage"]', 'not a number', ...(user ? [] : ['["huge"]', '1.7e308']));
      c.inc({ k: 'int' }, 2 ** 52);
      c.inc({ k: 'frac' }, 0.1);
      c.inc({ k: 'garbage' }, 2);
      if (!user) c.inc({ k: 'huge' }, 1.7e308);
      // `twice` removed and made again: Redis loses the family, and the re-send (flagged reset) names
      // it twice, the removed series' carried total (1 + 2) and the new one's (4).
      c.inc({ k: 'twice' }, 2);
      await writer.flush();
      assert.equal(writer.stats.badData.get('repaired'), user ? 1 : 2);
      c.remove({ k: 'twice' });
      c.inc({ k: 'twice' }, 4);
      await writer.flush();
      const sums = { '["int"]': String(2 ** 52 + 1), '["frac"]': '1.1', '["garbage"]': '2', ...(user ? {} : { '["huge"]': '1.7e+308' }), '["twice"]': '7' };
      const { __epoch, ...before } = await redis.hgetall(key);
      assert.deepEqual(before, sums);
      for (const k of await redis.keys(`${prefix}:counter:*`)) await redis.del(k);
      c.inc({ k: 'frac' }, 1);
      await writer.flush(); // LOST: the re-send follows
      await writer.flush();
      const { __epoch: epoch, ...after } = await redis.hgetall(key);
      assert.ok(epoch);
      // The re-send carries this process's totals: `garbage` is whole again (1 + 2).
      assert.deepEqual(after, { ...sums, '["frac"]': '2.1', '["garbage"]': '3' });
      const served = (await writer.getCollector().getFamily('sums_total')).values;
      assert.deepEqual(Object.fromEntries(served.map((v) => [v.labels.k, v.value])), { int: 2 ** 52 + 1, frac: 2.1, garbage: 3, ...(user ? {} : { huge: 1.7e308 }), twice: 7 });
      const calls = (name: string, info: string) => Number(info.match(new RegExp(`cmdstat_${name}:calls=(\\d+)`))?.[1] ?? 0);
      const stats1 = await redis.info('commandstats');
      if (user) {
        assert.equal(calls('hmget', stats1) - calls('hmget', stats0), 0);
        // One per field sent: 4 series, then 4 (the refused one on garbage counted too), 1, 5 re-sent.
        assert.equal(calls('hincrbyfloat', stats1) - calls('hincrbyfloat', stats0), 14);
        assert.equal(await server.cli('ACL', 'LOG'), '', 'the script asked for HMGET without running it');
        await server.cli('ACL', 'DELUSER', user);
      } else {
        assert.equal(calls('hincrbyfloat', stats1) - calls('hincrbyfloat', stats0), 0);
      }
      await writer.shutdown();
    });
  }

  it('a family sent in parts while it drains holds at most 16 parts in flight: with Redis paused the drain waits, and every sum lands once unpaused', async () => {
    const prefix = newPrefix('window');
    const writer = manager(prefix, 'writer');
    const reader = manager(prefix, 'reader');
    await Promise.all([writer.waitUntilConnected(), reader.waitUntilConnected()]);
    const c = new Counter({ name: 'window_total', help: 'W.', labelNames: ['i'], storage: writer, registers: [] });
    const n = 40_000;
    const incAll = () => {
      for (let i = 0; i < n; i++) c.inc({ i });
    };
    incAll();
    await writer.flush();
    incAll();
    // Redis runs no write (nor script) until unpaused: every part sent stays unanswered.
    await redis.call('CLIENT', 'PAUSE', '60000', 'WRITE');
    const flushing = writer.flush();
    const family = c.family!;
    const turn = () => new Promise((resolve) => setImmediate(resolve));
    for (let k = 0; k < 10_000 && family.pending.length < 16; k++) await turn();
    // A drain not held back would hand over all twenty parts within these turns: every turn drains
    // at least one pacer slice (128 values or more).
    for (let k = 0; k < 600; k++) await turn();
    assert.deepEqual([family.pending.map((b) => b.sums.count / 2), family.draining !== undefined], [Array(16).fill(2000), true]);
    await redis.call('CLIENT', 'UNPAUSE');
    await flushing;
    assert.equal(family.pending.length, 0);
    const { __epoch, ...cluster } = await redis.hgetall(`${prefix}:counter:cluster:metric:{${family.hash}}`);
    assert.deepEqual([Object.keys(cluster).length, [...new Set(Object.values(cluster))]], [n, ['2']]);
    const read = (await reader.getCollector().getFamily('window_total')).values;
    assert.deepEqual([read.length, [...new Set(read.map((v) => v.value))]], [n, [2]]);
    await Promise.all([writer.shutdown(), reader.shutdown()]);
  });

  it('a family sent in parts while it drains: a part not applied holds back the ones after it, the next flush sends them all in order', async () => {
    const prefix = newPrefix('streamed');
    const writer = manager(prefix, 'writer');
    await writer.waitUntilConnected();
    const c = new Counter({ name: 'streamed_total', help: 'S.', labelNames: ['i'], storage: writer, registers: [] });
    const n = 5000;
    const incAll = (by: number) => {
      for (let i = 0; i < n; i++) c.inc({ i }, by);
    };
    const sums = async () => {
      const { __epoch, ...cluster } = await redis.hgetall(`${prefix}:counter:cluster:metric:{${c.family!.hash}}`);
      return new Set(Object.values(cluster)).size === 1 && Object.keys(cluster).length === n ? Object.values(cluster)[0] : cluster;
    };
    incAll(1);
    await writer.flush();
    // Garbage where the meta hash should be: every part is refused, nothing is added.
    const metaKey = `${prefix}:counter:cluster:meta:{${c.family!.hash}}`;
    await redis.del(metaKey);
    await redis.set(metaKey, 'garbage');
    incAll(2);
    await assert.rejects(writer.flush(), { code: 'ERR_PCR_REDIS' });
    assert.equal(await sums(), '1');
    assert.deepEqual(c.family!.pending.map((b) => b.sums.count / 2), [2000, 2000, 1000]);
    const [p1, p2, p3] = c.family!.pending;
    assert.deepEqual([p1!.after, p2!.after, p3!.after], [undefined, p1!.seq, p2!.seq]);
    await redis.del(metaKey);
    // The second part alone (as if the first had been refused, OOM say, while it was on its way):
    // it must not overtake the first. Refused, nothing written; a retry of the first then applies.
    const send = async (b: FamilyBatch) => {
      const named = flushKeys(b, writer.client!.keys, writer.identity.id);
      const args = [named.keys.length, ...named.keys, named.roles, ...flushArgs(b, seqFieldOf(writer.identity), writer.config.ttlSeconds, metaPairs(b.family))];
      const [reply] = writer.client!.send([{ name: 'pcrFlushFamily', args, key: named.keys[0]! }], 5000, 'flush');
      return ((await reply!).value as unknown[])[0];
    };
    assert.equal(await send(c.family!.pending[1]!), -3);
    assert.equal(await sums(), '1');
    // Nor where this process has no seq yet: Redis emptied, the second part of a re-send (flagged reset)
    // arrives alone. The epoch it began holds no sums; its first part then applies, then it.
    const keys = await redis.keys(`${prefix}:counter:*`);
    const saved = await Promise.all(keys.map(async (k) => [k, await redis.dumpBuffer(k)] as const));
    for (const k of keys) await redis.del(k);
    assert.equal(await send({ ...c.family!.pending[1]!, flags: c.family!.pending[1]!.flags | FLAG_RESET }), -3);
    assert.deepEqual(await redis.hkeys(`${prefix}:counter:cluster:metric:{${c.family!.hash}}`), ['__epoch']);
    for (const k of await redis.keys(`${prefix}:counter:*`)) await redis.del(k);
    for (const [k, v] of saved) await redis.restore(k, 0, v!);
    incAll(4);
    await writer.flush();
    assert.equal(await sums(), '7');
    assert.equal(c.family!.pending.length, 0);
    await writer.shutdown();
  });
});
