import { Counter, Gauge, Histogram, Summary, RedisStorageManager } from '/work/wt-bounds/dist/src/index.js';
import { Registry } from 'prom-client';
const storage = new RedisStorageManager({ enabled: false, exitHooks: false });
const reg = new Registry(); reg.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
const opts = { storage, registers: [reg] };
const c = new Counter({ name: 'c', help: 'h', labelNames: ['a'], ...opts }); const ce = new Counter({ name: 'ce', help: 'h', labelNames: ['a'], enableExemplars: true, ...opts });
const g = new Gauge({ name: 'g', help: 'h', labelNames: ['a'], ...opts });
const h = new Histogram({ name: 'hh', help: 'h', labelNames: ['a'], buckets: [1], ...opts }); const he = new Histogram({ name: 'he', help: 'h', labelNames: ['a'], buckets: [1], enableExemplars: true, ...opts });
const s = new Summary({ name: 's', help: 'h', labelNames: ['a'], ...opts });
const bad = '\uD800', bad2 = '\uDC00';
const tries = {
  'counter.inc': () => c.inc({ a: bad }),
  'counter.labels': () => c.labels(bad).inc(), 'ce.inc': () => ce.inc({ labels: { a: bad }, value: 1 }),
  'counter.labels obj': () => c.labels({ a: bad }),
  'counter.remove': () => c.remove({ a: bad }),
  'counter.remove pos': () => c.remove(bad),
  'counter.exemplar': () => ce.inc({ labels: { a: 'x' }, value: 1, exemplarLabels: { t: bad } }),
  'gauge.set': () => g.set({ a: bad }, 1),
  'gauge.startTimer': () => g.startTimer({ a: bad })(),
  'gauge.startTimer end': () => g.startTimer()({ a: bad2 }),
  'hist.observe': () => h.observe({ a: bad }, 1),
  'hist.exemplar': () => he.observe({ labels: { a: 'x' }, value: 1, exemplarLabels: { t: bad } }),
  'hist.startTimer': () => h.startTimer({ a: bad })(),
  'summary.observe': () => s.observe({ a: bad }, 1),
  'summary.startTimer': () => s.startTimer()({ a: bad }),
  'summary.labels.observe': () => s.labels(bad2).observe(1),
};
for (const [k, f] of Object.entries(tries)) {
  try { f(); console.log(k, 'ACCEPTED'); } catch (e) { console.log(k, 'refused:', e.message); }
}
console.log(await reg.metrics());
