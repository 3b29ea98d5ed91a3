// What the flush side tells a collector about a restoration (docs/design.md, Restoration): a writer
// that finds Redis lost its data is in `{prefix}:restoring:{registry}` from the heartbeat that
// re-registers it until all its checks and re-sends are acknowledged. So whenever every writer is
// live and none is restoring, the families are complete: an observer reads the registry and the
// sums atomically every 5 ms through 3 FLUSHALLs and 2 empty restarts, and checks every sample.
// Writer B reaches Redis through a proxy that delays its replies 60 ms: it restores in several
// hundred ms, long after A (a local Redis restores A in a few ms).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { Counter, Histogram, RedisStorageManager, startMetricsServer } from '../../src/index.js';
import { newPrefix, startRedis, type RedisServer } from '../helpers/redis-server.js';
import { startProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

// KEYS: live zset, restoring zset, then the cluster hashes. Returns {now, live..., '|', restoring..., '|', sums of field '[]'...}.
const SNAPSHOT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {tostring(now)}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf')) do out[#out + 1] = id end
out[#out + 1] = '|'
for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do out[#out + 1] = id end
out[#out + 1] = '|'
for i = 3, #KEYS do out[#out + 1] = redis.call('HGET', KEYS[i], ARGV[i - 2]) or '-' end
return out`;

describe('the restoring registry', () => {
  let server: RedisServer;
  const managers: RedisStorageManager[] = [];
  let observer: Redis | undefined;
  let proxy: TcpProxy;

  before(async () => {
    server = await startRedis();
    proxy = await startProxy(server.port);
    proxy.setDelay(60);
  });

  after(async () => {
    observer?.disconnect();
    await Promise.all(managers.map((m) => m.shutdown()));
    await proxy?.close();
    await server?.stop();
  });

  it('while every writer is live and none is restoring, every family is complete, through FLUSHALL and empty restarts', async () => {
    const prefix = newPrefix('restoring');
    const writers = ['a', 'b'].map((host) => {
      const url = host === 'a' ? server.url : `redis://${proxy.host}:${proxy.port}`;
      const m = new RedisStorageManager({ enabled: true, url, keyPrefix: prefix, flushIntervalMs: 100, exitHooks: false, identity: { host, pid: 1, nonce: 'n' } });
      managers.push(m);
      m.logger.warn = () => {};
      const storage = { storage: m, registers: [] };
      return { m, jobs: new Counter({ name: 'jobs_total', help: 'Jobs.', ...storage }), lat: new Histogram({ name: 'lat_seconds', help: 'Lat.', buckets: [1], ...storage }) };
    });
    writers[0]!.jobs.inc(1000);
    writers[1]!.jobs.inc(1);
    writers[0]!.lat.observe(0.5);
    writers[1]!.lat.observe(3);
    for (const w of writers) {
      await w.m.waitUntilConnected(5000);
      await w.m.flush();
    }
    const h = (f: { family?: { typeMode: string; hash: string } }) => `${prefix}:${f.family!.typeMode}:cluster:metric:{${f.family!.hash}}`;
    const keys = [`${prefix}:live:{registry}`, `${prefix}:restoring:{registry}`, h(writers[0]!.jobs), h(writers[0]!.lat), h(writers[0]!.lat)];
    const fields = ['[]', '[]#count', '[]#1'];
    const complete = ['1001', '2', '1'];
    observer = new Redis({ ...server.redisOptions(), maxRetriesPerRequest: 0, retryStrategy: () => 20 });
    observer.on('error', () => {});

    interface Snapshot { atMs: number; live: string[]; restoring: string[]; sums: string[] }
    const seen: Snapshot[] = [];
    let stop = false;
    const sampling = (async () => {
      while (!stop) {
        const reply = (await observer!.eval(SNAPSHOT, keys.length, ...keys, ...fields).catch(() => undefined)) as string[] | undefined;
        if (reply) {
          const [, ...rest] = reply;
          const a = rest.indexOf('|');
          const b = rest.indexOf('|', a + 1);
          seen.push({ atMs: Date.now(), live: rest.slice(0, a).sort(), restoring: rest.slice(a + 1, b).sort(), sums: rest.slice(b + 1) });
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    })();

    const everyone = ['a:1:n', 'b:1:n'];
    const settled = (s: Snapshot | undefined) => s !== undefined && everyone.every((id) => s.live.includes(id)) && s.restoring.length === 0;
    const faults: Array<{ kind: string; atMs: number }> = [];
    for (const kind of ['flushall', 'restart', 'flushall', 'restart', 'flushall']) {
      faults.push({ kind, atMs: Date.now() });
      if (kind === 'flushall') await observer.flushall();
      else await server.restartEmpty();
      const doneAt = Date.now();
      // Until both writers are back and done: no event says so to the test, it reads Redis.
      const deadline = doneAt + 10_000;
      while (!(settled(seen.at(-1)) && seen.at(-1)!.atMs > doneAt) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.ok(settled(seen.at(-1)), `not restored after ${kind}: ${JSON.stringify(seen.at(-1))}`);
    }
    stop = true;
    await sampling;

    // Every sample where both writers were live and none restoring showed every family complete.
    const wrong = seen.filter((s) => settled(s) && s.sums.join() !== complete.join());
    assert.deepEqual(wrong, []);
    // Each fault was visible: a sample with a writer restoring, and one that was incomplete.
    for (const [i, fault] of faults.entries()) {
      const during = seen.filter((s) => s.atMs >= fault.atMs && s.atMs < (faults[i + 1]?.atMs ?? Infinity));
      assert.ok(during.some((s) => s.restoring.length > 0), `${fault.kind} ${i}: no sample showed a writer restoring`);
      assert.ok(during.some((s) => s.sums.join() !== complete.join()), `${fault.kind} ${i}: no sample showed the loss`);
    }
    // The family's epoch and its birth (Redis time, after the last fault) come with every read.
    const scraperClient = writers[0]!.m.client!;
    const k = scraperClient.keys;
    const f = writers[0]!.jobs.family!;
    const ks = [k.meta(f.typeMode, f.hash), k.cluster(f.typeMode, f.hash), k.seq(f.typeMode, f.hash), k.exemplar(f.typeMode, f.hash), k.created(f.typeMode, f.hash)];
    const [reply] = await scraperClient.run([{ name: 'pcrReadFamily', args: [ks.length, ...ks, '', '', '1'], key: ks[0] }], 5000, 'test');
    const values = reply!.value as unknown[];
    const [epoch, born] = [await server.cli('HGET', k.seq(f.typeMode, f.hash), '__epoch'), Number(await server.cli('HGET', k.seq(f.typeMode, f.hash), '__born'))];
    // 1: the epoch began from a loss (the writers' re-sends after the FLUSHALL).
    assert.equal(await server.cli('HGET', k.seq(f.typeMode, f.hash), '__restored'), '1');
    assert.deepEqual(values.slice(5), [epoch, born, 1]);
    assert.ok(born >= faults.at(-1)!.atMs - 1000 && born <= Date.now() + 1000, `born ${born}`);
    console.log(`# restoring: ${seen.length} samples, ${seen.filter((s) => s.restoring.length > 0).length} with a writer restoring`);
  });

  it('a collector that starts after a loss, with a writer not yet beaten since, holds back until every writer could have beaten', async () => {
    const prefix = newPrefix('restoring-late');
    const make = (host: string, flushIntervalMs: number) => {
      const m = new RedisStorageManager({ enabled: true, url: server.url, keyPrefix: prefix, flushIntervalMs, exitHooks: false, identity: { host, pid: 1, nonce: 'n' } });
      managers.push(m);
      m.logger.warn = () => {};
      return { m, jobs: new Counter({ name: 'jobs_total', help: 'Jobs.', storage: m, registers: [] }) };
    };
    // B beats every second (live timeout 3 s): after a FLUSHALL, Redis knows nothing of it for up to 1 s.
    const a = make('a', 100);
    const b = make('b', 1000);
    a.jobs.inc(1000);
    b.jobs.inc(1);
    for (const w of [a, b]) {
      await w.m.waitUntilConnected(5000);
      await w.m.flush();
    }
    const family = a.jobs.family!;
    const sums = `${prefix}:${family.typeMode}:cluster:metric:{${family.hash}}`;
    assert.equal(await server.cli('FLUSHALL'), 'OK');
    const lostAt = Date.now();
    // A's part is back and A is done (no event says so to the test: it reads Redis).
    while (!((await server.cli('HGET', sums, '[]')) === '1000' && (await server.cli('ZCARD', `${prefix}:restoring:{registry}`)) === '0')) {
      assert.ok(Date.now() - lostAt < 5000, 'A did not restore');
      await new Promise((r) => setTimeout(r, 10));
    }
    const bHadBeaten = (await server.cli('ZSCORE', `${prefix}:processes:{registry}`, 'b:1:n')) !== '';
    // An exporter started now (as `serve` is) has no memory of B; its own live timeout (3 s) is
    // what it waits at most.
    const reader = new RedisStorageManager({ enabled: true, url: server.url, keyPrefix: prefix, flushIntervalMs: 1000, exitHooks: false, identity: { host: 'reader', pid: 1, nonce: 'n' } });
    managers.push(reader);
    const http = await startMetricsServer({ storage: reader, port: 0, bindAddress: '127.0.0.1' });
    await reader.waitUntilConnected(5000);
    const answers: string[] = [];
    while (answers.at(-1) !== 'jobs_total 1001') {
      const r = await fetch(`${http.url}/metrics`);
      const text = await r.text();
      answers.push(r.status === 503 && /not restored/.test(text) ? '503' : r.status !== 200 ? `${r.status} ${text}` : (text.split('\n').find((l) => l.startsWith('jobs_total ')) ?? '(none)'));
      assert.ok(Date.now() - lostAt < 10_000, `not complete: ${answers.at(-1)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const heldMs = Date.now() - lostAt;
    await http.close();
    // Never A's part alone: held back (up to 3 s after A's re-send began the epoch), then complete.
    assert.deepEqual([...new Set(answers)], ['503', 'jobs_total 1001']);
    assert.ok(heldMs >= 2900, `held back only ${heldMs} ms`);
    console.log(`# restoring, a reader started after the loss: ${answers.length - 1} answers of 503, complete ${heldMs} ms after the FLUSHALL (B had${bHadBeaten ? '' : ' not'} beaten when it started)`);
  });
});
