// Issue 3, item 5. A process that exits normally (event loop ran dry, SIGTERM/SIGINT without a
// listener of the app's own) makes a final flush within shutdownTimeoutMs; an app with its own
// SIGTERM listener keeps control. A process killed with SIGKILL keeps its flushed counts in the
// totals, leaves the live* modes once its heartbeat lapses, and its per-process keys expire.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import type { RedisStorageManager } from '../../src/index.js';
import { startRedis, newPrefix, type RedisServer } from '../helpers/redis-server.js';
import { startProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { runNode } from '../helpers/processes.js';
import { startScraper } from '../helpers/scraper.js';
import { pollUntil } from '../helpers/reaper.js';
import { samples } from './support.js';

const WRITER = fileURLToPath(new URL('../fixtures/fault-writer.js', import.meta.url));
/** What writer 1 writes (see the fixture). */
const WRITER_1 = ['jobs_total 10', 'lat_seconds_bucket{le="5"} 1', 'lat_seconds_bucket{le="+Inf"} 1', 'lat_seconds_sum 1', 'lat_seconds_count 1', 'load 1'].join('\n');
const NAMES = ['jobs_total', 'load', 'lat_seconds'];

describe('process exit', () => {
  let server: RedisServer;
  let proxy: TcpProxy;
  const scrapers: RedisStorageManager[] = [];

  before(async () => {
    server = await startRedis();
    proxy = await startProxy(server.port);
  });

  after(async () => {
    await Promise.all(scrapers.map((s) => s.shutdown()));
    await proxy?.close();
    await server?.stop();
  });

  async function scraperOf(prefix: string, options = {}) {
    const scraper = await startScraper(server, prefix, { exitHooks: false, ...options });
    scrapers.push(scraper);
    return scraper;
  }

  // No timer flush (1 h interval): only the final flush can deliver the writes.
  const env = (prefix: string, end: string, extra: Record<string, string> = {}) => ({
    env: { WRITER_INDEX: '1', TEST_REDIS_URL: server.url, TEST_PREFIX: prefix, FLUSH_MS: '3600000', END: end, ...extra },
  });

  it('a process whose event loop runs dry flushes on beforeExit and exits by itself', async () => {
    const prefix = newPrefix('exit-natural');
    const child = runNode(WRITER, env(prefix, 'natural'));
    assert.deepEqual(await child.exited, { code: 0, signal: null });
    assert.equal(child.stdoutLines.join('\n'), 'written');
    const scraper = await scraperOf(prefix);
    assert.equal(samples(await scraper.getCollector().metrics(), ...NAMES), WRITER_1);
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal} with no listener of the app: final flush, then the process still ends by ${signal}`, async () => {
      const prefix = newPrefix(`exit-${signal}`);
      const child = runNode(WRITER, env(prefix, 'wait'));
      await child.waitForLine(/^written$/);
      const scraper = await scraperOf(prefix, { liveTimeoutMs: 60_000 });
      assert.equal(samples(await scraper.getCollector().metrics(), 'jobs_total'), '');
      assert.deepEqual(await child.kill(signal), { code: null, signal });
      const text = await scraper.getCollector().metrics();
      assert.equal(samples(text, ...NAMES), WRITER_1);
      // The exit heartbeat took it out of the live set at once .
      assert.equal(await server.cli('ZSCORE', `${prefix}:live:{registry}`, 'w1:101:n'), '');
    });
  }

  it('an app with its own SIGTERM listener keeps control of its shutdown', async () => {
    const prefix = newPrefix('exit-app');
    const child = runNode(WRITER, env(prefix, 'app-sigterm'));
    await child.waitForLine(/^written$/);
    // Had the library re-raised SIGTERM, the process would die by the signal before the app's 200 ms.
    assert.deepEqual(await child.kill('SIGTERM'), { code: 0, signal: null });
    assert.equal(child.stdoutLines.join('\n'), 'written\napp shut down');
    const scraper = await scraperOf(prefix);
    assert.equal(samples(await scraper.getCollector().metrics(), ...NAMES), WRITER_1);
  });

  it('the final flush is bounded by shutdownTimeoutMs when Redis does not answer', async () => {
    const prefix = newPrefix('exit-blackhole');
    const child = runNode(WRITER, {
      env: { ...env(prefix, 'wait').env, TEST_REDIS_URL: `redis://${proxy.host}:${proxy.port}`, SHUTDOWN_MS: '600' },
    });
    await child.waitForLine(/^written$/);
    proxy.blackhole(true);
    try {
      const started = Date.now();
      assert.deepEqual(await child.kill('SIGTERM'), { code: null, signal: 'SIGTERM' });
      const elapsed = Date.now() - started;
      // 600 ms plus process teardown; generous for a loaded machine, far below a hang.
      assert.ok(elapsed >= 550 && elapsed < 5000, `exited ${elapsed} ms after SIGTERM`);
      assert.match(child.stderr(), /final flush not done within shutdownTimeoutMs \(600 ms\)/);
    } finally {
      proxy.blackhole(false);
      proxy.cutAll();
    }
    // Nothing reached Redis, and nothing will: the writes of that process are lost, not doubled.
    const scraper = await scraperOf(prefix);
    assert.equal(samples(await scraper.getCollector().metrics(), ...NAMES), '');
  });

  it('SIGKILL: flushed counts stay; its per-process keys expire after the TTL and its gauges leave the totals', async () => {
    const prefix = newPrefix('exit-kill');
    const survivor = runNode(WRITER, { env: { WRITER_INDEX: '2', TEST_REDIS_URL: server.url, TEST_PREFIX: prefix, FLUSH_MS: '100', TTL_SECONDS: '1' } });
    const victim = runNode(WRITER, { env: { WRITER_INDEX: '1', TEST_REDIS_URL: server.url, TEST_PREFIX: prefix, FLUSH_MS: '100', TTL_SECONDS: '1' } });
    await Promise.all([survivor.waitForLine(/^flushed$/), victim.waitForLine(/^flushed$/)]);
    const scraper = await scraperOf(prefix, { liveTimeoutMs: 500 });
    assert.equal(samples(await scraper.getCollector().metrics(), 'jobs_total', 'load', 'up'), 'jobs_total 30\nload 3\nup{pid="w1:101:n"} 1\nup{pid="w2:102:n"} 1');
    await victim.kill('SIGKILL');
    // Its per-process hashes expire one TTL (1 s) after its last flush: poll, there is no event.
    await pollUntil('the killed process\'s keys to expire', async () => ((await server.cli('KEYS', `${prefix}:*:w1:101:n:*`)) === '' ? true : undefined), { timeoutMs: 10_000, intervalMs: 100 });
    const text = await scraper.getCollector().metrics();
    // Counters never go down because a worker died; its gauges leave with its keys.
    assert.equal(samples(text, 'jobs_total', 'load', 'up'), 'jobs_total 30\nload 2\nup{pid="w2:102:n"} 1');
    await survivor.kill('SIGTERM');
  });
});
