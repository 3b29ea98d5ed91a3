// Liveness is each writer's own promise: its heartbeat stores the deadline `now + liveTimeoutMs` of
// the writer, and a reader compares it with Redis's clock. A reader's own REDIS_LIVE_TIMEOUT_MS
// plays no part (issue 10: a writer flushing every 5 s showed in 36 of 60 scrapes of a scraper
// with a short timeout).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Gauge, RedisStorageManager } from '../../src/index.js';
import { newPrefix } from '../helpers/redis-server.js';
import { redisSuite } from '../helpers/redis-suite.js';
import { startScraper } from '../helpers/scraper.js';
import { samples } from '../faults/support.js';

describe('liveness by the writer\'s own timeout', () => {
  const redis = redisSuite();

  const redisNowMs = async (): Promise<number> => {
    const [sec, usec] = (await redis.server.cli('TIME')).split('\n');
    return Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
  };
  const scores = async (prefix: string, id: string) => ({
    beat: Number(await redis.server.cli('ZSCORE', `${prefix}:processes:{registry}`, id)),
    deadline: Number(await redis.server.cli('ZSCORE', `${prefix}:live:{registry}`, id)),
  });

  it('a writer flushing every 5 s is live in every scrape of a scraper whose own timeout is 300 ms', async () => {
    const prefix = newPrefix('live-slow');
    const writer = redis.track(new RedisStorageManager({ enabled: true, url: redis.server.url, keyPrefix: prefix, flushIntervalMs: 5000, exitHooks: false, identity: { host: 'slow', pid: 1, nonce: 'n' } }));
    new Gauge({ name: 'up', help: 'Up.', multiprocessMode: 'liveall', storage: writer, registers: [] }).set(1);
    await writer.waitUntilConnected(5000);
    await writer.flush();
    const scraper = redis.track(await startScraper(redis.server, prefix, { liveTimeoutMs: 300, exitHooks: false }));

    // Its default live timeout is 3 × its interval: the deadline is its heartbeat + 15 s.
    const first = await scores(prefix, 'slow:1:n');
    assert.equal(first.deadline - first.beat, 15_000);
    // Scrape every 100 ms until the writer's own timer beats (5 s after it started): the whole gap
    // between two of its heartbeats is covered.
    const shown = new Map<string, number>();
    let scrapes = 0;
    const startFlushes = writer.stats.flushes;
    while (writer.stats.flushes < startFlushes + 1) {
      const line = samples(await scraper.getCollector().metrics(), 'up');
      shown.set(line, (shown.get(line) ?? 0) + 1);
      scrapes++;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(scrapes >= 25, `${scrapes} scrapes between two heartbeats`);
    assert.deepEqual([...shown], [['up{pid="slow:1:n"} 1', scrapes]]);
    const last = await scores(prefix, 'slow:1:n');
    assert.ok(last.beat >= first.beat + 4_000, `the next heartbeat came ${last.beat - first.beat} ms later`);
    assert.equal(last.deadline - last.beat, 15_000);
  });

  it('a writer that stops beating leaves the live set at its own deadline, not at the scraper\'s', async () => {
    const prefix = newPrefix('live-lapse');
    const writer = redis.track(new RedisStorageManager({ enabled: true, url: redis.server.url, keyPrefix: prefix, flushIntervalMs: 100, liveTimeoutMs: 400, shutdownTimeoutMs: 200, exitHooks: false, identity: { host: 'gone', pid: 1, nonce: 'n' } }));
    new Gauge({ name: 'up', help: 'Up.', multiprocessMode: 'liveall', storage: writer, registers: [] }).set(1);
    await writer.waitUntilConnected(5000);
    await writer.flush();
    // A scraper that would keep a process for a minute by its own timeout.
    const scraper = redis.track(await startScraper(redis.server, prefix, { liveTimeoutMs: 60_000, exitHooks: false }));
    // As a crash looks to Redis: no more heartbeats, and no exit heartbeat either.
    writer.client!.disconnect();
    const { beat, deadline } = await scores(prefix, 'gone:1:n');
    assert.equal(deadline - beat, 400);
    const seen: Array<{ before: number; after: number; line: string }> = [];
    for (;;) {
      const before = await redisNowMs();
      const line = samples(await scraper.getCollector().metrics(), 'up');
      const after = await redisNowMs();
      seen.push({ before, after, line });
      if (line === '') break;
      assert.ok(before <= deadline + 1_000, 'still live 1 s past its deadline');
      await new Promise((r) => setTimeout(r, 25));
    }
    // Every scrape that started before the deadline showed it; the first without it ended past it.
    for (const s of seen.slice(0, -1)) assert.equal(s.line, 'up{pid="gone:1:n"} 1');
    assert.ok(seen.filter((s) => s.after < deadline).every((s) => s.line !== ''));
    assert.ok(seen.at(-1)!.after >= deadline, `dropped at ${seen.at(-1)!.after - deadline} ms past its deadline`);
    assert.ok(seen.length >= 3, `${seen.length} scrapes`);
  });
});
