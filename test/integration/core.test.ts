import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Registry, Counter as PromCounter } from 'prom-client';
import { startRedis, newPrefix, type RedisServer } from '../helpers/redis-server.js';
import { Counter, Gauge, Histogram, Summary, RedisStorageManager } from '../../src/index.js';

const run = promisify(execFile);

function manager(server: RedisServer, prefix: string, host = 'me'): RedisStorageManager {
  // A flush interval of an hour: only the test's own flush() calls reach Redis.
  return new RedisStorageManager({ enabled: true, url: server.url, keyPrefix: prefix, flushIntervalMs: 3_600_000, identity: { host, pid: 1, nonce: 'n' } });
}

/** Total calls per command from INFO commandstats. */
async function commandCalls(server: RedisServer): Promise<Map<string, number>> {
  const info = await server.cli('INFO', 'commandstats');
  const calls = new Map<string, number>();
  for (const m of info.matchAll(/^cmdstat_([a-z|]+):calls=(\d+)/gm)) calls.set(m[1]!, Number(m[2]));
  return calls;
}

function diff(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of after) if (v !== (before.get(k) ?? 0)) out[k] = v - (before.get(k) ?? 0);
  return out;
}

describe('core behaviour against a real Redis', () => {
  let server: RedisServer;
  before(async () => {
    server = await startRedis();
  });
  after(async () => {
    await server?.stop();
  });

  it('100,000 inc() calls between two flushes send no Redis command of their own', async () => {
    const m = manager(server, newPrefix('commands'));
    await m.waitUntilConnected();
    const c = new Counter({ name: 'hits_total', help: 'Hits.', labelNames: ['path'], storage: m, registers: [] });
    c.inc({ path: '/warm' });
    await m.flush(); // loads the scripts on this connection
    const before = await commandCalls(server);
    for (let i = 0; i < 100_000; i++) c.inc({ path: i % 2 ? '/a' : '/b' });
    const during = await commandCalls(server);
    assert.deepEqual(diff(before, during), { info: 1 }, 'only the INFO of this test itself');
    await m.flush();
    const afterFlush = await commandCalls(server);
    // Redis counts the commands a script runs too. The flush: the heartbeat script (TIME, ZSCORE to
    // notice a registry Redis lost, ZADD to both registries, ZRANGEBYSCORE for dead processes) and
    // the one dirty family's script (TYPE of the 4 keys it names, seq, cluster, meta and created
    // hash, so that garbage fails it before any write; HGET of the epoch in the seq hash and in the
    // cluster hash, and of this process's last seq; EXISTS of the meta hash, to notice a lost one;
    // one HMGET of the sums and one HSET of the new sums, TIME and one HGET and HSET per series
    // new to Redis for its creation time, HSET of the new seq).
    assert.deepEqual(diff(during, afterFlush), { evalsha: 2, time: 2, zscore: 1, zadd: 2, zrangebyscore: 1, type: 4, hget: 5, exists: 1, hmget: 1, hset: 4, info: 1 });
    assert.equal(await server.cli('HGET', `${m.config.keyPrefix}:counter:cluster:metric:{${c.family!.hash}}`, '["/a"]'), '50000');
    await m.shutdown();
  });

  it('read-your-writes: a scrape shows unflushed and in-flight increments exactly once', async () => {
    const prefix = newPrefix('ryw');
    const m = manager(server, prefix);
    await m.waitUntilConnected();
    const c = new Counter({ name: 'ryw_total', help: 'RYW.', storage: m, registers: [] });
    const collector = m.getCollector();
    const sample = async () => (await collector.metrics()).split('\n')[2];
    c.inc(5);
    assert.equal(await sample(), 'ryw_total 5', 'before any flush');
    await m.flush();
    assert.equal(await sample(), 'ryw_total 5', 'after the flush, not doubled');
    c.inc(2);
    const flushing = m.flush(); // in flight while the scrape reads
    assert.equal(await sample(), 'ryw_total 7', 'with a flush in flight');
    await flushing;
    assert.equal(await sample(), 'ryw_total 7', 'after it');
    // Another process's view sees only what was flushed.
    const other = manager(server, prefix, 'other');
    await other.waitUntilConnected();
    c.inc(100);
    assert.equal((await other.getCollector().metrics()).split('\n')[2], 'ryw_total 7');
    await m.flush();
    assert.equal((await other.getCollector().metrics()).split('\n')[2], 'ryw_total 107');
    await Promise.all([m.shutdown(), other.shutdown()]);
  });

  it('a summary fed by two processes reports quantiles of the union within HDR precision', async () => {
    const prefix = newPrefix('summary');
    const a = manager(server, prefix, 'a');
    const b = manager(server, prefix, 'b');
    await Promise.all([a.waitUntilConnected(), b.waitUntilConnected()]);
    const percentiles = [0.01, 0.1, 0.5, 0.9, 0.99];
    const opts = { name: 'dist_seconds', help: 'D.', percentiles, registers: [] };
    const sa = new Summary({ ...opts, storage: a });
    const sb = new Summary({ ...opts, storage: b });
    const all: number[] = [];
    // a: uniform 1 ms .. 1 s; b: a heavy tail 2 s .. 20 s. Their per-process quantiles are far apart.
    for (let i = 1; i <= 1000; i++) {
      sa.observe(i / 1000);
      all.push(i / 1000);
    }
    for (let i = 1; i <= 300; i++) {
      sb.observe(2 + (i * 18) / 300);
      all.push(2 + (i * 18) / 300);
    }
    await Promise.all([a.flush(), b.flush()]);
    all.sort((x, y) => x - y);
    const families = await a.getCollector().collect();
    const values = families.find((f) => f.name === 'dist_seconds')!.values;
    for (const q of percentiles) {
      const truth = all[Math.max(0, Math.ceil(q * all.length) - 1)]!;
      const got = values.find((v) => v.labels.quantile === q)!.value;
      assert.ok(Math.abs(got - truth) <= truth * 1e-3, `q=${q}: got ${got}, true ${truth}`);
    }
    assert.equal(values.find((v) => v.metricName === 'dist_seconds_count')!.value, 1300);
    await Promise.all([a.shutdown(), b.shutdown()]);
  });

  it('renders OpenMetrics and Prometheus text that promtool accepts', async () => {
    const m = manager(server, newPrefix('promtool'));
    await m.waitUntilConnected();
    const storage = { storage: m, registers: [] };
    new Counter({ name: 'reqs_total', help: 'Requests.', labelNames: ['code'], ...storage }).inc({ code: '200' }, 3);
    new Gauge({ name: 'temp_celsius', help: 'Temperature.', multiprocessMode: 'liveall', ...storage }).set(21.5);
    new Histogram({ name: 'lat_seconds', help: 'Latency.', buckets: [0.1, 1], ...storage }).observe(0.3);
    new Summary({ name: 'size_bytes', help: 'Size.', percentiles: [0.5], ...storage }).observe(10);
    await m.flush();
    const collector = m.getCollector();
    const text = await collector.metrics();
    const open = await collector.metrics(Registry.OPENMETRICS_CONTENT_TYPE);
    assert.match(open, /^reqs_total\{code="200"\} 3$/m);
    assert.match(open, /# EOF\n$/);
    const dir = mkdtempSync(join(tmpdir(), 'promtool-'));
    writeFileSync(join(dir, 'text.prom'), text);
    writeFileSync(join(dir, 'open.prom'), open);
    const check = (file: string) =>
      run('sh', ['-c', `promtool check metrics < ${join(dir, file)}`]).then(
        ({ stdout, stderr }) => ({ code: 0, output: stdout + stderr }),
        (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, output: error.stdout + error.stderr }),
      );
    assert.deepEqual(await check('text.prom'), { code: 0, output: '' });
    // promtool 2.42 parses OpenMetrics with its text-format linter: every line parses, and its
    // complaints are OpenMetrics' naming, which that linter does not know: a counter family `reqs`
    // with a sample `reqs_total`, and the `_created` samples. Prometheus itself reads OpenMetrics
    // natively (see the e2e scrape tests).
    assert.deepEqual(await check('open.prom'), { code: 3, output: 'lat_seconds_created no help text\nreqs_created no help text\nreqs_total no help text\nsize_bytes_created no help text\n' });
    await m.shutdown();
  });

  it('a prom-client Registry renders ordinary metrics and ours once each', async () => {
    const m = manager(server, newPrefix('registry'));
    await m.waitUntilConnected();
    const registry = new Registry();
    new PromCounter({ name: 'plain_total', help: 'Plain.', registers: [registry] }).inc(2);
    new Counter({ name: 'ours_total', help: 'Ours.', storage: m, registers: [registry] }).inc(4);
    await m.flush();
    assert.equal(
      await registry.metrics(),
      '# HELP plain_total Plain.\n# TYPE plain_total counter\nplain_total 2\n\n# HELP ours_total Ours.\n# TYPE ours_total counter\nours_total 4\n',
    );
    await m.shutdown();
  });

  it('registerIn(registry): families only other processes created join the registry, read once per scrape', async () => {
    const prefix = newPrefix('register-in');
    const worker = manager(server, prefix, 'worker');
    const primary = manager(server, prefix, 'primary');
    await Promise.all([worker.waitUntilConnected(), primary.waitUntilConnected()]);
    new Counter({ name: 'worker_jobs_total', help: 'Jobs.', storage: worker, registers: [] }).inc(3);
    const shared = { name: 'shared_total', help: 'Shared.', registers: [] };
    new Counter({ ...shared, storage: worker }).inc(1);
    await worker.flush();
    const registry = new Registry();
    new PromCounter({ name: 'plain_total', help: 'Plain.', registers: [registry] }).inc(2);
    new Counter({ ...shared, storage: primary, registers: [registry] }).inc(10);
    primary.getCollector().registerIn(registry);
    const before = await commandCalls(server);
    const text = await registry.metrics();
    assert.equal(
      text,
      [
        '# HELP plain_total Plain.', '# TYPE plain_total counter', 'plain_total 2', '',
        '# HELP shared_total Shared.', '# TYPE shared_total counter', 'shared_total 11', '',
        '# HELP worker_jobs_total Jobs.', '# TYPE worker_jobs_total counter', 'worker_jobs_total 3', '',
      ].join('\n'),
    );
    // One collect: HGETALL of the index, ZRANGE of the three registries, TIME; then one read script
    // per family (2), each doing HGETALL of meta, sums and exemplars (not the creation times: no
    // `_created` in text 0.0.4), HGET of this process's seq, and HGET of the epoch and its birth (for
    // the restore gate).
    const calls = diff(before, await commandCalls(server));
    assert.deepEqual(
      { scripts: (calls.eval ?? 0) + (calls.evalsha ?? 0), hgetall: calls.hgetall, hget: calls.hget, zrange: calls.zrange, time: calls.time },
      { scripts: 2, hgetall: 1 + 2 * 3, hget: 2 * 4, zrange: 3, time: 1 },
    );
    assert.deepEqual((await registry.getMetricsAsJSON()).map((m) => m.name), ['plain_total', 'shared_total', 'worker_jobs_total']);
    await Promise.all([worker.shutdown(), primary.shutdown()]);
  });

  it("the metrics server's parts and an app's own metrics() asked at once share one Redis read", async () => {
    const prefix = newPrefix('share-read');
    const m = manager(server, prefix);
    await m.waitUntilConnected();
    new Counter({ name: 'a_total', help: 'A.', storage: m, registers: [] }).inc(2);
    new Counter({ name: 'b_total', help: 'B.', storage: m, registers: [] }).inc(5);
    await m.flush();
    const collector = m.getCollector();
    const before = await commandCalls(server);
    const [parts, whole, again] = await Promise.all([collector.expositionParts('text'), collector.metrics(), collector.expositionParts('text')]);
    const calls = diff(before, await commandCalls(server));
    const text = '# HELP a_total A.\n# TYPE a_total counter\na_total 2\n\n# HELP b_total B.\n# TYPE b_total counter\nb_total 5\n';
    assert.equal(whole, text);
    assert.ok(Array.isArray(parts));
    assert.equal((parts as string[]).join(''), text);
    assert.equal(again, parts, 'a second parts caller gets the same answer');
    // One collect of two families: two read scripts (the INFO is this test's own).
    assert.equal((calls.eval ?? 0) + (calls.evalsha ?? 0), 2);
    // And the other way round: parts asked while a whole read is in flight.
    const [whole2, parts2] = await Promise.all([collector.metrics(), collector.expositionParts('text')]);
    assert.equal(whole2, text);
    assert.deepEqual(parts2, [text]);
    await m.shutdown();
  });

  it('a histogram whose buckets changed between deploys shows the union of both, cumulated', async () => {
    const prefix = newPrefix('buckets');
    const old = manager(server, prefix, 'old');
    const next = manager(server, prefix, 'new');
    const reader = manager(server, prefix, 'reader');
    await Promise.all([old.waitUntilConnected(), next.waitUntilConnected(), reader.waitUntilConnected()]);
    const opts = { name: 'lat_seconds', help: 'Latency.', registers: [] };
    const before = new Histogram({ ...opts, buckets: [1, 5], storage: old });
    const after = new Histogram({ ...opts, buckets: [1, 2, 5], storage: next });
    [0.5, 1.5, 3, 9].forEach((x) => before.observe(x));
    [0.5, 1.5, 3, 9].forEach((x) => after.observe(x));
    await next.flush();
    await old.flush(); // its meta (buckets 1, 5) is the one in Redis now: le="2" comes from the data
    assert.deepEqual((await reader.getCollector().metrics()).split('\n').slice(2, 9), [
      'lat_seconds_bucket{le="1"} 2',
      'lat_seconds_bucket{le="2"} 3', // only the new process knows this bound: 1.5 of the old one is in its le="5"
      'lat_seconds_bucket{le="5"} 6',
      'lat_seconds_bucket{le="+Inf"} 8',
      'lat_seconds_sum 28',
      'lat_seconds_count 8',
      '',
    ]);
    await Promise.all([old.shutdown(), next.shutdown(), reader.shutdown()]);
  });

  it('a scrape after the set of series changed shows the new set, sorted (the order kept between scrapes is not reused)', async () => {
    const m = manager(server, newPrefix('order'));
    await m.waitUntilConnected();
    const c = new Counter({ name: 'set_total', help: 'S.', labelNames: ['k'], storage: m, registers: [] });
    const samples = async () => (await m.getCollector().metrics()).split('\n').filter((l) => l.startsWith('set_total'));
    c.inc({ k: 'b' }, 2);
    c.inc({ k: 'a' }, 1);
    await m.flush();
    assert.deepEqual(await samples(), ['set_total{k="a"} 1', 'set_total{k="b"} 2']);
    assert.deepEqual(await samples(), ['set_total{k="a"} 1', 'set_total{k="b"} 2'], 'the same set again');
    // Another process's series joins with as many series as before: not the same set.
    const other = manager(server, m.config.keyPrefix, 'other');
    new Counter({ name: 'set_total', help: 'S.', labelNames: ['k'], storage: other, registers: [] }).inc({ k: '0' }, 4);
    await other.flush();
    assert.deepEqual(await samples(), ['set_total{k="0"} 4', 'set_total{k="a"} 1', 'set_total{k="b"} 2']);
    const json = await c.get();
    (json.values[0]!.labels as Record<string, string>).k = 'mutated by the caller';
    assert.deepEqual(await samples(), ['set_total{k="0"} 4', 'set_total{k="a"} 1', 'set_total{k="b"} 2'], 'get() hands out copies');
    await Promise.all([m.shutdown(), other.shutdown()]);
  });
});
