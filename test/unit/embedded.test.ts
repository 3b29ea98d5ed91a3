import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { Counter, Gauge, Histogram, Summary, RedisStorageManager } from '../../src/index.js';

describe('REDIS_ENABLED=false: the same API in one process, no Redis', () => {
  it('renders every type from memory', async () => {
    const m = new RedisStorageManager({ env: {} });
    assert.equal(m.isEnabled, false);
    assert.equal(m.isConnected(), false);
    const storage = { storage: m, registers: [] };
    const c = new Counter({ name: 'c_total', help: 'C.', labelNames: ['k'], ...storage });
    c.inc({ k: 'x' });
    c.labels('y').inc(2.5);
    const g = new Gauge({ name: 'g', help: 'G.', multiprocessMode: 'max', ...storage });
    g.set(4);
    g.dec(1);
    const h = new Histogram({ name: 'h', help: 'H.', buckets: [1, 2], ...storage });
    h.observe(0.5);
    h.labels().observe(3);
    const s = new Summary({ name: 's', help: 'S.', percentiles: [0.5], ...storage });
    [1, 2, 3].forEach((x) => s.observe(x));
    await m.flush(); // a no-op without Redis
    assert.equal(
      await m.getCollector().metrics(),
      [
        '# HELP c_total C.', '# TYPE c_total counter', 'c_total{k="x"} 1', 'c_total{k="y"} 2.5', '',
        '# HELP g G.', '# TYPE g gauge', 'g 3', '',
        '# HELP h H.', '# TYPE h histogram', 'h_bucket{le="1"} 1', 'h_bucket{le="2"} 1', 'h_bucket{le="+Inf"} 2', 'h_sum 3.5', 'h_count 2', '',
        '# HELP s S.', '# TYPE s summary', 's{quantile="0.5"} 2', 's_sum 6', 's_count 3', '',
      ].join('\n'),
    );
    assert.deepEqual(await c.get(), {
      name: 'c_total', help: 'C.', type: 'counter', aggregator: 'sum',
      values: [{ labels: { k: 'x' }, value: 1 }, { labels: { k: 'y' }, value: 2.5 }],
    });
    await m.shutdown();
  });

  it('metrics without labels show 0 from the start, as in prom-client', async () => {
    const m = new RedisStorageManager({ env: {} });
    new Counter({ name: 'zero_total', help: 'Z.', storage: m, registers: [] });
    assert.equal(await m.getCollector().metrics(), '# HELP zero_total Z.\n# TYPE zero_total counter\nzero_total 0\n');
  });

  it('remove() and reset() forget series', async () => {
    const m = new RedisStorageManager({ env: {} });
    const g = new Gauge({ name: 'rg', help: 'R.', labelNames: ['a'], storage: m, registers: [] });
    g.set({ a: '1' }, 1);
    g.set({ a: '2' }, 2);
    const child = g.labels('3');
    child.set(3);
    g.remove({ a: '1' });
    g.remove('3');
    child.inc(); // a child of a removed series brings it back
    // No `pid` label without Redis (there is one process), and the order of creation, as in prom-client.
    assert.deepEqual((await g.get()).values, [
      { labels: { a: '2' }, value: 2 },
      { labels: { a: '3' }, value: 1 },
    ]);
    g.reset();
    assert.deepEqual((await g.get()).values, []);
  });

  it('OpenMetrics through the collector content type', async () => {
    const m = new RedisStorageManager({ env: {} });
    new Counter({ name: 'om_total', help: 'OM.', storage: m, registers: [] }).inc(3);
    const collector = m.getCollector();
    collector.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
    assert.equal(collector.contentType, Registry.OPENMETRICS_CONTENT_TYPE);
    assert.equal(await collector.metrics(), '# HELP om OM.\n# TYPE om counter\nom_total 3\n# EOF\n');
  });

  it('startTimer() records the seconds it returns, with start and end labels merged', async () => {
    const m = new RedisStorageManager({ env: {} });
    const storage = { storage: m, registers: [] };
    const h = new Histogram({ name: 't_seconds', help: 'T.', labelNames: ['route', 'code'], buckets: [10], ...storage });
    const g = new Gauge({ name: 't_gauge', help: 'T.', multiprocessMode: 'max', ...storage });
    const s = new Summary({ name: 't_summary', help: 'T.', percentiles: [0.5], ...storage });
    const hs = h.startTimer({ route: '/a' })({ code: '200' });
    const gs = g.startTimer()();
    const ss = s.labels().startTimer()();
    const values = async (metric: { get(): Promise<{ values: Array<{ value: number; labels: object; metricName?: string }> }> }, name: string) =>
      (await metric.get()).values.filter((v) => v.metricName === name);
    assert.deepEqual(await values(h, 't_seconds_sum'), [{ labels: { route: '/a', code: '200' }, value: hs, metricName: 't_seconds_sum', exemplar: undefined }]);
    assert.deepEqual((await g.get()).values, [{ labels: {}, value: gs }]);
    assert.deepEqual(await values(s, 't_summary_sum'), [{ labels: {}, value: ss, metricName: 't_summary_sum' }]);
    assert.ok(hs > 0 && gs > 0 && ss > 0);
  });

  it('series show in the order they were made, a removed one made again last, as in prom-client', async () => {
    const m = new RedisStorageManager({ env: {} });
    const c = new Counter({ name: 'set_total', help: 'S.', labelNames: ['k'], storage: m, registers: [] });
    const samples = async () => (await m.getCollector().metrics()).split('\n').filter((l) => l.startsWith('set_total'));
    c.inc({ k: 'b' }, 2);
    c.inc({ k: 'a' }, 1);
    assert.deepEqual(await samples(), ['set_total{k="b"} 2', 'set_total{k="a"} 1']);
    c.remove({ k: 'b' });
    c.inc({ k: 'c' }, 3);
    c.inc({ k: 'b' }, 4);
    assert.deepEqual(await samples(), ['set_total{k="a"} 1', 'set_total{k="c"} 3', 'set_total{k="b"} 4']);
    const json = await c.get();
    (json.values[0]!.labels as Record<string, string>).k = 'mutated by the caller';
    assert.deepEqual(await samples(), ['set_total{k="a"} 1', 'set_total{k="c"} 3', 'set_total{k="b"} 4'], 'get() hands out copies');
  });
});
