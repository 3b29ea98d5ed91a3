// Issue 3, item 4: Redis restarted empty. The live processes' metrics are back within two flush
// intervals of the reconnection, and nothing is counted twice.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { Counter, Gauge, Histogram, Summary, RedisStorageManager } from '../../src/index.js';
import { startRedis, newPrefix, type RedisServer } from '../helpers/redis-server.js';
import { runNode, type NodeChild } from '../helpers/processes.js';
import { startScraper } from '../helpers/scraper.js';
import { keepAlive } from '../helpers/reaper.js';
import { samples, scrapeUntil } from './support.js';

const WRITER = fileURLToPath(new URL('../fixtures/fault-writer.js', import.meta.url));
const NAMES = ['jobs_total', 'load', 'lat_seconds'];
// Writers 1, 2, 3: counter 10+20+30, gauge (sum) 1+2+3, one observation each of 1, 2, 3.
const EXPECTED = [
  'jobs_total 60',
  'lat_seconds_bucket{le="5"} 3',
  'lat_seconds_bucket{le="+Inf"} 3',
  'lat_seconds_sum 6',
  'lat_seconds_count 3',
  'load 6',
].join('\n');

describe('Redis restarted empty, three real writer processes', () => {
  let server: RedisServer;
  let scraper: RedisStorageManager;
  const prefix = newPrefix('restart');
  const writers: NodeChild[] = [];

  before(async () => {
    server = await startRedis();
    for (const i of [1, 2, 3]) {
      const w = runNode(WRITER, { env: { WRITER_INDEX: String(i), TEST_REDIS_URL: server.url, TEST_PREFIX: prefix, FLUSH_MS: '200' } });
      writers.push(w);
    }
    await Promise.all(writers.map((w) => w.waitForLine(/^flushed$/, 15_000)));
    scraper = await startScraper(server, prefix);
  });

  after(async () => {
    await scraper?.shutdown();
    await Promise.all(writers.map((w) => w.kill('SIGKILL')));
    await server?.stop();
  });

  it('restores every live process\'s full state, and a later flush adds nothing twice', async () => {
    assert.equal(samples(await scraper.getCollector().metrics(), ...NAMES), EXPECTED);
    await server.restartEmpty();
    // The writers are idle: only the reconnection tells them to check their families.
    assert.equal(await scrapeUntil(scraper, NAMES, EXPECTED, 15_000), EXPECTED);
    // Each writer flushes again (its own event, not a sleep): still exactly the same totals.
    for (const w of writers) w.child.kill('SIGUSR1');
    await Promise.all(writers.map((w) => w.waitForLine(/^flushed again$/, 10_000)));
    assert.equal(samples(await scraper.getCollector().metrics(), ...NAMES), EXPECTED);
  });
});

describe('Redis restarted empty, measured in flush intervals', () => {
  let server: RedisServer;
  const prefix = newPrefix('restart-interval');
  const managers: RedisStorageManager[] = [];

  before(async () => {
    server = await startRedis();
  });

  after(async () => {
    await Promise.all(managers.map((m) => m.shutdown()));
    await server?.stop();
  });

  it('every type is back within two flush intervals of the reconnection', async () => {
    const flushIntervalMs = 1000;
    const writer = new RedisStorageManager({ enabled: true, url: server.url, keyPrefix: prefix, flushIntervalMs, exitHooks: false, identity: { host: 'w', pid: 1, nonce: 'n' } });
    const scraper = await startScraper(server, prefix, { exitHooks: false });
    managers.push(writer, scraper);
    const storage = { storage: writer, registers: [] };
    new Counter({ name: 'c_total', help: 'C.', labelNames: ['k'], ...storage }).inc({ k: 'a' }, 4);
    new Gauge({ name: 'g_max', help: 'G.', multiprocessMode: 'max', ...storage }).set(9);
    new Gauge({ name: 'g_all', help: 'G.', multiprocessMode: 'all', ...storage }).set(2);
    new Histogram({ name: 'h', help: 'H.', buckets: [1], ...storage }).observe(0.5);
    new Summary({ name: 's', help: 'S.', percentiles: [0.5], ...storage }).observe(7);
    await writer.waitUntilConnected(5000);
    await writer.flush();
    const names = ['c_total', 'g_max', 'g_all', 'h', 's'];
    const expected = [
      'c_total{k="a"} 4',
      'g_all{pid="w:1:n"} 2',
      'g_max 9',
      'h_bucket{le="1"} 1',
      'h_bucket{le="+Inf"} 1',
      'h_sum 0.5',
      'h_count 1',
      's{quantile="0.5"} 7',
      's_sum 7',
      's_count 1',
    ].join('\n');
    assert.equal(samples(await scraper.getCollector().metrics(), ...names), expected);

    const lostBefore = writer.stats.familiesLost;
    const ready = new Promise<number>((resolve) => writer.client!.redis.once('ready', () => resolve(Date.now())));
    await server.restartEmpty();
    // The library's socket and reconnect timer are unref()ed: hold the loop while waiting on them.
    const readyAt = await keepAlive(ready);
    assert.equal(await scrapeUntil(scraper, names, expected, 2 * flushIntervalMs), expected);
    const elapsed = Date.now() - readyAt;
    assert.ok(elapsed <= 2 * flushIntervalMs, `restored ${elapsed} ms after the reconnection`);
    assert.equal(writer.stats.familiesLost - lostBefore, 5);
    // And another flush of the writer's own adds nothing.
    await writer.flush();
    assert.equal(samples(await scraper.getCollector().metrics(), ...names), expected);
    // The writer's own collect agrees (read-your-writes after the re-send).
    assert.equal(samples(await writer.getCollector().metrics(), ...names), expected);
  });
});

describe('Redis emptied without a reconnection (FLUSHALL)', () => {
  let server: RedisServer;
  const managers: RedisStorageManager[] = [];

  before(async () => {
    server = await startRedis();
  });

  after(async () => {
    await Promise.all(managers.map((m) => m.shutdown()));
    await server?.stop();
  });

  it('the heartbeat notices its registry entry is gone, and the state is back within two flush intervals', async () => {
    const flushIntervalMs = 1000;
    const prefix = newPrefix('flushall');
    const writer = new RedisStorageManager({ enabled: true, url: server.url, keyPrefix: prefix, flushIntervalMs, exitHooks: false, identity: { host: 'w', pid: 1, nonce: 'n' } });
    const scraper = await startScraper(server, prefix, { exitHooks: false });
    managers.push(writer, scraper);
    new Counter({ name: 'c_total', help: 'C.', storage: writer, registers: [] }).inc(7);
    await writer.waitUntilConnected(5000);
    await writer.flush();
    assert.equal(samples(await scraper.getCollector().metrics(), 'c_total'), 'c_total 7');
    const lostBefore = writer.stats.familiesLost;
    await server.cli('FLUSHALL');
    const flushedAt = Date.now();
    // The scrape also waits for the writer's heartbeat that clears its restoring mark (the restore
    // gate), sent at once after its re-send is acknowledged; a loaded machine adds a little.
    assert.equal(await scrapeUntil(scraper, ['c_total'], 'c_total 7', 2 * flushIntervalMs + 500), 'c_total 7');
    const elapsed = Date.now() - flushedAt;
    assert.ok(elapsed <= 2 * flushIntervalMs + 500, `restored ${elapsed} ms after FLUSHALL`);
    assert.equal(writer.stats.familiesLost - lostBefore, 1);
    assert.equal(writer.client!.redis.status, 'ready');
  });
});

