// Issue 3, item 3: a flush whose reply is lost (the connection is cut right after the command was
// forwarded to Redis) is retried without being applied twice, and the writer's own collect, which
// adds its unacknowledged batches, does not add one that Redis has in fact applied.
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Histogram, RedisStorageManager } from '../../src/index.js';
import { startRedis, newPrefix, type RedisServer } from '../helpers/redis-server.js';
import { startProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { startScraper } from '../helpers/scraper.js';
import { keepAlive } from '../helpers/reaper.js';
import { samples } from './support.js';

describe('lost flush replies', () => {
  let server: RedisServer;
  let proxy: TcpProxy;
  const managers: RedisStorageManager[] = [];

  before(async () => {
    server = await startRedis();
    proxy = await startProxy(server.port);
  });

  after(async () => {
    await Promise.all(managers.map((m) => m.shutdown()));
    await proxy?.close();
    await server?.stop();
  });

  async function setup(t: TestContext, name: string) {
    const prefix = newPrefix(name);
    // The writer talks through the proxy; the scraper straight to Redis. No timer flush: the test
    // flushes by hand (the reconnection's own flush may also run; it must not change the totals).
    const writer = new RedisStorageManager({
      enabled: true, url: `redis://${proxy.host}:${proxy.port}`, keyPrefix: prefix, flushIntervalMs: 3_600_000, exitHooks: false, shutdownTimeoutMs: 1000,
      identity: { host: 'w', pid: 1, nonce: 'n' },
    });
    const scraper = await startScraper(server, prefix, { exitHooks: false, shutdownTimeoutMs: 1000 });
    managers.push(writer, scraper);
    await writer.waitUntilConnected(5000);
    t.after(() => Promise.all([writer.shutdown(), scraper.shutdown()]));
    const storage = { storage: writer, registers: [] };
    const counter = new Counter({ name: 'jobs_total', help: 'Jobs.', labelNames: ['k'], ...storage });
    const histogram = new Histogram({ name: 'lat', help: 'Latency.', buckets: [1], ...storage });
    return { writer, scraper, counter, histogram };
  }

  /** Cuts the writer's connection right after the first chunk carrying a flush script call went through. */
  function cutAfterFlushForwarded(): Promise<void> {
    return new Promise((resolve) => {
      const stop = proxy.onForward((chunk, connection) => {
        if (!chunk.includes(':cluster:seq:{')) return;
        stop();
        connection.cut();
        resolve();
      });
    });
  }

  it('a batch applied by Redis whose reply was lost is counted once, by the scraper and by the writer itself', async (t) => {
    const { writer, scraper, counter, histogram } = await setup(t, 'lost-reply');
    counter.inc({ k: 'a' }, 5);
    histogram.observe(0.5);
    await writer.flush();

    counter.inc({ k: 'a' }, 3);
    histogram.observe(2);
    const cut = cutAfterFlushForwarded();
    await assert.rejects(writer.flush());
    await cut;
    const expected = ['jobs_total{k="a"} 8', 'lat_bucket{le="1"} 1', 'lat_bucket{le="+Inf"} 2', 'lat_sum 2.5', 'lat_count 2'].join('\n');
    // Redis executed the command that was forwarded before the cut.
    assert.equal(samples(await scraper.getCollector().metrics(), 'jobs_total', 'lat'), expected);
    await keepAlive(writer.waitUntilConnected(5000));
    // The writer still holds the batch (unless its reconnection flush already retried it): either
    // way its own view must not add a batch Redis applied.
    assert.equal(samples(await writer.getCollector().metrics(), 'jobs_total', 'lat'), expected);
    // The retry (same seq) is acknowledged as already applied.
    await writer.flush();
    assert.equal(counter.family!.pending.length, 0);
    assert.equal(samples(await scraper.getCollector().metrics(), 'jobs_total', 'lat'), expected);
    counter.inc({ k: 'a' }, 2);
    await writer.flush();
    assert.equal(samples(await scraper.getCollector().metrics(), 'jobs_total'), 'jobs_total{k="a"} 10');
    assert.equal(samples(await writer.getCollector().metrics(), 'jobs_total'), 'jobs_total{k="a"} 10');
  });

  it('the writer\'s collect between the lost reply and the retry counts the batch exactly once', async (t) => {
    const { writer, counter } = await setup(t, 'lost-reply-collect');
    counter.inc({ k: 'a' }, 5);
    await writer.flush();
    counter.inc({ k: 'a' }, 3);
    const cut = cutAfterFlushForwarded();
    await assert.rejects(writer.flush());
    await cut;
    assert.equal(counter.family!.pending.length, 1, 'the batch is still unacknowledged');
    await keepAlive(writer.waitUntilConnected(5000));
    const text = await writer.getCollector().metrics();
    // Either Redis reported the batch as applied and the writer did not add it again, or the
    // reconnection's flush already acknowledged it: 8 in both cases, never 11.
    assert.equal(samples(text, 'jobs_total'), 'jobs_total{k="a"} 8');
  });

  it('a batch that never reached Redis is applied once when the connection is back', async (t) => {
    const { writer, scraper, counter } = await setup(t, 'never-sent');
    counter.inc({ k: 'a' }, 5);
    await writer.flush();
    proxy.refuse(true);
    proxy.cutAll();
    counter.inc({ k: 'a' }, 3);
    await assert.rejects(writer.flush(), { code: 'ERR_PCR_REDIS' });
    await assert.rejects(writer.flush(), { code: 'ERR_PCR_REDIS' });
    assert.equal(samples(await scraper.getCollector().metrics(), 'jobs_total'), 'jobs_total{k="a"} 5');
    proxy.refuse(false);
    await keepAlive(writer.waitUntilConnected(10_000));
    // After a reconnection the writer checks its families (Redis may have lost them) and is in the
    // restoring registry meanwhile, so a scrape is held back (ERR_PCR_RESTORING); the heartbeat of
    // the next round clears the mark.
    await writer.flush();
    await writer.flush();
    assert.equal(samples(await scraper.getCollector().metrics(), 'jobs_total'), 'jobs_total{k="a"} 8');
  });
});
