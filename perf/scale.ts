// Scale figures: scrape time (collector.metrics()) and Redis memory (INFO memory used_memory delta)
// for 1, 16, 64 and 256 simulated processes × 1,000 and 10,000 series, for summed metrics (counters
// and histograms, added up by Redis itself) and for per-process gauges (merged at scrape time).
//
// A simulated process is a RedisStorageManager with its own identity (16 hosts, distinct pids),
// writing every series once, flushing, and shutting down (its data stays: `sum` gauges read every
// process until its TTL). They share one ioredis connection so that 256 of them fit in one OS process.
//
//   npm run build && node dist/perf/scale.js [--quick]      writes perf/SCALE.md
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { cpus, loadavg, totalmem } from 'node:os';
import { Redis } from 'ioredis';
import { startRedis, parseInfo } from '../test/helpers/redis-server.js';
import { Counter, Gauge, Histogram, RedisStorageManager } from '../src/index.js';

type Kind = 'summed' | 'gauges';
interface Row {
  kind: Kind;
  series: number;
  processes: number;
  scrapeMs: number;
  memoryBytes: number;
  writeMs: number;
  lines: number;
}

const scrapeArgs = process.argv.indexOf('--scrape');
const quick = process.argv.includes('--quick');
const PROCESSES = quick ? [1, 16] : [1, 16, 64, 256];
const SERIES = quick ? [1000] : [1000, 10_000];
const BUCKETS = [0.01, 0.1, 1, 10];

if (scrapeArgs !== -1) {
  await scrapeChild(process.argv.slice(scrapeArgs + 1));
  process.exit(0);
}
// The library unref()s its sockets while idle, the borrowed shared one too: hold the loop open.
const keepAlive = setInterval(() => {}, 1 << 30);
const server = await startRedis({ label: 'perf-scale' });
const shared = new Redis(server.redisOptions({ enableOfflineQueue: false, maxRetriesPerRequest: 0 }));
shared.setMaxListeners(0); // one set of listeners per simulated process
await new Promise((resolve) => shared.once('ready', resolve));

/** Options of every manager: no timer flushes (we flush by hand), nothing expires during the run. */
function base(prefix: string, connection: Redis) {
  return { enabled: true, connection, keyPrefix: prefix, flushIntervalMs: 3_600_000, ttlSeconds: 86_400, maxSeriesPerMetric: 100_000, flushTimeoutMs: 120_000, collectTimeoutMs: 120_000 };
}

async function usedMemory(): Promise<number> {
  return Number(parseInfo(String(await shared.call('INFO', 'memory'))).get('used_memory'));
}

/** One simulated process: writes `series` label sets of its kind once, flushes, leaves. */
async function simulate(kind: Kind, prefix: string, series: number, p: number): Promise<void> {
  const m = new RedisStorageManager({ ...base(prefix, shared), identity: { host: `host-${p % 16}`, pid: 1000 + p, nonce: 'perf' } });
  const storage = { storage: m, registers: [] };
  if (kind === 'summed') {
    // Half counters, half histograms: both are summed into one hash per family by HINCRBYFLOAT.
    const c = new Counter({ name: 'scale_requests_total', help: 'Requests.', labelNames: ['series'], ...storage });
    const h = new Histogram({ name: 'scale_latency_seconds', help: 'Latency.', labelNames: ['series'], buckets: BUCKETS, ...storage });
    for (let s = 0; s < series / 2; s++) {
      c.inc({ series: String(s) }, 1);
      h.observe({ series: String(s) }, 0.05);
    }
  } else {
    const g = new Gauge({ name: 'scale_queue_depth', help: 'Queue depth.', labelNames: ['series'], multiprocessMode: 'sum', ...storage });
    for (let s = 0; s < series; s++) g.set({ series: String(s) }, p + 1);
  }
  await m.flush();
  await m.shutdown();
}

/**
 * Writes the data of every process count for one kind and series count (each under its own prefix,
 * memory measured around each), then times their scrapes in one fresh OS process, round-robin:
 * the load of this shared machine drifts, and interleaving spreads the drift over all of them.
 */
