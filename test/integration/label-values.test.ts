// Issue 11, smaller defects: label values with lone surrogates are refused at every entry point (each
// would be exposed as U+FFFD, so distinct series would collapse into identical lines), and label
// names that are also Object.prototype's (`constructor`, `toString`, `hasOwnProperty`) work in every
// method, missing or given, with Redis and without.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { Counter, Gauge, Histogram, RedisStorageManager, Summary, ValidationError } from '../../src/index.js';
import { newPrefix } from '../helpers/redis-server.js';
import { redisSuite } from '../helpers/redis-suite.js';
import { startScraper } from '../helpers/scraper.js';

const WELL_FORMED = 'a well-formed string (a lone surrogate cannot be exposed)';

function refused(fn: () => unknown, message: string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof ValidationError, `got ${String(error)}`);
    assert.equal(error.code, 'ERR_PCR_INVALID_LABEL');
    assert.equal(error.message, message);
    return true;
  });
}

describe('lone surrogates in label values', () => {
  it('are refused at once by every entry point, naming the surrogate, and leave the store as it was', async () => {
    const storage = new RedisStorageManager({ enabled: false, exitHooks: false });
    // Exemplars need an OpenMetrics registry (the metric types only name the text one).
    const registry = new Registry();
    (registry as unknown as { setContentType(t: string): void }).setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
    const opts = { storage, registers: [registry] };
    const c = new Counter({ name: 'c_total', help: 'C.', labelNames: ['a'], ...opts });
    const ce = new Counter({ name: 'ce_total', help: 'C.', labelNames: ['a'], enableExemplars: true, ...opts });
    const g = new Gauge({ name: 'g', help: 'G.', labelNames: ['a'], ...opts });
    const h = new Histogram({ name: 'h', help: 'H.', labelNames: ['a'], buckets: [1], ...opts });
    const he = new Histogram({ name: 'he', help: 'H.', labelNames: ['a'], buckets: [1], enableExemplars: true, ...opts });
    const s = new Summary({ name: 's', help: 'S.', labelNames: ['a'], percentiles: [0.5], ...opts });
    const high = '\uD800';
    const low = 'x\uDC00';
    const label = (metric: string, value: string, name = 'a') => `Invalid value for label \`${name}\` of metric \`${metric}\`: expected ${WELL_FORMED}, got \`${value}\` (string)`;
    const cases: Array<[() => unknown, string]> = [
      [() => c.inc({ a: high }), label('c_total', '\\uD800')],
      [() => c.inc({ a: low }, 2), label('c_total', 'x\\uDC00')],
      [() => c.labels(high), label('c_total', '\\uD800')],
      [() => c.labels({ a: high }), label('c_total', '\\uD800')],
      [() => c.remove(high), label('c_total', '\\uD800')],
      [() => c.remove({ a: low }), label('c_total', 'x\\uDC00')],
      [() => ce.inc({ labels: { a: high }, value: 1 }), label('ce_total', '\\uD800')],
      [() => ce.inc({ labels: { a: 'ok' }, value: 1, exemplarLabels: { trace: high } }), label('ce_total', '\\uD800', 'exemplar trace')],
      [() => g.set({ a: high }, 1), label('g', '\\uD800')],
      [() => g.inc({ a: high }), label('g', '\\uD800')],
      [() => g.dec({ a: high }), label('g', '\\uD800')],
      [() => g.startTimer({ a: high })(), label('g', '\\uD800')],
      [() => g.startTimer()({ a: low }), label('g', 'x\\uDC00')],
      [() => h.observe({ a: high }, 1), label('h', '\\uD800')],
      [() => h.startTimer({ a: high })(), label('h', '\\uD800')],
      [() => h.zero({ a: high }), label('h', '\\uD800')],
      [() => he.observe({ labels: { a: 'ok' }, value: 0.5, exemplarLabels: { trace: low } }), label('he', 'x\\uDC00', 'exemplar trace')],
      [() => s.observe({ a: high }, 1), label('s', '\\uD800')],
      [() => s.labels(low).observe(1), label('s', 'x\\uDC00')],
      [() => s.startTimer()({ a: high }), label('s', '\\uD800')],
    ];
    for (const [fn, message] of cases) refused(fn, message);
    // A surrogate pair is one well-formed character: distinct pairs stay distinct series.
    c.inc({ a: '\uD83D\uDE00' });
    c.inc({ a: '\uD83D\uDE01' }, 2);
    assert.deepEqual(
      (await registry.metrics()).split('\n').filter((l) => /^[a-z]/.test(l) && !l.includes('_created')),
      // (The refused exemplars' increments were refused with them.)
      ['c_total{a="😀"} 1', 'c_total{a="😁"} 2'],
    );
  });
});

