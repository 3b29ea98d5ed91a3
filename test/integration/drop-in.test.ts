// Drop-in for prom-client with Redis on: what a second metric object of a name means for the shadow
// store and for Redis, exemplars across processes, and the first calls of a process that has not
// connected yet. Real redis-server processes; in-process managers with fixed identities.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as prom from 'prom-client';
import { Counter, Gauge, Histogram, RedisStorageManager } from '../../src/index.js';
import { newPrefix, startRedis } from '../helpers/redis-server.js';
import { redisSuite } from '../helpers/redis-suite.js';
import { freePort } from '../helpers/ports.js';
import { withDeadline } from '../helpers/reaper.js';
import { familyText } from '../helpers/scraper.js';

describe('drop-in for prom-client, Redis on', () => {
  const suite = redisSuite();
  const manager = (prefix: string, host: string, options: object = {}) =>
    suite.track(new RedisStorageManager({ enabled: true, url: suite.server.url, keyPrefix: prefix, flushIntervalMs: 3_600_000, identity: { host, pid: 1, nonce: 'n' }, ...options }));

  it('a new object of a name takes the family over; its flushed totals survive a Redis that lost them', async () => {
    const prefix = newPrefix('replace');
    const writer = manager(prefix, 'writer');
    const scraper = manager(prefix, 'scraper');
    const registry = new prom.Registry();
    const first = new Counter({ name: 'jobs_total', help: 'Jobs.', registers: [registry], storage: writer });
    first.inc(5);
    await writer.flush();
    first.inc(2); // not flushed: stays with the old object
    registry.clear(); // as a test's afterEach, or a hot reload
    const second = new Counter({ name: 'jobs_total', help: 'Jobs.', registers: [registry], storage: writer });
    second.inc(1);
    assert.deepEqual((await second.get()).values, [{ labels: {}, value: 6 }], 'cluster-wide: 5 in Redis, 1 not flushed');
    assert.deepEqual((await first.get()).values, [{ labels: {}, value: 7 }], 'the old object shows its own');
    await writer.flush();
    assert.equal(familyText(await scraper.getCollector().metrics(), 'jobs_total'), '# HELP jobs_total Jobs.\n# TYPE jobs_total counter\njobs_total 6');
    await suite.server.cli('FLUSHALL');
    // The next flush learns the family was lost and re-sends what this process ever flushed: the
    // old object's 5 with the new one's 1. The writer is in the restoring registry from the first of
    // these flushes until the heartbeat of the round after its re-send (the third), and a scrape
    // meanwhile is held back (ERR_PCR_RESTORING).
    await writer.flush();
    await writer.flush();
    await writer.flush();
    assert.equal(familyText(await scraper.getCollector().metrics(), 'jobs_total'), '# HELP jobs_total Jobs.\n# TYPE jobs_total counter\njobs_total 6');
  });

  it('a new definition of a name rewrites the family\'s meta; a new type is another family', async () => {
    const prefix = newPrefix('redefine');
    const writer = manager(prefix, 'writer');
    const scraper = manager(prefix, 'scraper');
    new Gauge({ name: 'depth', help: 'Old help.', multiprocessMode: 'max', registers: [], storage: writer }).set(3);
    await writer.flush();
    new Gauge({ name: 'depth', help: 'New help.', labelNames: ['q'], multiprocessMode: 'max', registers: [], storage: writer }).set({ q: 'a' }, 4);
    await writer.flush();
    assert.equal(familyText(await scraper.getCollector().metrics(), 'depth'), '# HELP depth New help.\n# TYPE depth gauge\ndepth{q="a"} 4');
    assert.equal(await suite.server.cli('HGET', `${prefix}:gauge_max:cluster:meta:{${writer.dict.families.get('depth')!.hash}}`, 'labelNames'), '["q"]');
    assert.equal(await suite.server.cli('HLEN', `${prefix}:gauge_max:writer:1:n:metric:{${writer.dict.families.get('depth')!.hash}}`), '1', 'the old object\'s field is gone');
  });

  it('get() with Redis: label values of their given type, a pid label for gauges of mode all', async () => {
    const prefix = newPrefix('shapes');
    const writer = manager(prefix, 'writer');
    const c = new Counter({ name: 'codes_total', help: 'C.', labelNames: ['code'], registers: [], storage: writer });
    c.inc({ code: 200 });
    await writer.flush();
    const other = manager(prefix, 'other');
    new Counter({ name: 'codes_total', help: 'C.', labelNames: ['code'], registers: [], storage: other }).inc({ code: '404' }, 2);
    await other.flush();
    assert.deepEqual((await c.get()).values, [{ labels: { code: 200 }, value: 1 }, { labels: { code: '404' }, value: 2 }]);
    const g = new Gauge({ name: 'temp', help: 'T.', registers: [], storage: writer });
    g.set(21);
    assert.deepEqual((await g.get()).values, [{ labels: { pid: 'writer:1:n' }, value: 21 }]);
  });

  it('exemplars: the latest of any process, by its timestamp, in OpenMetrics', async () => {
    const prefix = newPrefix('exemplars');
    const registry = new prom.Registry();
    (registry as unknown as { setContentType(t: string): void }).setContentType(prom.Registry.OPENMETRICS_CONTENT_TYPE);
    const realNow = Date.now;
    let now = 1_700_000_000_000;
    Date.now = () => now;
    try {
      const a = manager(prefix, 'a');
      const b = manager(prefix, 'b');
      const scraper = manager(prefix, 'scraper');
      scraper.getCollector().setContentType(prom.Registry.OPENMETRICS_CONTENT_TYPE);
      const opts = { name: 'req_seconds', help: 'R.', buckets: [1], enableExemplars: true, registers: [registry] };
      const ha = new Histogram({ ...opts, storage: a });
      const hb = new Histogram({ ...opts, registers: [], storage: b });
      ha.observe({ value: 0.5, exemplarLabels: { traceId: 'a1' } });
      now += 1000;
      hb.observe({ value: 0.25, exemplarLabels: { traceId: 'b1' } });
      await Promise.all([a.flush(), b.flush()]);
      const lines = () => scraper.getCollector().metrics().then((t) => t.split('\n').filter((l) => l.startsWith('req_seconds_bucket')));
      assert.deepEqual(await lines(), ['req_seconds_bucket{le="1"} 2 # {traceId="b1"} 0.25 1700000001', 'req_seconds_bucket{le="+Inf"} 2']);
      now += 1000;
      ha.observe({ value: 0.75, exemplarLabels: { traceId: 'a2' } });
      // Not flushed yet: process a's own scrape shows its newer exemplar at once (read-your-writes).
      const own = await a.getCollector().metrics(prom.Registry.OPENMETRICS_CONTENT_TYPE);
      assert.match(own, /^req_seconds_bucket\{le="1"\} 3 # \{traceId="a2"\} 0\.75 1700000002$/m);
      await a.flush();
      assert.deepEqual(await lines(), ['req_seconds_bucket{le="1"} 3 # {traceId="a2"} 0.75 1700000002', 'req_seconds_bucket{le="+Inf"} 3']);
      // An older exemplar flushed late does not replace a newer one.
      now -= 5000;
      hb.observe({ value: 0.1, exemplarLabels: { traceId: 'late' } });
      await b.flush();
      assert.deepEqual(await lines(), ['req_seconds_bucket{le="1"} 4 # {traceId="a2"} 0.75 1700000002', 'req_seconds_bucket{le="+Inf"} 4']);
    } finally {
      Date.now = realNow;
    }
  });

  it('the first flush and the first scrape of a process wait for its first connection', async () => {
    const prefix = newPrefix('first-call');
    const fresh = manager(prefix, 'fresh');
    assert.equal(fresh.isConnected(), false, 'still connecting');
    new Counter({ name: 'boot_total', help: 'B.', registers: [], storage: fresh }).inc(3);
    await fresh.flush();
    const scraper = manager(prefix, 'scraper');
    assert.equal(scraper.isConnected(), false, 'still connecting');
    assert.equal(familyText(await scraper.getCollector().metrics(), 'boot_total'), '# HELP boot_total B.\n# TYPE boot_total counter\nboot_total 3');
    assert.equal(fresh.stats.flushFailures, 0);
  });

  it('flushes before the first connection are not counted as failures (a deploy before Redis is up)', async () => {
    const port = await freePort();
    const prefix = newPrefix('late-redis');
    const early = suite.track(new RedisStorageManager({ enabled: true, url: `redis://127.0.0.1:${port}`, keyPrefix: prefix, flushIntervalMs: 20, flushTimeoutMs: 50, identity: { host: 'early', pid: 1, nonce: 'n' } }));
    new Counter({ name: 'early_total', help: 'E.', registers: [], storage: early }).inc(4);
    // Several refused connection attempts, each after more than one flush interval.
    // (events.once() would reject on the 'error' event that comes with each refusal; the deadline's
    // timer also holds the event loop, which the library's unref()ed sockets and timers do not.)
    await withDeadline(new Promise<void>((resolve) => {
      let n = 0;
      const onReconnecting = () => {
        if (++n < 3) return;
        early.client!.redis.off('reconnecting', onReconnecting);
        resolve();
      };
      early.client!.redis.on('reconnecting', onReconnecting);
    }), 10_000, () => 'three reconnection attempts');
    assert.equal(early.stats.flushFailures, 0);
    assert.equal(early.stats.flushes, 0);
    const late = await startRedis({ port });
    try {
      await early.waitUntilConnected(5000);
      await early.flush();
      assert.equal(early.stats.flushFailures, 0);
      assert.deepEqual([...early.stats.flushErrors], []);
      assert.equal(await late.cli('HGET', `${prefix}:counter:cluster:metric:{${early.dict.families.get('early_total')!.hash}}`, '[]'), '4');
      await early.shutdown();
    } finally {
      await late.stop();
    }
  });
});