async function measureAll(kind: Kind, series: number, processCounts: readonly number[]): Promise<Row[]> {
  await shared.call('FLUSHALL', 'SYNC');
  const written: Array<{ processes: number; prefix: string; memoryBytes: number; writeMs: number }> = [];
  for (const processes of processCounts) {
    const prefix = `scale:${kind}:${series}:${processes}`;
    const before = await usedMemory();
    const writeStarted = performance.now();
    for (let p = 0; p < processes; p++) await simulate(kind, prefix, series, p);
    written.push({ processes, prefix, writeMs: performance.now() - writeStarted, memoryBytes: (await usedMemory()) - before });
  }
  // A fresh process, like the one Prometheus scrapes: the garbage of 256 simulated writers in this
  // one would time our GC, not the scrape.
  const args = [fileURLToPath(import.meta.url), '--scrape', String(server.port), kind, String(series), ...written.map((w) => `${w.processes}=${w.prefix}`)];
  const child = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
  const last = child.stdout.trim().split('\n').pop() ?? '';
  if (child.status !== 0 || !last.startsWith('[')) throw new Error(`scrape child failed (${child.status}):\n${child.stdout}\n${child.stderr}`);
  const timed = JSON.parse(last) as Array<{ scrapeMs: number; lines: number }>;
  return written.map((w, i) => ({ kind, series, processes: w.processes, memoryBytes: w.memoryBytes, writeMs: w.writeMs, ...timed[i]! }));
}

/** Child mode: checks every scrape is exact, then times them round-robin; prints `[{scrapeMs, lines}]`. */
async function scrapeChild([port, kind, series, ...targets]: string[]): Promise<void> {
  const keepAlive = setInterval(() => {}, 1 << 30); // see the main script
  const connection = new Redis({ host: '127.0.0.1', port: Number(port), enableOfflineQueue: false, maxRetriesPerRequest: 0 });
  await new Promise((resolve) => connection.once('ready', resolve));
  const scrapers = targets.map((t) => {
    const [processes, prefix] = t.split('=') as [string, string];
    const manager = new RedisStorageManager({ ...base(prefix, connection), identity: { host: 'scraper', pid: 1, nonce: 'perf' } });
    return { processes: Number(processes), manager, collector: manager.getCollector(), times: [] as number[], lines: 0 };
  });
  for (const s of scrapers) {
    const text = await s.collector.metrics(); // warm-up: code paths compiled
    check(kind as Kind, Number(series), s.processes, text);
    s.lines = text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
  }
  const rounds = kind === 'gauges' && Number(series) >= 10_000 ? 5 : 21;
  for (let i = 0; i < rounds; i++) {
    for (const s of scrapers) {
      const t = performance.now();
      await s.collector.metrics();
      s.times.push(performance.now() - t);
    }
  }
  await Promise.all(scrapers.map((s) => s.manager.shutdown()));
  connection.disconnect();
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(JSON.stringify(scrapers.map((s) => ({ scrapeMs: median(s.times), lines: s.lines }))));
  clearInterval(keepAlive);
}

/** The figures count only if the scrape is right: exact sums of what the processes wrote. */
function check(kind: Kind, series: number, processes: number, text: string): void {
  const expect = kind === 'summed'
    ? [`scale_requests_total{series="0"} ${processes}`, `scale_latency_seconds_count{series="${series / 2 - 1}"} ${processes}`]
    : [`scale_queue_depth{series="${series - 1}"} ${(processes * (processes + 1)) / 2}`];
  for (const line of expect) {
    if (!text.includes(`\n${line}\n`)) throw new Error(`scrape of ${kind} ${series}×${processes} lacks \`${line}\``);
  }
}

