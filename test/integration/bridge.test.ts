// The prom-client registry bridge: two "processes" (two storage managers, two prom-client
// registries) mirror the same prom-client metrics; a third reads the merged view from Redis.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as prom from 'prom-client';
import { startRedis, newPrefix, type RedisServer } from '../helpers/redis-server.js';
import { startScraper, familyText } from '../helpers/scraper.js';
import { Counter as OurCounter, RedisStorageManager, RegistryBridge } from '../../src/index.js';
import { promtoolCheck } from '../e2e/support/prometheus.js';

interface FakeProcess {
  storage: RedisStorageManager;
  registry: prom.Registry;
  bridge: RegistryBridge;
  requests: prom.Counter<'route'>;
  queue: prom.Gauge;
  latency: prom.Histogram;
  sizes: prom.Summary;
}

describe('registry bridge', () => {
  let redis: RedisServer;
  const prefix = newPrefix('bridge');
  const processes: FakeProcess[] = [];

  const start = async (i: number): Promise<FakeProcess> => {
    const storage = new RedisStorageManager({ enabled: true, url: redis.url, keyPrefix: prefix, flushIntervalMs: 60_000, identity: { host: `h${i}`, pid: i, nonce: 'n' } });
    await storage.waitUntilConnected(5000);
    const registry = new prom.Registry();
    const registers = [registry];
    const p: FakeProcess = {
      storage,
      registry,
      bridge: new RegistryBridge({ registry, storage, gaugeModes: { nodejs_version_info: 'max' } }),
      requests: new prom.Counter({ name: 'app_requests_total', help: 'Requests.', labelNames: ['route'], registers }),
      queue: new prom.Gauge({ name: 'app_queue_length', help: 'Queue length.', registers }),
      latency: new prom.Histogram({ name: 'app_latency_seconds', help: 'Latency.', buckets: [1, 5], registers }),
      sizes: new prom.Summary({ name: 'app_size_bytes', help: 'Sizes.', registers }),
    };
    // One of ours in the same registry: already in the store, so the bridge must skip it.
    new OurCounter({ name: 'ours_total', help: 'Ours.', storage, registers }).inc(i);
    return p;
  };

  const sync = async () => {
    for (const p of processes) {
      await p.bridge.sync();
      await p.storage.flush();
    }
  };

  const read = async (...names: string[]) => {
    const scraper = await startScraper(redis, prefix);
    try {
      const text = await scraper.getCollector().metrics();
      return names.length === 0 ? text : familyText(text, ...names);
    } finally {
      await scraper.shutdown();
    }
  };

  before(async () => {
    redis = await startRedis();
    processes.push(await start(1), await start(2));
  });

  after(async () => {
    for (const p of processes) await p.storage.shutdown();
    await redis?.stop();
  });

  it('sums counters and histograms, keeps gauges per process, and summaries as count and sum', async () => {
    const [a, b] = processes as [FakeProcess, FakeProcess];
    a.requests.inc({ route: '/x' }, 3);
    b.requests.inc({ route: '/x' }, 4);
    b.requests.inc({ route: '/y' });
    a.queue.set(7);
    b.queue.set(9);
    a.latency.observe(0.5);
    a.latency.observe(3);
    b.latency.observe(30);
    a.sizes.observe(10);
    b.sizes.observe(20);
    await sync();
    assert.equal(await read('app_requests_total', 'app_queue_length', 'app_latency_seconds', 'app_size_bytes', 'ours_total'), [
      '# HELP app_latency_seconds Latency.',
      '# TYPE app_latency_seconds histogram',
      'app_latency_seconds_bucket{le="1"} 1',
      'app_latency_seconds_bucket{le="5"} 2',
      'app_latency_seconds_bucket{le="+Inf"} 3',
      'app_latency_seconds_sum 33.5',
      'app_latency_seconds_count 3',
      '',
      '# HELP app_queue_length Queue length.',
      '# TYPE app_queue_length gauge',
      'app_queue_length{pid="h1:1:n"} 7',
      'app_queue_length{pid="h2:2:n"} 9',
      '',
      '# HELP app_requests_total Requests.',
      '# TYPE app_requests_total counter',
      'app_requests_total{route="/x"} 7',
      'app_requests_total{route="/y"} 1',
      '',
      '# HELP app_size_bytes Sizes.',
      '# TYPE app_size_bytes summary',
      'app_size_bytes_sum 30',
      'app_size_bytes_count 2',
      '',
      '# HELP ours_total Ours.',
      '# TYPE ours_total counter',
      'ours_total 3',
    ].join('\n'));
  });

  it('sends only what changed since the last read, and takes a prom-client reset as a new start', async () => {
    const [a, b] = processes as [FakeProcess, FakeProcess];
    a.requests.inc({ route: '/x' }, 2);
    b.requests.reset();
    b.requests.inc({ route: '/x' }, 1);
    a.latency.observe(2);
    await sync();
    // Nothing changed: a second read sends nothing again.
    await sync();
    assert.equal(await read('app_requests_total', 'app_latency_seconds'), [
      '# HELP app_latency_seconds Latency.',
      '# TYPE app_latency_seconds histogram',
      'app_latency_seconds_bucket{le="1"} 1',
      'app_latency_seconds_bucket{le="5"} 3',
      'app_latency_seconds_bucket{le="+Inf"} 4',
      'app_latency_seconds_sum 35.5',
      'app_latency_seconds_count 4',
      '',
      '# HELP app_requests_total Requests.',
      '# TYPE app_requests_total counter',
      'app_requests_total{route="/x"} 10',
      'app_requests_total{route="/y"} 1',
    ].join('\n'));
  });

  it('mirrors collectDefaultMetrics() and the output passes promtool check metrics', async () => {
    for (const p of processes) prom.collectDefaultMetrics({ register: p.registry });
    await sync();
    const text = await read();
    const cpu = familyText(text, 'process_cpu_user_seconds_total').split('\n');
    assert.deepEqual(cpu.slice(0, 2), ['# HELP process_cpu_user_seconds_total Total user CPU time spent in seconds.', '# TYPE process_cpu_user_seconds_total counter']);
    assert.equal(cpu.length, 3); // one series: summed over both processes
    assert.equal(familyText(text, 'nodejs_version_info').split('\n')[2], `nodejs_version_info{version="${process.version}",major="${process.versions.node.split('.')[0]}",minor="${process.versions.node.split('.')[1]}",patch="${process.versions.node.split('.')[2]}"} 1`);
    assert.equal(familyText(text, 'process_resident_memory_bytes').split('\n').length, 4); // liveall: one per process
    // prom-client names three gauges `_total`, which promtool's linter flags in prom-client's own
    // output too: the bridge must add no problem of its own, and the rest must be clean.
    const upstream = await promtoolCheck(await processes[0]!.registry.metrics());
    const flagged = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];
    assert.equal(upstream.output, flagged.map((n) => `${n} non-counter metrics should not have "_total" suffix\n`).join(''));
    assert.deepEqual(await promtoolCheck(text), upstream);
    const others = text.trim().split('\n\n').filter((b) => !flagged.some((n) => b.startsWith(`# HELP ${n} `))).join('\n\n');
    assert.deepEqual(await promtoolCheck(`${others}\n`), { code: 0, output: '' });
  });

  it('mirrors label names that are Object.prototype properties, missing or given; refuses a histogram past maxHistogramBuckets by name', async () => {
    const p = processes[0]!;
    const registers = [p.registry];
    const odd = new prom.Counter({ name: 'odd_labels_total', help: 'Odd.', labelNames: ['constructor', 'toString'], registers });
    odd.inc({ toString: 'b' } as never, 2);
    odd.inc({ constructor: 'a', toString: 'b' }, 3);
    odd.inc(4);
    new prom.Histogram({ name: 'too_many_buckets_seconds', help: 'Big.', buckets: Array.from({ length: 1001 }, (_, i) => i + 1), registers }).observe(1);
    const warnings: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
      if (String(chunk).includes('too_many_buckets_seconds')) warnings.push(String(chunk));
      return write(chunk, ...rest);
    }) as typeof process.stderr.write;
    try {
      await p.bridge.sync();
      await p.bridge.sync();
    } finally {
      process.stderr.write = write;
    }
    await p.storage.flush();
    assert.equal(warnings.length, 1, warnings.join(''));
    assert.match(warnings[0]!, /registry bridge: metric `too_many_buckets_seconds` is not mirrored: 1001 buckets, more than maxHistogramBuckets \(1000, REDIS_MAX_HISTOGRAM_BUCKETS\)/);
    assert.equal(p.storage.dict.families.has('too_many_buckets_seconds'), false);
    const lines = (await read('odd_labels_total')).split('\n').filter((l) => !l.startsWith('#')).sort();
    assert.deepEqual(lines, ['odd_labels_total 4', 'odd_labels_total{constructor="a",toString="b"} 3', 'odd_labels_total{toString="b"} 2']);
  });

  it('skips the metrics of another copy of this library in the same process (that copy flushes them), as it skips its own', async () => {
    // A second copy, as when an app's own dependency runs under a globally installed launcher (or
    // Node 18.18's --import loads the preload twice): its classes are not ours for instanceof. It
    // sits next to dist/src so that it finds the same node_modules.
    const dist = fileURLToPath(new URL('../../', import.meta.url));
    const copyDir = mkdtempSync(`${dist}copy-`);
    try {
      cpSync(`${dist}src`, `${copyDir}/src`, { recursive: true });
      const copy = (await import(pathToFileURL(`${copyDir}/src/index.js`).href)) as typeof import('../../src/index.js');
      assert.notEqual(copy.Counter, OurCounter);
      const p = processes[0]!;
      const other = new copy.RedisStorageManager({ enabled: true, url: redis.url, keyPrefix: prefix, flushIntervalMs: 60_000, identity: { host: 'copy', pid: 1, nonce: 'n' } });
      try {
        const theirs = new copy.Counter({ name: 'other_copy_total', help: 'Counted by the other copy.', storage: other, registers: [p.registry] });
        theirs.inc(3);
        await other.flush();
        // Each sync would have added the other copy's cluster-wide total again through a mirror.
        for (let i = 0; i < 3; i++) await sync();
        assert.equal(p.storage.dict.families.has('other_copy_total'), false);
        assert.equal(await read('other_copy_total'), '# HELP other_copy_total Counted by the other copy.\n# TYPE other_copy_total counter\nother_copy_total 3');
      } finally {
        await other.shutdown();
      }
    } finally {
      rmSync(copyDir, { recursive: true, force: true });
    }
  });
});

