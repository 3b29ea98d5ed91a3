// Issue 3, items 1 and 2. The hot path never feels Redis: with Redis frozen, slow or refusing,
// inc()/set()/observe() return synchronously, create no promise and send nothing (the client has no
// offline queue: the shadow store is the buffer). An outage costs memory in proportion to the
// series, not to its length, and the totals afterwards are exact.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHook } from 'node:async_hooks';
import { Counter, Gauge, Histogram, Summary, RedisStorageManager } from '../../src/index.js';
import { startRedis, newPrefix, type RedisServer } from '../helpers/redis-server.js';
import { startProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { startScraper } from '../helpers/scraper.js';
import { keepAlive } from '../helpers/reaper.js';
import { samples } from './support.js';

const UPDATES = 100_000;

async function flushUntilAcknowledged(manager: RedisStorageManager, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await manager.flush();
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
  }
}

describe('the hot path with Redis away', () => {
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

  async function setup(name: string) {
    const prefix = newPrefix(name);
    const writer = new RedisStorageManager({
      enabled: true, url: `redis://${proxy.host}:${proxy.port}`, keyPrefix: prefix, flushIntervalMs: 3_600_000, exitHooks: false,
      flushTimeoutMs: 300, shutdownTimeoutMs: 500, identity: { host: 'w', pid: 1, nonce: 'n' },
    });
    managers.push(writer);
    const storage = { storage: writer, registers: [] };
    const metrics = {
      counter: new Counter({ name: 'c_total', help: 'C.', labelNames: ['k'], ...storage }),
      gauge: new Gauge({ name: 'g', help: 'G.', multiprocessMode: 'max', ...storage }),
      histogram: new Histogram({ name: 'h', help: 'H.', buckets: [1], ...storage }),
      summary: new Summary({ name: 's', help: 'S.', percentiles: [1], ...storage }),
    };
    await writer.waitUntilConnected(5000);
    await writer.flush();
    const scraper = await startScraper(server, prefix, { exitHooks: false });
    managers.push(scraper);
    return { writer, scraper, ...metrics };
  }

  /** Runs the updates and returns how many promises they created and how many bytes reached the proxy meanwhile. */
  async function updateWhileWatched(run: () => unknown): Promise<{ promises: number; forwardedBytes: number; results: Set<unknown>; ms: number }> {
    let forwardedBytes = 0;
    const stop = proxy.onForward((chunk) => (forwardedBytes += chunk.length));
    let promises = 0;
    const hook = createHook({ init: (_id, type) => void (type === 'PROMISE' && promises++) });
    const results = new Set<unknown>();
    hook.enable();
    const started = performance.now();
    for (let i = 0; i < UPDATES; i++) results.add(run());
    const ms = performance.now() - started;
    hook.disable();
    // Give any deferred work a chance to show itself on the wire before looking.
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setTimeout(resolve, 20));
    stop();
    return { promises, forwardedBytes, results, ms };
  }

  for (const fault of ['frozen', 'slow', 'refusing'] as const) {
    it(`${UPDATES} updates of each kind with Redis ${fault}: synchronous, no promise, nothing sent; exact totals after`, async () => {
      const { writer, scraper, counter, gauge, histogram, summary } = await setup(`hot-${fault}`);
      const up = await updateWhileWatched(() => counter.inc({ k: 'up' }));
      if (fault === 'frozen') server.freeze();
      if (fault === 'slow') proxy.setDelay(2000, 'both');
      if (fault === 'refusing') {
        proxy.refuse(true);
        proxy.cutAll();
      }
      try {
        let i = 0;
        for (const run of [() => counter.inc({ k: 'down' }), () => gauge.set(i++), () => histogram.observe(0.5), () => summary.observe(2)]) {
          const r = await updateWhileWatched(run);
          assert.deepEqual([...r.results], [undefined], 'every call returns undefined, not a promise');
          assert.equal(r.promises, 0, 'no promise created by the hot path');
          assert.equal(r.forwardedBytes, 0, 'no command sent by the hot path');
        }
        // Diagnostic only (not asserted: timing on a shared machine is noise).
        const down = await updateWhileWatched(() => counter.inc({ k: 'down' }));
        console.log(`# ${UPDATES} inc(): ${up.ms.toFixed(1)} ms with Redis up, ${down.ms.toFixed(1)} ms with Redis ${fault}`);
        assert.equal((writer.client!.redis as unknown as { offlineQueue: unknown[] }).offlineQueue.length, 0);
        // A flush during the fault fails and keeps the data.
        await assert.rejects(writer.flush());
      } finally {
        server.thaw();
        proxy.setDelay(0, 'both');
        proxy.refuse(false);
      }
      await keepAlive(writer.waitUntilConnected(10_000));
      // Replies the slow proxy still holds come back within its 2 s delay; until then flushes time
      // out and keep their data. Each retry re-sends the same batch (same seq).
      await flushUntilAcknowledged(writer);
      await writer.flush();
      assert.equal(
        samples(await scraper.getCollector().metrics(), 'c_total', 'g', 'h', 's'),
        [
          `c_total{k="down"} ${2 * UPDATES}`,
          `c_total{k="up"} ${UPDATES}`,
          `g ${UPDATES - 1}`,
          `h_bucket{le="1"} ${UPDATES}`,
          `h_bucket{le="+Inf"} ${UPDATES}`,
          `h_sum ${UPDATES / 2}`,
          `h_count ${UPDATES}`,
          's{quantile="1"} 2',
          `s_sum ${2 * UPDATES}`,
          `s_count ${UPDATES}`,
        ].join('\n'),
      );
    });
  }

  it('a long outage: pending state stays one batch per family and the dictionary keeps its size; totals exact after', async () => {
    const { writer, scraper, counter, histogram } = await setup('outage-memory');
    const series = 100;
    const rounds = 40;
    const perRound = 25;
    for (let s = 0; s < series; s++) counter.inc({ k: `s${s}` }, 0);
    await writer.flush();
    proxy.refuse(true);
    proxy.cutAll();
    const pendingSizes = new Set<number>();
    const dirtySizes = new Set<number>();
    try {
      for (let round = 0; round < rounds; round++) {
        for (let n = 0; n < perRound; n++) {
          for (let s = 0; s < series; s++) counter.inc({ k: `s${s}` });
          histogram.observe(0.25);
        }
        // Each failed flush (one per interval in real life) must not add state.
        await assert.rejects(writer.flush());
        pendingSizes.add(counter.family!.pending.length + histogram.family!.pending.length);
        // The first failed flush drained the deltas into the outbox; from then on they wait.
        if (round > 0) dirtySizes.add(counter.series.dirty.length);
        assert.equal(counter.series.values.size, series);
        assert.equal(writer.dict.dirtyFamilies.length <= 2, true);
      }
    } finally {
      proxy.refuse(false);
    }
    // One unacknowledged batch per family (2), and the deltas that wait behind it: one entry per series.
    assert.deepEqual([...pendingSizes], [2]);
    assert.deepEqual([...dirtySizes], [series]);
    await keepAlive(writer.waitUntilConnected(10_000));
    await writer.flush(); // re-sends the outbox
    await writer.flush(); // then the deltas merged during the outage
    const text = await scraper.getCollector().metrics();
    const expectedCounter = Array.from({ length: series }, (_, s) => `s${s}`)
      .sort()
      .map((k) => `c_total{k="${k}"} ${rounds * perRound}`)
      .join('\n');
    assert.equal(samples(text, 'c_total'), expectedCounter);
    assert.equal(samples(text, 'h'), [`h_bucket{le="1"} ${rounds * perRound}`, `h_bucket{le="+Inf"} ${rounds * perRound}`, `h_sum ${(rounds * perRound) / 4}`, `h_count ${rounds * perRound}`].join('\n'));
  });
});
