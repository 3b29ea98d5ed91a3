// Event-loop delay while flushing and collecting 100,000 series.
// Run: npm run build && node dist/perf/event-loop.js   (starts its own redis-server)
// Env: SERIES (default 100000), REPS (default 3).
// Prints, for each phase, the p99 and max of perf_hooks.monitorEventLoopDelay (1 ms resolution)
// over each repetition, next to a baseline measured the same way in the same run while the process
// only waits (what the machine's load alone costs). Not a timed test: figures go to perf/EVENT-LOOP.md.
import { loadavg, cpus } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { Counter, Histogram, RedisStorageManager } from '../src/index.js';
import { watchLoop } from './lib/loop-watch.js';
import { newPrefix, startRedis } from '../test/helpers/redis-server.js';

const SERIES = Number(process.env.SERIES ?? 100_000);
const REPS = Number(process.env.REPS ?? 3);

interface Figure {
  ms: number;
  /** monitorEventLoopDelay: wall-clock delay, includes the time the OS gave the CPU to others. */
  p99: number;
  max: number;
  /**
   * The same, counted in this process's CPU time between two turns of a 1 ms timer (at most the wall
   * time): the delay our own work causes, whatever else the machine runs. On a loaded shared machine
   * the wall-clock figure mostly measures the other processes.
   */
  cpuP99: number;
  cpuMax: number;
}

async function measure(work: () => Promise<unknown>): Promise<Figure> {
  const w = await watchLoop(work);
  return { ms: w.ms, p99: w.wallP99, max: w.wallMax, cpuP99: w.cpuP99, cpuMax: w.cpuMax };
}

const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function report(what: string, figures: Figure[]): void {
  const m = (pick: (f: Figure) => number) => median(figures.map(pick)).toFixed(1).padStart(5);
  console.log(
    `${what.padEnd(42)} wall p99 ${m((f) => f.p99)} max ${m((f) => f.max)} ms | ` +
      `own-CPU p99 ${m((f) => f.cpuP99)} max ${m((f) => f.cpuMax)} ms | took ${m((f) => f.ms)} ms   (medians of ${figures.length} runs)`,
  );
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
const touchAll = () => {
  for (let i = 0; i < SERIES; i++) counter.inc({ id: String(i) }, 1);
  for (let i = 0; i < SERIES / 10; i++) histogram.observe({ id: String(i) }, 0.5);
};
touchAll();
await writer.flush();

console.log(`node ${process.version}, ${cpus().length} CPUs, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
console.log(`${SERIES} counter series + ${SERIES / 10} histogram series (2 buckets): ${SERIES + (SERIES / 10) * 5} Redis fields`);
const phases: Array<[string, () => Promise<unknown>, (() => void)?]> = [
  ['baseline: idle wait of 500 ms', () => sleep(500)],
  [`flush of ${SERIES + SERIES / 10} dirty series`, () => writer.flush(), touchAll],
  ['collect + render, scraping process', () => scraper.getCollector().metrics()],
  ['collect + render, the writer itself', () => writer.getCollector().metrics()],
  ['collect() to objects (get(), registerIn)', () => scraper.getCollector().collect()],
  ['scrape by the writer, all series dirty', () => writer.getCollector().metrics(), touchAll],
];
for (const [what, work, prepare] of phases) {
  const figures: Figure[] = [];
  for (let rep = 0; rep < REPS; rep++) {
    prepare?.();
    await sleep(50);
    figures.push(await measure(work));
  }
  report(what, figures);
}
const text = await scraper.getCollector().metrics();
console.log(`exposition: ${(text.length / 1e6).toFixed(1)} MB, ${text.split('\n').length} lines`);

await writer.shutdown();
await scraper.shutdown();
await server.stop();
