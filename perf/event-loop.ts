// Event-loop delay while flushing and collecting 100,000 series (issue 3, item 11).
// Run: npm run build && node dist/perf/event-loop.js   (starts its own redis-server)
// Prints the p99 and max of perf_hooks.monitorEventLoopDelay during each phase. Not a timed test.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Counter, Histogram, RedisStorageManager } from '../src/index.js';
import { newPrefix, startRedis } from '../test/helpers/redis-server.js';

const SERIES = Number(process.env.SERIES ?? 100_000);

async function measure(what: string, work: () => Promise<unknown>): Promise<void> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  // Keeps the loop busy with timers, as an app would, so that the histogram has samples.
  const started = performance.now();
  h.enable();
  await work();
  h.disable();
  const ms = (ns: number) => (ns / 1e6).toFixed(1);
  console.log(`${what.padEnd(48)} took ${(performance.now() - started).toFixed(0).padStart(5)} ms   loop delay p99 ${ms(h.percentile(99)).padStart(6)} ms   max ${ms(h.max).padStart(6)} ms`);
}

const server = await startRedis({ label: 'perf-event-loop' });
const prefix = newPrefix('perf-event-loop');
const common = { enabled: true, url: server.url, keyPrefix: prefix, flushIntervalMs: 3_600_000, exitHooks: false, collectTimeoutMs: 60_000, flushTimeoutMs: 60_000 };
const writer = new RedisStorageManager({ ...common, maxSeriesPerMetric: 1_000_000, identity: { host: 'writer', pid: 1, nonce: 'n' } });
const scraper = new RedisStorageManager({ ...common, identity: { host: 'scraper', pid: 2, nonce: 'n' } });
await writer.waitUntilConnected(5000);
await scraper.waitUntilConnected(5000);

const counter = new Counter({ name: 'perf_requests_total', help: 'Requests.', labelNames: ['id'], storage: writer, registers: [] });
const histogram = new Histogram({ name: 'perf_latency_seconds', help: 'Latency.', labelNames: ['id'], buckets: [0.1, 1], storage: writer, registers: [] });
console.log(`${SERIES} counter series, ${SERIES / 10} histogram series (3 buckets), node ${process.version}`);
for (let i = 0; i < SERIES; i++) counter.inc({ id: String(i) }, 1);
for (let i = 0; i < SERIES / 10; i++) histogram.observe({ id: String(i) }, 0.5);

await measure(`flush of ${SERIES + SERIES / 10} dirty series`, () => writer.flush());
for (let i = 0; i < SERIES; i++) counter.inc({ id: String(i) }, 1);
await measure(`second flush (all dirty again)`, () => writer.flush());
let text = '';
await measure(`collect + render by another process`, async () => (text = await scraper.getCollector().metrics()));
await measure(`collect() only (no render), another process`, () => scraper.getCollector().collect());
await measure(`collect + render by the writer (own series)`, () => writer.getCollector().metrics());
console.log(`exposition: ${text.length} bytes, ${text.split('\n').length} lines`);

await writer.shutdown();
await scraper.shutdown();
await server.stop();
