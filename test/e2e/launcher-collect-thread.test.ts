// The launcher primary's /metrics comes from its collect thread (src/integrations/collect-thread.ts):
// exact values for 100,000 series written by another process and for the primary's own unflushed
// counter, in every format; the primary's main thread idle meanwhile; and, when the primary cannot
// flush its own figures first, the old path on the main thread with the same exact values.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync, gzipSync } from 'node:zlib';
import { Counter } from '../../src/metrics/counter.js';
import { RedisStorageManager } from '../../src/manager.js';
import { decodeDelimited } from '../helpers/metrics-proto.js';
import { startLauncherProbe, type LauncherProbe } from '../helpers/launcher-probe.js';
import { newPrefix, startRedis, type RedisServer } from '../helpers/redis-server.js';
import { fetchRaw, samples } from '../helpers/http-get.js';

const SERIES = 100_000;
/**
 * Event-loop utilization of the primary's main thread that tells the two paths apart: measured
 * 0.02-0.05 while the thread collects, 0.6-0.9 while the main thread does (its idle part is the
 * wait for Redis), on this 2-core machine under load.
 */
const BUSY = 0.25;

describe('launcher: /metrics from the collect thread', () => {
  let redis: RedisServer;
  let writer: RedisStorageManager;
  let launcher: LauncherProbe;
  const prefix = newPrefix('collect-thread');

  const scrape = async (headers: Record<string, string> = {}) => {
    const r = await fetchRaw(launcher.metricsUrl, headers);
    assert.equal(r.status, 200, r.body.toString().slice(0, 500));
    return r;
  };
  /** The planted family: every one of the 100,000 series, each at its exact value. */
  const assertPlanted = (text: string) => {
    const lines = samples(text, 'planted_total');
    assert.equal(lines.length, SERIES);
    for (let i = 0; i < SERIES; i++) assert.equal(lines[i], `planted_total{id="${String(i).padStart(6, '0')}"} ${(i % 7) + 1}`);
  };

  before(async () => {
    redis = await startRedis();
    writer = new RedisStorageManager({ enabled: true, url: redis.url, keyPrefix: prefix, flushIntervalMs: 3_600_000, exitHooks: false, maxSeriesPerMetric: SERIES, collectTimeoutMs: 60_000, flushTimeoutMs: 60_000 });
    await writer.waitUntilConnected(10_000);
    const planted = new Counter({ name: 'planted_total', help: 'Written by another process.', labelNames: ['id'], storage: writer, registers: [] });
    for (let i = 0; i < SERIES; i++) planted.inc({ id: String(i).padStart(6, '0') }, (i % 7) + 1);
    await writer.flush();
    // The primary's own flushes happen before each scrape only: read-your-writes rests on them.
    launcher = await startLauncherProbe({ REDIS_URL: redis.url, REDIS_KEY_PREFIX: prefix, REDIS_FLUSH_INTERVAL_MS: '3600000', REDIS_COLLECT_TIMEOUT_MS: '60000' });
  });

  after(async () => {
    await launcher?.child.kill('SIGTERM');
    await writer?.shutdown();
    await redis?.stop();
  });

  it('serves 100,000 series of another process and the primary\'s unflushed counter, exactly, in text, gzip and protobuf', async () => {
    await launcher.control('/inc?by=3');
    const first = (await scrape()).body.toString();
    assertPlanted(first);
    assert.deepEqual(samples(first, 'probe_primary_total'), ['probe_primary_total 3']);
    assert.deepEqual(samples(first, 'launcher_workers_alive'), ['launcher_workers_alive 1']);
    assert.deepEqual(samples(first, 'launcher_worker_restarts_total'), ['launcher_worker_restarts_total 0']);

    await launcher.control('/inc?by=4');
    const zipped = await scrape({ 'accept-encoding': 'gzip' });
    assert.equal(zipped.headers['content-encoding'], 'gzip');
    const text = gunzipSync(zipped.body).toString();
    // Compressed at the fastest level (GZIP_OPTIONS): byte for byte what zlib's level 1 makes of it.
    assert.ok(zipped.body.equals(gzipSync(text, { level: 1 })), 'gzip level 1');
    assertPlanted(text);
    assert.deepEqual(samples(text, 'probe_primary_total'), ['probe_primary_total 7']);
    // The collect the thread made for the first scrape is counted by the primary's self-metrics.
    const collects = (t: string) => Number(samples(t, 'prom_client_redis_collect_duration_seconds_count')[0]!.split(' ')[1]);
    assert.equal(collects(text), collects(first) + 1);

    await launcher.control('/inc?by=5');
    const proto = await scrape({ accept: 'application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited' });
    assert.match(String(proto.headers['content-type']), /^application\/vnd\.google\.protobuf/);
    const families = decodeDelimited(proto.body);
    const own = families.find((f) => f.name === 'probe_primary_total') as { metric: Array<{ counter: { value: number } }> } | undefined;
    assert.deepEqual(own?.metric.map((m) => m.counter.value), [12]);
    const planted = families.find((f) => f.name === 'planted_total') as { metric: unknown[] } | undefined;
    assert.equal(planted?.metric.length, SERIES);
  });

  it('keeps the primary\'s main thread idle while the niced thread renders 100,000 series', async (t) => {
    await scrape();
    await launcher.control('/probe/start');
    const started = performance.now();
    for (let i = 0; i < 3; i++) assertPlanted((await scrape()).body.toString());
    const scrapesMs = performance.now() - started;
    const probe = JSON.parse(await launcher.control('/probe/stop')) as { utilization: number; maxGapMs: number; ticks: number };
    t.diagnostic(`3 scrapes in ${scrapesMs.toFixed(0)} ms; primary main thread: utilization ${probe.utilization.toFixed(3)}, longest gap of a 1 ms interval ${probe.maxGapMs.toFixed(1)} ms, ${probe.ticks} ticks`);
    // On the main thread the slices ran back to back (utilization near 1 however loaded the
    // machine); now it only waits for the thread. Utilization, not times: those are the machine's.
    assert.ok(probe.utilization < BUSY, `main thread utilization ${probe.utilization} during the scrapes`);
    // Exactly one thread of the primary lowered its priority, by 10: the collect thread.
    const { main, others } = await launcher.threadNices();
    assert.deepEqual(others, [Math.min(19, main + 10)]);
  });

  it('serves from the main thread, unflushed counter included, while Redis refuses the primary\'s flush', async (t) => {
    const before = Number(samples((await scrape()).body.toString(), 'probe_primary_total')[0]!.split(' ')[1]);
    // Writes refused (OOM), reads still served: the flush before the scrape fails.
    await redis.cli('CONFIG', 'SET', 'maxmemory-policy', 'noeviction');
    await redis.cli('CONFIG', 'SET', 'maxmemory', '1');
    try {
      await launcher.control('/inc?by=2');
      await launcher.control('/probe/start');
      const text = (await scrape()).body.toString();
      const probe = JSON.parse(await launcher.control('/probe/stop')) as { utilization: number };
      t.diagnostic(`main-thread scrape: primary main thread utilization ${probe.utilization.toFixed(3)}`);
      assertPlanted(text);
      assert.deepEqual(samples(text, 'probe_primary_total'), [`probe_primary_total ${before + 2}`]);
      // The old path: the main thread did the work this time.
      assert.ok(probe.utilization > BUSY, `main thread utilization ${probe.utilization} during a main-thread scrape`);
    } finally {
      await redis.cli('CONFIG', 'SET', 'maxmemory', '0');
    }
    // Writes accepted again: the thread serves, and the counter reached Redis.
    await launcher.control('/inc?by=1');
    assert.deepEqual(samples((await scrape()).body.toString(), 'probe_primary_total'), [`probe_primary_total ${before + 3}`]);
  });
});
