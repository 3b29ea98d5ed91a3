// Drop-in for prom-client (Redis off): each behaviour an app relies on, checked side by side with
// prom-client itself where it can be, so that "the same as prom-client" is measured, not assumed.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as prom from 'prom-client';
import { Counter, Gauge, Histogram, Summary, RedisStorageManager, ValidationError } from '../../src/index.js';

const memory = () => new RedisStorageManager({ env: {} });

/** A prom-client registry of that content type (its typings take no constructor argument). */
function registryOf(contentType: string): prom.Registry {
  const registry = new prom.Registry();
  (registry as unknown as { setContentType(t: string): void }).setContentType(contentType);
  return registry;
}

/** The same calls against prom-client's classes and ours, each in a fresh registry. */
async function bothRender(build: (lib: { Counter: typeof prom.Counter; Gauge: typeof prom.Gauge; Histogram: typeof prom.Histogram; Summary: typeof prom.Summary }, registry: prom.Registry, storage: RedisStorageManager) => void, contentType: string = prom.Registry.PROMETHEUS_CONTENT_TYPE): Promise<[string, string, RedisStorageManager]> {
  const theirs = registryOf(contentType);
  build(prom, theirs, memory());
  const ours = registryOf(contentType);
  const storage = memory();
  const withStorage = <T extends new (config: never) => unknown>(Class: T) =>
    class extends (Class as unknown as new (c: object) => object) {
      constructor(config: object) {
        super({ ...config, storage });
      }
    } as unknown as T;
  build({ Counter: withStorage(Counter) as never, Gauge: withStorage(Gauge) as never, Histogram: withStorage(Histogram) as never, Summary: withStorage(Summary) as never }, ours, storage);
  return [await theirs.metrics(), await ours.metrics(), storage];
}