const started = Date.now();
const loadAtStart = loadavg()[0]!;
// Warm-up, discarded: loads the scripts into Redis and compiles the hot code paths.
for (const kind of ['summed', 'gauges'] as const) await measureAll(kind, 1000, [2]);
const rows: Row[] = [];
for (const kind of ['summed', 'gauges'] as const) {
  for (const series of SERIES) {
    for (const row of await measureAll(kind, series, PROCESSES)) {
      rows.push(row);
      console.log(`${kind} series=${series} processes=${row.processes} scrape=${row.scrapeMs.toFixed(1)}ms memory=${(row.memoryBytes / 2 ** 20).toFixed(2)}MiB write=${(row.writeMs / 1000).toFixed(1)}s lines=${row.lines}`);
    }
  }
}
shared.disconnect();
await server.stop();
clearInterval(keepAlive);

const mib = (b: number) => (b / 2 ** 20).toFixed(b < 10 * 2 ** 20 ? 2 : 1);
const baseOf = (r: Row) => rows.find((x) => x.kind === r.kind && x.series === r.series && x.processes === 1)!;
const table = [
  '| metrics | series per process | processes | exposition lines | scrape (median) | × 1 process | Redis memory | × 1 process |',
  '|---|--:|--:|--:|--:|--:|--:|--:|',
  ...rows.map((r) => `| ${r.kind === 'summed' ? 'counters + histograms' : 'gauges (`sum` mode)'} | ${r.series.toLocaleString('en')} | ${r.processes} | ${r.lines.toLocaleString('en')} | ${r.scrapeMs.toFixed(1)} ms | ${(r.scrapeMs / baseOf(r).scrapeMs).toFixed(2)}× | ${mib(r.memoryBytes)} MiB | ${(r.memoryBytes / baseOf(r).memoryBytes).toFixed(1)}× |`),
];
const worst = Math.max(...rows.filter((r) => r.kind === 'summed' && r.processes === Math.max(...PROCESSES)).map((r) => r.scrapeMs / baseOf(r).scrapeMs));
const doc = `# Scale figures

*Written by \`perf/scale.ts\` (\`npm run build && node dist/perf/scale.js\`); ${new Date(started).toISOString()}, ${Math.round((Date.now() - started) / 1000)} s,
${cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, one redis-server on loopback;
load average ${loadAtStart.toFixed(1)} at the start (other work shared the 2 cores: differences under ~30% are noise).*

Simulated processes are RedisStorageManager instances with distinct identities (16 hosts), each
writing every series once and flushing. *Scrape* is \`collector.metrics()\` of a process with no
metrics of its own, in a fresh OS process that times the 1 to 256 process data sets in turn
(median of 21 rounds, 5 for gauges × 10,000 series, after a warm-up), exposition text included. *Redis memory*
is the growth of \`INFO memory\` \`used_memory\` over an empty database. Each scrape was checked for
exact totals before it was timed.

- **counters + histograms**: half the series are counter label sets, half histogram label sets
  (4 buckets, so 7 fields each). Redis sums them (HINCRBYFLOAT into one hash per family), so a scrape
  reads O(series), whatever the number of processes.
- **gauges (\`sum\` mode)**: per-process values, merged by the collector at scrape time: a scrape reads
  O(series × processes). Modes \`all\`/\`liveall\` also render one series per process.

${table.join('\n')}

Goal for summed metrics: scrape at ${Math.max(...PROCESSES)} processes within 1.5× of 1 process.
Measured: at most ${worst.toFixed(2)}× — ${worst <= 1.5 ? 'met' : 'NOT met'}.

Reading it: summed metrics cost one hash field per series and bucket in Redis, whatever the number of
processes (the few extra bytes are the registry and one seq field per process), and their scrape
does not grow with processes. Per-process gauges cost memory and scrape time in proportion to
processes × series. A family is read by one Lua call, so reading 256 × 10,000 gauge values also
keeps Redis busy for part of that scrape (not measured separately); with many processes, keep
per-process gauges to the few series that need a per-process merge, and raise
\`REDIS_COLLECT_TIMEOUT_MS\` (default 5,000 ms) if a scrape comes near it.
`;
writeFileSync(new URL('../../perf/SCALE.md', import.meta.url), doc);
console.log(doc);
