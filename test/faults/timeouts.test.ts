// Issue 3, item 8: flush and collect have timeouts. A frozen Redis (SIGSTOP) does not hang a scrape
// past collectTimeoutMs: metrics() rejects with a TimeoutError (ERR_PCR_TIMEOUT) instead of serving
// local-only totals (HTTP integrations answer 503). A flush that timed out keeps its data, and the
// late execution of the timed-out command by Redis is not counted twice.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, RedisStorageManager, TimeoutError, startMetricsServer } from '../../src/index.js';
import { startRedis, newPrefix, type RedisServer } from '../helpers/redis-server.js';
import { startProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { startScraper } from '../helpers/scraper.js';
import { keepAlive } from '../helpers/reaper.js';
import { samples } from './support.js';

describe('timeouts', () => {
  let server: RedisServer;
  let proxy: TcpProxy;
  const managers: RedisStorageManager[] = [];

  before(async () => {
    server = await startRedis();
    proxy = await startProxy(server.port);
  });

  after(async () => {
    server?.thaw();
    await Promise.all(managers.map((m) => m.shutdown()));
    await proxy?.close();
    await server?.stop();
  });

  function writerOf(prefix: string, url = server.url) {
    const writer = new RedisStorageManager({
      enabled: true, url, keyPrefix: prefix, flushIntervalMs: 3_600_000, exitHooks: false,
      flushTimeoutMs: 300, collectTimeoutMs: 300, shutdownTimeoutMs: 500, identity: { host: 'w', pid: 1, nonce: 'n' },
    });
    managers.push(writer);
    return writer;
  }

  it('a scrape against a frozen Redis rejects with ERR_PCR_TIMEOUT within collectTimeoutMs, not with local totals', async () => {
    const prefix = newPrefix('frozen-collect');
    const writer = writerOf(prefix);
    const counter = new Counter({ name: 'jobs_total', help: 'Jobs.', storage: writer, registers: [] });
    await writer.waitUntilConnected(5000);
    counter.inc(5);
    await writer.flush();
    const scraper = await startScraper(server, prefix, { collectTimeoutMs: 400, exitHooks: false });
    managers.push(scraper);
    counter.inc(2); // unflushed: local-only totals would show 2 (or 7) and be wrong either way
    const http = await startMetricsServer({ storage: scraper, port: 0, bindAddress: '127.0.0.1' });

    server.freeze();
    try {
      // The HTTP integration turns the rejection into a 503 that says why, with no samples.
      const response = await fetch(`${http.url}/metrics`);
      assert.equal(response.status, 503);
      // (The collect's deadline names itself, whichever of its timer and its round trip's fires first.)
      assert.equal(await response.text(), "# Redis data is missing: collect: not done within collectTimeoutMs (400 ms)\n# No totals are served rather than this process's local figures.\n");
      for (const manager of [scraper, writer]) {
        const started = Date.now();
        const error = await manager.getCollector().metrics().then(() => undefined, (e: unknown) => e);
        const elapsed = Date.now() - started;
        assert.ok(error instanceof TimeoutError, `expected a TimeoutError, got ${String(error)}`);
        assert.equal(error.code, 'ERR_PCR_TIMEOUT');
        // Generous: the bound is collectTimeoutMs (300-400 ms); a loaded CI machine adds latency.
        assert.ok(elapsed < 3000, `the scrape took ${elapsed} ms`);
      }
      assert.equal(scraper.stats.collectFailures, 2);
      // The hot path does not notice.
      counter.inc(1);
    } finally {
      server.thaw();
    }
    await http.close();
    assert.equal(samples(await scraper.getCollector().metrics(), 'jobs_total'), 'jobs_total 5');
    assert.equal(samples(await writer.getCollector().metrics(), 'jobs_total'), 'jobs_total 8');
  });

  it('a flush against a frozen Redis times out, keeps its data, and is not counted twice once Redis answers', async () => {
    const prefix = newPrefix('frozen-flush');
    const writer = writerOf(prefix);
    const counter = new Counter({ name: 'jobs_total', help: 'Jobs.', storage: writer, registers: [] });
    await writer.waitUntilConnected(5000);
    counter.inc(5);
    await writer.flush();
    counter.inc(3);
    server.freeze();
    try {
      await assert.rejects(writer.flush(), { code: 'ERR_PCR_TIMEOUT' });
      assert.equal(writer.stats.flushErrors.get('timeout'), 1);
      assert.equal(counter.family!.pending.length, 1);
    } finally {
      server.thaw();
    }
    // Redis now runs the command it received while frozen; the retry (same seq) must be a no-op.
    await writer.flush();
    assert.equal(counter.family!.pending.length, 0);
    const scraper = await startScraper(server, prefix, { exitHooks: false });
    managers.push(scraper);
    assert.equal(samples(await scraper.getCollector().metrics(), 'jobs_total'), 'jobs_total 8');
  });

  it('a slow Redis (replies delayed past the timeout) fails the scrape; a Redis that is down fails it at once', async () => {
    const prefix = newPrefix('slow');
    const writer = writerOf(prefix, `redis://${proxy.host}:${proxy.port}`);
    const counter = new Counter({ name: 'jobs_total', help: 'Jobs.', storage: writer, registers: [] });
    await writer.waitUntilConnected(5000);
    counter.inc(4);
    await writer.flush();
    proxy.setDelay(1500);
    try {
      await assert.rejects(writer.getCollector().metrics(), { code: 'ERR_PCR_TIMEOUT' });
    } finally {
      proxy.setDelay(0);
    }
    proxy.refuse(true);
    proxy.cutAll();
    try {
      const started = Date.now();
      await assert.rejects(writer.getCollector().metrics(), { code: 'ERR_PCR_REDIS' });
      assert.ok(Date.now() - started < 1000);
    } finally {
      proxy.refuse(false);
    }
    await keepAlive(writer.waitUntilConnected(10_000));
    assert.equal(samples(await writer.getCollector().metrics(), 'jobs_total'), 'jobs_total 4');
  });
});
