import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Gauge, Histogram, RedisStorageManager } from '../../src/index.js';

// The label index (MetricFamily.valueFor) answers repeated label sets without building a key;
// these tests pin what it must keep: one series per label set however it is given, and misuse
// rejected at once on a hit as on a miss.
describe('label index: the hot-path lookup of a label set', () => {
  const open = (maxSeriesPerMetric = 3) => {
    const m = new RedisStorageManager({ env: {}, maxSeriesPerMetric });
    return { storage: m, registers: [] };
  };

  it('a number and its string are one series, by object and positionally', async () => {
    const c = new Counter({ name: 'idx_total', help: 'I.', labelNames: ['code', 'm'], ...open() });
    c.inc({ code: 200, m: 'GET' });
    c.inc({ code: '200', m: 'GET' });
    c.inc({ m: 'GET', code: 200 }, 2);
    c.labels(200, 'GET').inc();
    c.labels('200', 'GET').inc();
    c.inc({ code: -0, m: 'GET' }); // String(-0) is '0'
    c.inc({ code: 0, m: 'GET' });
    // In the order made, each label value of the type it was first given in (as prom-client keeps it).
    assert.deepEqual((await c.get()).values, [
      { labels: { code: 200, m: 'GET' }, value: 6 },
      { labels: { code: 0, m: 'GET' }, value: 2 },
    ]);
  });

  it('number labels come back as numbers for the first 25 labels, as strings past them; the series flags beside them hold', async () => {
    const names = Array.from({ length: 28 }, (_, i) => `l${i}`);
    const c = new Counter({ name: 'wide_numbers_total', help: 'W.', labelNames: names, ...open() });
    const numbers = Object.fromEntries(names.map((n, i) => [n, i + 1]));
    c.inc(numbers, 3);
    c.inc(Object.fromEntries(names.map((n, i) => [n, String(i + 1)])));
    const expected = Object.fromEntries(names.map((n, i) => [n, i < 25 ? i + 1 : String(i + 1)]));
    assert.deepEqual((await c.get()).values, [{ labels: expected, value: 4 }]);
    c.remove(numbers);
    assert.deepEqual((await c.get()).values, []);
    c.inc(numbers);
    assert.deepEqual((await c.get()).values, [{ labels: expected, value: 1 }]);
  });

  it('one label: a number and its string are one series, removed and made again', async () => {
    const c = new Counter({ name: 'idx_one_total', help: 'I.', labelNames: ['code'], ...open() });
    c.inc({ code: 200 });
    c.inc({ code: '200' });
    c.labels(200).inc();
    c.labels('200').inc();
    c.inc();
    c.inc({});
    assert.deepEqual((await c.get()).values, [{ labels: { code: 200 }, value: 4 }, { labels: {}, value: 2 }]);
    c.remove('200');
    c.inc({ code: 200 }, 5);
    assert.deepEqual((await c.get()).values, [{ labels: {}, value: 2 }, { labels: { code: 200 }, value: 5 }]);
    assert.throws(() => c.labels(undefined as never), { code: 'ERR_PCR_INVALID_LABEL' });
    assert.throws(() => c.inc({ code: 200, other: 1 } as never), { code: 'ERR_PCR_INVALID_LABEL', message: /"other"/ });
  });

  it('label values that hold any character stay apart', async () => {
    const c = new Counter({ name: 'idx_chars_total', help: 'I.', labelNames: ['a', 'b'], ...open(10) });
    c.inc({ a: 'x\u0001y', b: 'z' });
    c.inc({ a: 'x', b: 'y\u0001z' }, 2);
    c.inc({ a: '","', b: '' }, 3);
    c.inc({ a: '', b: '","' }, 4);
    assert.deepEqual(
      (await c.get()).values.map((v) => [v.labels.a ?? '', v.labels.b ?? '', v.value]).sort(),
      [['x\u0001y', 'z', 1], ['x', 'y\u0001z', 2], ['","', '', 3], ['', '","', 4]].sort(),
    );
    c.remove('x', 'y\u0001z');
    assert.equal((await c.get()).values.length, 3);
  });

  it('a missing label is the empty value, given or not, explicitly undefined or not', async () => {
    const c = new Counter({ name: 'idx_missing_total', help: 'I.', labelNames: ['a', 'b'], ...open() });
    c.inc({ a: 'x' });
    c.inc({ a: 'x', b: '' });
    c.inc({ a: 'x', b: undefined });
    assert.deepEqual((await c.get()).values, [{ labels: { a: 'x' }, value: 3 }]);
  });

  it('an unknown label name or a bad value throws on a known label set too', () => {
    const c = new Counter({ name: 'idx_bad_total', help: 'I.', labelNames: ['a'], ...open() });
    c.inc({ a: 'x' });
    c.inc({ a: 1 });
    assert.throws(() => c.inc({ a: 'x', b: 'y' } as never), { code: 'ERR_PCR_INVALID_LABEL', message: /"b"/ });
    assert.throws(() => c.inc({ a: 1, b: 'y' } as never), { code: 'ERR_PCR_INVALID_LABEL', message: /"b"/ });
    assert.throws(() => c.inc({ a: Number.NaN }), { code: 'ERR_PCR_INVALID_LABEL' });
    assert.throws(() => c.inc({ a: true } as never), { code: 'ERR_PCR_INVALID_LABEL' });
    assert.throws(() => c.labels(Number.POSITIVE_INFINITY), { code: 'ERR_PCR_INVALID_LABEL' });
    assert.throws(() => c.labels('x', 'y'), { code: 'ERR_PCR_INVALID_LABEL' });
  });

  it('a removed series starts again from zero, under its string and its number', async () => {
    const g = new Gauge({ name: 'idx_removed', help: 'I.', labelNames: ['n', 'k'], multiprocessMode: 'sum', ...open() });
    g.set({ n: 7, k: 'a' }, 5);
    g.set({ n: 7, k: 'b' }, 6);
    g.remove({ n: '7', k: 'a' });
    g.inc({ n: 7, k: 'a' });
    g.remove('7', 'b');
    g.inc({ n: '7', k: 'b' }, 2);
    assert.deepEqual((await g.get()).values, [
      { labels: { n: 7, k: 'a' }, value: 1 },
      { labels: { n: '7', k: 'b' }, value: 2 },
    ]);
    g.reset();
    g.inc({ n: 7, k: 'a' }, 3);
    assert.deepEqual((await g.get()).values, [{ labels: { n: 7, k: 'a' }, value: 3 }]);
  });

  it('past the series limit, a new label set is dropped at every call and can come in after a removal', async () => {
    const o = open();
    const c = new Counter({ name: 'idx_limit_total', help: 'I.', labelNames: ['a'], ...o });
    for (const a of ['1', '2', '3', '4', '4']) c.inc({ a });
    assert.equal(o.storage.dict.droppedSeries, 2);
    c.remove('1');
    c.inc({ a: '4' });
    assert.deepEqual((await c.get()).values.map((v) => [v.labels.a, v.value]), [['2', 1], ['3', 1], ['4', 1]]);
  });

  it('startTimer: the end labels are the start labels overridden by the end labels', async () => {
    const h = new Histogram({ name: 'idx_timer', help: 'T.', labelNames: ['a', 'b'], buckets: [1e9], ...open(10) });
    h.startTimer()({ a: 'end' });
    h.startTimer({ a: 'start' })();
    h.startTimer({ a: 'start', b: 'x' })({ a: 'end' });
    const start = { a: 'kept' };
    h.startTimer(start)({ b: 'y' });
    assert.deepEqual(start, { a: 'kept' }, 'the caller\'s object is not changed');
    const counts = (await h.get()).values.filter((v) => v.metricName === 'idx_timer_count').map((v) => [v.labels.a, v.labels.b ?? '', v.value]);
    assert.deepEqual(counts, [['end', '', 1], ['start', '', 1], ['end', 'x', 1], ['kept', 'y', 1]]);
  });
});