describe('label names that are Object.prototype properties', () => {
  const redis = redisSuite();
  const NAMES = ['constructor', 'toString', 'hasOwnProperty'];

  /** Every method, with the names missing, given, and given partly; returns the metrics. */
  function exercise(storage: RedisStorageManager) {
    const opts = { storage, registers: [] };
    const c = new Counter({ name: 'c_total', help: 'C.', labelNames: NAMES, ...opts });
    const g = new Gauge({ name: 'g', help: 'G.', labelNames: NAMES, multiprocessMode: 'sum', ...opts });
    const h = new Histogram({ name: 'h', help: 'H.', labelNames: NAMES, buckets: [1], ...opts });
    const s = new Summary({ name: 's', help: 'S.', labelNames: NAMES, percentiles: [0.5], ...opts });
    c.inc({ constructor: 'a', toString: 'b', hasOwnProperty: 'c' });
    c.inc({ toString: 'b' }, 2);
    c.inc(3);
    c.labels('a', 'b', 'c').inc(4);
    c.labels({ hasOwnProperty: 'z' }).inc();
    c.inc({ constructor: 'gone' });
    c.remove({ constructor: 'gone' });
    c.inc({ toString: 'gone2' });
    c.remove('', 'gone2', '');
    g.set({ toString: 'q' }, 5);
    g.inc({ constructor: 'k' }, 2);
    g.dec({ constructor: 'k' }, 0.5);
    g.labels({ hasOwnProperty: 'p' }).set(9);
    g.startTimer({ toString: 't' })({ constructor: 'u' });
    h.observe({ toString: 'b' }, 0.5);
    h.labels({ constructor: 'x' }).observe(2);
    h.zero({ hasOwnProperty: 'zero' });
    h.startTimer({ constructor: 'timer' })();
    s.observe({ hasOwnProperty: 'y' }, 2);
    s.labels({ constructor: 'a' }).observe(1);
    s.remove({ constructor: 'a' });
    return { c, g, h, s };
  }

  const expected = [
    'c_total 3',
    'c_total{constructor="a",toString="b",hasOwnProperty="c"} 5',
    'c_total{hasOwnProperty="z"} 1',
    'c_total{toString="b"} 2',
    'g{constructor="k"} 1.5',
    'g{constructor="u",toString="t"} <timer>',
    'g{hasOwnProperty="p"} 9',
    'g{toString="q"} 5',
    'h_bucket{le="+Inf",constructor="timer"} 1',
    'h_bucket{le="+Inf",constructor="x"} 1',
    'h_bucket{le="+Inf",hasOwnProperty="zero"} 0',
    'h_bucket{le="+Inf",toString="b"} 1',
    'h_bucket{le="1",constructor="timer"} 1',
    'h_bucket{le="1",constructor="x"} 0',
    'h_bucket{le="1",hasOwnProperty="zero"} 0',
    'h_bucket{le="1",toString="b"} 1',
    'h_count{constructor="timer"} 1',
    'h_count{constructor="x"} 1',
    'h_count{hasOwnProperty="zero"} 0',
    'h_count{toString="b"} 1',
    'h_sum{constructor="timer"} <timer>',
    'h_sum{constructor="x"} 2',
    'h_sum{hasOwnProperty="zero"} 0',
    'h_sum{toString="b"} 0.5',
    's_count{hasOwnProperty="y"} 1',
    's_sum{hasOwnProperty="y"} 2',
    's{quantile="0.5",hasOwnProperty="y"} 2',
  ];
  /** Sample lines sorted, the two timer readings (whose value is a duration) masked. */
  const lines = (text: string) =>
    text.split('\n').filter((l) => /^[a-z]/.test(l)).map((l) => (/constructor="(u|timer)"/.test(l) && /^(g|h_sum)\{/.test(l) ? l.replace(/ [0-9.e-]+$/, ' <timer>') : l)).sort();

  it('work in every method without Redis', async () => {
    const storage = new RedisStorageManager({ enabled: false, exitHooks: false });
    const { c } = exercise(storage);
    assert.deepEqual(lines(await storage.getCollector().metrics()), expected);
    const want: unknown[] = [{ constructor: 'a', toString: 'b', hasOwnProperty: 'c' }, { toString: 'b' }, {}, { hasOwnProperty: 'z' }];
    assert.deepEqual((await c.get()).values.map((v) => v.labels), want);
  });

  it('work in every method with Redis, and a fresh scraper reads the same', async () => {
    const prefix = newPrefix('proto-labels');
    const writer = redis.track(new RedisStorageManager({ enabled: true, url: redis.server.url, keyPrefix: prefix, flushIntervalMs: 3_600_000, exitHooks: false, identity: { host: 'w', pid: 1, nonce: 'n' } }));
    await writer.waitUntilConnected(5000);
    const { c } = exercise(writer);
    // Before the flush (this process's own deltas), and after it from another process.
    assert.deepEqual(lines(await writer.getCollector().metrics()), expected);
    await writer.flush();
    const scraper = redis.track(await startScraper(redis.server, prefix, { exitHooks: false }));
    assert.deepEqual(lines(await scraper.getCollector().metrics()), expected);
    const byJson = (a: unknown, b: unknown) => JSON.stringify(a).localeCompare(JSON.stringify(b));
    const want: unknown[] = [[{}, 3], [{ constructor: 'a', toString: 'b', hasOwnProperty: 'c' }, 5], [{ hasOwnProperty: 'z' }, 1], [{ toString: 'b' }, 2]];
    assert.deepEqual((await c.get()).values.map((v) => [v.labels, v.value]).sort(byJson), want.sort(byJson));
  });
});
