import { Counter, Gauge, Histogram, Summary, RedisStorageManager } from '/work/wt-bounds/dist/src/index.js';
const storage = new RedisStorageManager({ enabled: false, exitHooks: false });
const opts = { storage, registers: [] };
const L = ['constructor', 'toString', 'hasOwnProperty'];
const c = new Counter({ name: 'c', help: 'h', labelNames: L, ...opts });
const g = new Gauge({ name: 'g', help: 'h', labelNames: L, ...opts });
const h = new Histogram({ name: 'hh', help: 'h', labelNames: L, buckets: [1], ...opts });
const s = new Summary({ name: 's', help: 'h', labelNames: L, percentiles: [0.5], ...opts });
const steps = {
  'c.inc full': () => c.inc({ constructor: 'a', toString: 'b', hasOwnProperty: 'c' }),
  'c.inc missing': () => c.inc({ toString: 'b' }, 2),
  'c.inc none': () => c.inc(3),
  'c.labels pos': () => c.labels('a', 'b', 'c').inc(),
  'c.labels obj missing': () => c.labels({ hasOwnProperty: 'z' }).inc(),
  'c.remove obj missing': () => c.remove({ toString: 'b' }),
  'g.set missing': () => g.set({ toString: 'q' }, 5),
  'g.inc': () => g.inc({ constructor: 'k' }, 2),
  'g.startTimer': () => g.startTimer({ toString: 't' })({ constructor: 'u' }),
  'h.observe missing': () => h.observe({ toString: 'b' }, 0.5),
  'h.startTimer': () => h.startTimer({ constructor: 'x' })(),
  'h.zero': () => h.zero({ constructor: 'x' }),
  's.observe missing': () => s.observe({ hasOwnProperty: 'y' }, 2),
  's.labels': () => s.labels({ constructor: 'a' }).observe(1),
  's.remove': () => s.remove({ constructor: 'a' }),
};
for (const [k, f] of Object.entries(steps)) {
  try { f(); console.log(k, 'ok'); } catch (e) { console.log(k, 'THREW', e.message); }
}
console.log(await storage.getCollector().metrics());
console.log(JSON.stringify((await c.get()).values));
