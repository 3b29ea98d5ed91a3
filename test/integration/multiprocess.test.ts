import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { startRedis, newPrefix, type RedisServer } from '../helpers/redis-server.js';
import { runNode, type NodeChild } from '../helpers/processes.js';
import { startScraper, familyText } from '../helpers/scraper.js';
import type { RedisStorageManager } from '../../src/index.js';

const WRITER = fileURLToPath(new URL('../fixtures/writer.js', import.meta.url));

describe('three OS processes, every metric type and gauge mode', () => {
  let server: RedisServer;
  let scraper: RedisStorageManager;
  const prefix = newPrefix('multiprocess');
  const writers: NodeChild[] = [];

  before(async () => {
    server = await startRedis();
    // One after the other, so that writer 3's gauges are the most recent.
    for (const i of [1, 2, 3]) {
      const w = runNode(WRITER, { env: { WRITER_INDEX: String(i), TEST_REDIS_URL: server.url, TEST_PREFIX: prefix } });
      writers.push(w);
      await w.waitForLine(/^flushed$/, 10_000);
    }
    scraper = await startScraper(server, prefix, { liveTimeoutMs: 1000 });
  });

  after(async () => {
    await scraper?.shutdown();
    await Promise.all(writers.map((w) => w.kill('SIGKILL')));
    await server?.stop();
  });

  it('sums counters and histograms, merges summaries and applies each gauge mode', async () => {
    const text = await scraper.getCollector().metrics();
    assert.equal(
      familyText(text, 'jobs_total', 'latency_seconds', 'size_bytes'),
      [
        '# HELP jobs_total Jobs done.',
        '# TYPE jobs_total counter',
        'jobs_total{kind="a"} 6',
        'jobs_total{kind="b"} 60',
        '',
        '# HELP latency_seconds Latency.',
        '# TYPE latency_seconds histogram',
        // observations 1,3 / 2,6 / 3,9
        'latency_seconds_bucket{le="1",route="/x"} 1',
        'latency_seconds_bucket{le="5",route="/x"} 4',
        'latency_seconds_bucket{le="+Inf",route="/x"} 6',
        'latency_seconds_sum{route="/x"} 24',
        'latency_seconds_count{route="/x"} 6',
        '',
        '# HELP size_bytes Sizes.',
        '# TYPE size_bytes summary',
        'size_bytes{quantile="0.5"} 2',
        'size_bytes{quantile="1"} 3',
        'size_bytes_sum 6',
        'size_bytes_count 3',
      ].join('\n'),
    );
    assert.equal(
      familyText(text, 'g_all', 'g_liveall', 'g_min', 'g_max', 'g_sum', 'g_mostrecent'),
      [
        '# HELP g_all Gauge in all mode.',
        '# TYPE g_all gauge',
        'g_all{pid="host1:101:n"} 10',
        'g_all{pid="host2:102:n"} 20',
        'g_all{pid="host3:103:n"} 30',
        '',
        '# HELP g_liveall Gauge in liveall mode.',
        '# TYPE g_liveall gauge',
        'g_liveall{pid="host1:101:n"} 10',
        'g_liveall{pid="host2:102:n"} 20',
        'g_liveall{pid="host3:103:n"} 30',
        '',
        '# HELP g_max Gauge in max mode.',
        '# TYPE g_max gauge',
        'g_max 30',
        '',
        '# HELP g_min Gauge in min mode.',
        '# TYPE g_min gauge',
        'g_min 10',
        '',
        '# HELP g_mostrecent Gauge in mostrecent mode.',
        '# TYPE g_mostrecent gauge',
        'g_mostrecent 30',
        '',
        '# HELP g_sum Gauge in sum mode.',
        '# TYPE g_sum gauge',
        'g_sum 60',
      ].join('\n'),
    );
    assert.equal(
      familyText(text, 'g_livemin', 'g_livemax', 'g_livesum', 'g_livemostrecent'),
      [
        '# HELP g_livemax Gauge in livemax mode.',
        '# TYPE g_livemax gauge',
        'g_livemax 30',
        '',
        '# HELP g_livemin Gauge in livemin mode.',
        '# TYPE g_livemin gauge',
        'g_livemin 10',
        '',
        '# HELP g_livemostrecent Gauge in livemostrecent mode.',
        '# TYPE g_livemostrecent gauge',
        'g_livemostrecent 30',
        '',
        '# HELP g_livesum Gauge in livesum mode.',
        '# TYPE g_livesum gauge',
        'g_livesum 60',
      ].join('\n'),
    );
  });

  it('after SIGKILL, live* modes drop the process once its heartbeat lapses; counters keep its counts', async () => {
    await writers[2]!.kill('SIGKILL'); // writer 3: the max and the most recent
    const collector = scraper.getCollector();
    let text = await collector.metrics();
    const deadline = Date.now() + 10_000;
    while (familyText(text, 'g_livesum').endsWith('60') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      text = await collector.metrics();
    }
    assert.equal(familyText(text, 'jobs_total').split('\n').slice(2).join('\n'), 'jobs_total{kind="a"} 6\njobs_total{kind="b"} 60');
    const samples = (name: string) => familyText(text, name).split('\n').slice(2).join('\n');
    assert.equal(samples('g_livesum'), 'g_livesum 30');
    assert.equal(samples('g_livemax'), 'g_livemax 20');
    assert.equal(samples('g_livemin'), 'g_livemin 10');
    assert.equal(samples('g_livemostrecent'), 'g_livemostrecent 20');
    assert.equal(samples('g_liveall'), 'g_liveall{pid="host1:101:n"} 10\ng_liveall{pid="host2:102:n"} 20');
    // Modes without `live` keep the dead process until its keys expire (REDIS_TTL_SECONDS).
    assert.equal(samples('g_sum'), 'g_sum 60');
    assert.equal(samples('g_max'), 'g_max 30');
    assert.equal(samples('g_mostrecent'), 'g_mostrecent 30');
    assert.equal(samples('g_all'), 'g_all{pid="host1:101:n"} 10\ng_all{pid="host2:102:n"} 20\ng_all{pid="host3:103:n"} 30');
  });

  it('a clean SIGTERM leaves the live set at once', async () => {
    const status = await writers[1]!.kill('SIGTERM');
    assert.deepEqual(status, { code: 0, signal: null });
    const text = await scraper.getCollector().metrics();
    assert.equal(familyText(text, 'g_livesum').split('\n')[2], 'g_livesum 10');
    assert.equal(familyText(text, 'jobs_total').split('\n')[2], 'jobs_total{kind="a"} 6');
  });
});