describe('drop-in for prom-client, Redis off', () => {
  it('renders every type exactly as prom-client, in both formats, registry default labels included', async () => {
    for (const contentType of [prom.Registry.PROMETHEUS_CONTENT_TYPE, prom.Registry.OPENMETRICS_CONTENT_TYPE] as string[]) {
      const [theirs, ours, storage] = await bothRender((lib, registry) => {
        registry.setDefaultLabels({ env: 'dev' });
        const registers = [registry];
        const c = new lib.Counter({ name: 'jobs_total', help: 'Jobs.', labelNames: ['queue', 'code'], registers });
        c.inc({ queue: 'mail', code: 200 }, 2);
        c.labels('sms', '500').inc();
        const g = new lib.Gauge({ name: 'depth', help: 'Depth.', labelNames: ['queue'], registers });
        g.set({ queue: 'mail' }, 7);
        g.dec({ queue: 'mail' }, 2);
        g.inc({ queue: 'sms' });
        const h = new lib.Histogram({ name: 'lat_seconds', help: 'Latency.', labelNames: ['route'], buckets: [0.1, 1], registers });
        h.observe({ route: '/a' }, 0.05);
        h.labels('/b').observe(3);
        new lib.Histogram({ name: 'plain_seconds', help: 'Plain.', buckets: [1], registers }).observe(0.5);
        const s = new lib.Summary({ name: 'size_bytes', help: 'Size.', percentiles: [0.5], registers });
        s.observe(4);
      }, contentType);
      assert.equal(ours, theirs, contentType);
      // A gauge of mode `all` has no `pid` label without Redis: there is one process.
      assert.doesNotMatch(ours, /pid=/);
      await storage.shutdown();
    }
  });

  it('the collector of a manager without Redis renders what a prom-client registry would', async () => {
    const [theirs, , storage] = await bothRender((lib, registry) => {
      const registers = [registry];
      new lib.Counter({ name: 'b_total', help: 'B.', registers }).inc(3);
      new lib.Gauge({ name: 'a', help: 'A.', labelNames: ['x'], registers }).set({ x: 'y' }, 1);
    });
    // Creation order (b before a), as a registry keeps it; with Redis the collector sorts by name.
    assert.equal(await storage.getCollector().metrics(), theirs);
  });

  it('a name can be made again after clear(), removeSingleMetric() or in another registry, and starts from zero', async () => {
    const storage = memory();
    const registry = new prom.Registry();
    const first = new Counter({ name: 'again_total', help: 'A.', registers: [registry], storage });
    first.inc(5);
    registry.clear();
    const second = new Counter({ name: 'again_total', help: 'A.', registers: [registry], storage });
    second.inc(1);
    assert.equal(await registry.metrics(), '# HELP again_total A.\n# TYPE again_total counter\nagain_total 1\n');
    registry.removeSingleMetric('again_total');
    const third = new Counter({ name: 'again_total', help: 'A again.', labelNames: ['k'], registers: [registry], storage });
    third.inc({ k: 'v' }, 2);
    const elsewhere = new Counter({ name: 'again_total', help: 'A.', registers: [new prom.Registry()], storage });
    elsewhere.inc(9);
    // Each object keeps its own values; the manager's family is the newest object's.
    assert.deepEqual((await first.get()).values, [{ labels: {}, value: 5 }]);
    assert.deepEqual((await third.get()).values, [{ labels: { k: 'v' }, value: 2 }]);
    assert.equal(await storage.getCollector().metrics(), '# HELP again_total A.\n# TYPE again_total counter\nagain_total 9\n');
    assert.equal(first.family, undefined);
    assert.equal(elsewhere.family, storage.dict.families.get('again_total'));
  });

  it('the same name twice in one registry throws prom-client\'s error and changes nothing', async () => {
    const storage = memory();
    const registry = new prom.Registry();
    const kept = new Counter({ name: 'dup_total', help: 'D.', registers: [registry], storage });
    kept.inc(2);
    const message = (() => {
      try {
        new prom.Counter({ name: 'dup_total', help: 'D.', registers: [registry] });
      } catch (error) {
        return (error as Error).message;
      }
      return 'no error';
    })();
    assert.throws(() => new Counter({ name: 'dup_total', help: 'D.', registers: [registry], storage }), (error: unknown) => {
      assert.ok(error instanceof ValidationError);
      assert.equal(error.code, 'ERR_PCR_DUPLICATE_METRIC');
      assert.equal(error.message, message);
      return true;
    });
    assert.equal(kept.family, storage.dict.families.get('dup_total'), 'the first one still feeds the family');
    kept.inc();
    assert.equal(await registry.metrics(), '# HELP dup_total D.\n# TYPE dup_total counter\ndup_total 3\n');
  });

  it('an OpenMetrics registry renames a counter named *_total; get() and the text stay right', async () => {
    const storage = memory();
    const registry = registryOf(prom.Registry.OPENMETRICS_CONTENT_TYPE);
    const c = new Counter({ name: 'c_b_total', help: 'C.', registers: [registry], storage });
    c.inc(4);
    assert.equal(await registry.metrics(), '# HELP c_b C.\n# TYPE c_b counter\nc_b_total 4\n# EOF\n');
    assert.equal(c.name, 'c_b', 'renamed by prom-client, as its own counters are');
    assert.deepEqual((await c.get()).values, [{ labels: {}, value: 4 }]);
    assert.equal(await registry.metrics(), '# HELP c_b C.\n# TYPE c_b counter\nc_b_total 4\n# EOF\n');
  });

  it('get() shapes: le and quantile numbers, label values of their given type, bucket exemplars', async () => {
    const storage = memory();
    const h = new Histogram({ name: 'shape_seconds', help: 'S.', labelNames: ['code'], buckets: [0.5], registers: [], storage });
    h.observe({ code: 200 }, 0.1);
    assert.deepEqual((await h.get()).values, [
      { labels: { le: 0.5, code: 200 }, value: 1, metricName: 'shape_seconds_bucket', exemplar: null },
      { labels: { le: '+Inf', code: 200 }, value: 1, metricName: 'shape_seconds_bucket', exemplar: null },
      { labels: { code: 200 }, value: 0.1, metricName: 'shape_seconds_sum', exemplar: undefined },
      { labels: { code: 200 }, value: 1, metricName: 'shape_seconds_count', exemplar: undefined },
    ]);
    const theirs = new prom.Histogram({ name: 'shape_seconds', help: 'S.', labelNames: ['code'], buckets: [0.5], registers: [] });
    theirs.observe({ code: 200 }, 0.1);
    assert.deepEqual((await h.get()).values, (await theirs.get()).values);
    const s = new Summary({ name: 'shape_summary', help: 'S.', percentiles: [0.5], registers: [], storage });
    s.observe(2);
    assert.deepEqual((await s.get()).values, [
      { labels: { quantile: 0.5 }, value: 2 },
      { labels: {}, value: 2, metricName: 'shape_summary_sum' },
      { labels: {}, value: 1, metricName: 'shape_summary_count' },
    ]);
  });

  it('exemplars: the prom-client 15 API, shown in OpenMetrics only, checked as prom-client does', async () => {
    const storage = memory();
    const registry = registryOf(prom.Registry.OPENMETRICS_CONTENT_TYPE);
    const realNow = Date.now;
    Date.now = () => 1_700_000_000_500;
    try {
      const c = new Counter({ name: 'ex_total', help: 'E.', labelNames: ['m'], enableExemplars: true, registers: [registry], storage });
      c.inc({ labels: { m: 'get' }, value: 2, exemplarLabels: { traceId: 'abc' } });
      c.inc({ labels: { m: 'get' }, value: 3 }); // no exemplar labels: the exemplar stays
      const h = new Histogram({ name: 'ex_seconds', help: 'E.', buckets: [1], enableExemplars: true, registers: [registry], storage });
      h.observe({ value: 0.5, exemplarLabels: { traceId: 'low' } });
      h.observe({ value: 7, exemplarLabels: { traceId: 'high' } });
      assert.deepEqual((await c.get()).values, [{ labels: { m: 'get' }, value: 5, exemplar: { labelSet: { traceId: 'abc' }, value: 2, timestamp: 1_700_000_000.5 } }]);
      assert.equal(
        await registry.metrics(),
        [
          '# HELP ex E.', '# TYPE ex counter', 'ex_total{m="get"} 5 # {traceId="abc"} 2 1700000000.5',
          '# HELP ex_seconds E.', '# TYPE ex_seconds histogram',
          'ex_seconds_bucket{le="1"} 1 # {traceId="low"} 0.5 1700000000.5',
          'ex_seconds_bucket{le="+Inf"} 2 # {traceId="high"} 7 1700000000.5',
          'ex_seconds_sum 7.5', 'ex_seconds_count 2', '# EOF', '',
        ].join('\n'),
      );
      assert.throws(() => new Counter({ name: 'ex2_total', help: 'E.', enableExemplars: true, registers: [new prom.Registry()], storage }), { message: 'Exemplars are supported only on OpenMetrics registries' });
      assert.equal(storage.dict.families.has('ex2_total'), false, 'refused before it reached the store');
      assert.throws(() => h.observe({ value: 1, exemplarLabels: { traceId: 'j'.repeat(100), spanId: 'j'.repeat(100) } }), { message: 'Label set size must be smaller than 128 UTF-8 chars' });
      assert.throws(() => c.inc({ labels: { m: 'get' }, exemplarLabels: { 'bad name': 'x' } }), { code: 'ERR_PCR_INVALID_LABEL' });
    } finally {
      Date.now = realNow;
    }
  });

  it('collect callbacks: get() runs its metric\'s own; the collector runs those of the metrics it serves', async () => {
    const storage = memory();
    const calls: string[] = [];
    const registry = new prom.Registry();
    const a = new Gauge({ name: 'cb_a', help: 'A.', registers: [registry], storage, collect() { calls.push('a'); this.set(1); } });
    new Gauge({ name: 'cb_b', help: 'B.', registers: [registry], storage, collect() { calls.push('b'); } });
    await a.get();
    assert.deepEqual(calls, ['a']);
    calls.length = 0;
    registry.clear();
    new Gauge({ name: 'cb_b', help: 'B again.', registers: [registry], storage, collect() { calls.push('b2'); } });
    await storage.getCollector().metrics();
    assert.deepEqual(calls.sort(), ['a', 'b2'], 'the replaced cb_b is not called');
  });

  it('remove(), reset() and zero() as prom-client', async () => {
    const storage = memory();
    const c = new Counter({ name: 'rm_total', help: 'R.', labelNames: ['method', 'endpoint'], registers: [], storage });
    const theirs = new prom.Counter({ name: 'rm_total', help: 'R.', labelNames: ['method', 'endpoint'], registers: [] });
    const messageOf = (fn: () => unknown) => {
      try {
        fn();
      } catch (error) {
        return (error as Error).message;
      }
      return 'no error';
    };
    assert.equal(messageOf(() => c.remove('GET')), messageOf(() => theirs.remove('GET')));
    assert.equal(messageOf(() => c.remove('GET')), 'Invalid number of arguments (1): "GET" for label names (2): "method, endpoint".');
    const plain = new Histogram({ name: 'rm_seconds', help: 'R.', buckets: [1], registers: [], storage });
    plain.observe(0.5);
    plain.reset();
    assert.deepEqual((await plain.get()).values, [], 'a label-less histogram shows nothing after reset(), as prom-client');
    plain.zero({});
    assert.equal((await plain.get()).values.find((v) => v.metricName === 'rm_seconds_count')!.value, 0);
    const s = new Summary({ name: 'rm_summary', help: 'R.', labelNames: ['k'], percentiles: [0.5], registers: [], storage });
    s.observe({ k: 'x' }, 3);
    s.reset();
    assert.deepEqual((await s.get()).values, [
      { labels: { quantile: 0.5, k: 'x' }, value: 0 },
      { labels: { k: 'x' }, value: 0, metricName: 'rm_summary_sum' },
      { labels: { k: 'x' }, value: 0, metricName: 'rm_summary_count' },
    ], 'a summary keeps its series at zero after reset(), as prom-client');
  });

  it('pruneAgedBuckets leaves out a series with nothing in its window', async () => {
    const storage = memory();
    const realNow = Date.now;
    let now = 1_000_000;
    Date.now = () => now;
    try {
      const s = new Summary({ name: 'aged', help: 'A.', labelNames: ['k'], percentiles: [0.5], maxAgeSeconds: 10, ageBuckets: 2, pruneAgedBuckets: true, registers: [], storage });
      s.observe({ k: 'old' }, 1);
      now += 5_000;
      s.observe({ k: 'new' }, 2);
      assert.deepEqual((await s.get()).values.map((v) => [v.labels.k, v.labels.quantile ?? v.metricName, v.value]), [
        ['old', 0.5, 1], ['old', 'aged_sum', 1], ['old', 'aged_count', 1],
        ['new', 0.5, 2], ['new', 'aged_sum', 2], ['new', 'aged_count', 1],
      ]);
      now += 6_000;
      assert.deepEqual((await s.get()).values.map((v) => v.labels.k), ['new', 'new', 'new']);
    } finally {
      Date.now = realNow;
    }
  });

  it('misuse gets prom-client\'s message wherever prom-client has one, and our code', () => {
    const storage = memory();
    const ours = { c: new Counter({ name: 'm_total', help: 'M.', labelNames: ['foo'], registers: [], storage }), g: new Gauge({ name: 'm_g', help: 'M.', registers: [], storage }), s: new Summary({ name: 'm_s', help: 'M.', labelNames: ['foo'], registers: [], storage }) };
    const theirs = { c: new prom.Counter({ name: 'm_total', help: 'M.', labelNames: ['foo'], registers: [] }), g: new prom.Gauge({ name: 'm_g', help: 'M.', registers: [] }), s: new prom.Summary({ name: 'm_s', help: 'M.', labelNames: ['foo'], registers: [] }) };
    const calls: Array<[string, (m: typeof ours | typeof theirs) => unknown]> = [
      ['negative increment', (m) => m.c.inc(-1)],
      ['not a number', (m) => m.c.inc('3ms' as never)],
      ['gauge not a number', (m) => m.g.set('asd' as never)],
      ['gauge delta', (m) => m.g.inc('x' as never)],
      ['unknown label', (m) => m.s.observe({ baz: 'x' } as never, 1)],
      ['label count', (m) => m.c.labels('a', 'b')],
    ];
    for (const [what, call] of calls) {
      let expected = '';
      try {
        call(theirs);
      } catch (error) {
        expected = (error as Error).message;
      }
      assert.notEqual(expected, '', `prom-client throws for ${what}`);
      assert.throws(() => call(ours), (error: unknown) => {
        assert.ok(error instanceof ValidationError, what);
        assert.match(error.code, /^ERR_PCR_/);
        assert.equal(error.message, expected, what);
        return true;
      });
    }
    assert.throws(() => new Histogram({ name: 'le_h', help: 'L.', labelNames: ['le'], storage }), { message: 'le is a reserved label keyword', code: 'ERR_PCR_INVALID_LABEL' });
    assert.throws(() => new Summary({ name: 'q_s', help: 'Q.', labelNames: ['quantile'], storage }), { message: 'quantile is a reserved label keyword', code: 'ERR_PCR_INVALID_LABEL' });
  });
});
