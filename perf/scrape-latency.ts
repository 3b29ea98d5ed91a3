// scrape-latency: does the app wait for the scrape? The launcher (`prom-client-redis run`, 2
// workers) serves an app while its primary answers GET /metrics over 100,000 series once a second;
// the app's request latency (µs, latency-client.ts) with scrapes is compared with the same app in
// the same minutes without scrapes, and with a second launcher that collects on the primary's main
// thread (PROM_CLIENT_REDIS_COLLECT_THREAD=false). Both kinds of connections matter: node:cluster's
// primary accepts every new connection and hands it to a worker, so a busy primary delays new
// connections even when the workers are idle; kept-alive connections only feel the CPU a scrape takes.
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatNumber } from './lib/format.js';
import { processesCpuMs, runScript, script } from './lib/proc.js';
import { freePort, withRedis } from './lib/redis.js';
import type { Row } from './lib/results.js';
import type { Section, SectionContext } from './lib/section.js';
import { median } from './lib/stats.js';
import { openManager, type SubjectModule } from './subject.js';

const SERIES = 100_000;
const SCRAPE_EVERY_MS = 1000;
const SLICE_S = 2;
const ROUNDS = Number(process.env.SCRAPE_LATENCY_ROUNDS ?? 10);
/** The heavy phase: one histogram family with this many buckets, this many series (an ~80 MB exposition, all through the public API). */
const WIDE_BUCKETS = 20_000;
const WIDE_SERIES = 100;
const HEAVY_ROUNDS = 2;
const HEAVY_SLICE_S = 6;
/** Open-loop rates well below what the 2 workers can serve (~100k req/s kept alive): loaded, not saturated. */
const LOADS = [
  { mode: 'keepalive', label: 'kept-alive connections', connections: 16, rate: 2000 },
  { mode: 'new', label: 'a new connection per request', connections: 8, rate: 500 },
] as const;

interface ClientResult {
  readonly count: number;
  readonly errors: number;
  readonly latenciesUs: number[];
}

/** The launcher's CLI of the build under test (PERF_SUBJECT's sibling cli.js). */
function cliPath(): string {
  const override = process.env.PERF_SUBJECT;
  return override ? join(dirname(override), 'cli.js') : fileURLToPath(new URL('../src/cli.js', import.meta.url));
}

function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; bytes: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.once('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, bytes: body.length, body: headers['accept-encoding'] ? '' : body.toString() });
      });
    });
    req.once('error', reject);
    req.end();
  });
}

async function startLauncher(redisUrl: string, keyPrefix: string, env: Record<string, string> = {}): Promise<{ child: ChildProcess; appUrl: string; metricsUrl: string; stop(): Promise<void> }> {
  const [appPort, metricsPort] = [await freePort(), await freePort()];
  const args = [cliPath(), 'run', '--workers', '2', '--port', String(metricsPort), '--bind', '127.0.0.1', script('scrape-latency-app.js'), String(appPort)];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, REDIS_URL: redisUrl, REDIS_KEY_PREFIX: keyPrefix, REDIS_MAX_HISTOGRAM_BUCKETS: String(WIDE_BUCKETS + 1), ...env } });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const appUrl = `http://127.0.0.1:${appPort}/`;
  const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
  const deadline = Date.now() + 60_000;
  // Up once the app answers and /metrics shows the 100,000 series.
  for (;;) {
    if (child.exitCode !== null) throw new Error(`launcher exited with ${String(child.exitCode)}: ${stderr.trim().slice(-300)}`);
    if (Date.now() > deadline) throw new Error(`launcher not up after 60 s: ${stderr.trim().slice(-300)}`);
    const app = await get(appUrl).catch(() => null);
    const metrics = app?.status === 200 ? await get(metricsUrl).catch(() => null) : null;
    if (metrics?.status === 200 && metrics.body.includes(`perf_series_total{id="${SERIES - 1}"} 1`)) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    child,
    appUrl,
    metricsUrl,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Prometheus' way: gzip asked for, the body read to the end (not decompressed here). */
function scrapeLoop(metricsUrl: string, untilMs: number, durations: number[], failures: { count: number }): Promise<void> {
  return (async () => {
    let next = Date.now() + SCRAPE_EVERY_MS / 4;
    while (next < untilMs) {
      await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
      const started = performance.now();
      const res = await get(metricsUrl, { 'accept-encoding': 'gzip', accept: 'text/plain;version=0.0.4' }).catch(() => null);
      if (res?.status === 200) durations.push(performance.now() - started);
      else failures.count++;
      next += SCRAPE_EVERY_MS;
    }
  })();
}

/** One scrape after another until `untilMs` (the heavy phase: the primary never rests). */
async function scrapeBackToBack(metricsUrl: string, untilMs: number, durations: number[], failures: { count: number }): Promise<void> {
  while (Date.now() < untilMs) {
    const started = performance.now();
    const res = await get(metricsUrl, { 'accept-encoding': 'gzip', accept: 'text/plain;version=0.0.4' }).catch(() => null);
    if (res?.status === 200) durations.push(performance.now() - started);
    else failures.count++;
  }
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted.length === 0 ? Number.NaN : (sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] as number);
}

async function populate(subject: SubjectModule, url: string, keyPrefix: string) {
  const writer = await openManager(subject, { url, keyPrefix, flushIntervalMs: 3_600_000, maxHistogramBuckets: WIDE_BUCKETS + 1 });
  const counter = new subject.Counter({ name: 'perf_series_total', help: 'One of 100,000 series.', labelNames: ['id'], storage: writer, registers: [] });
  for (let i = 0; i < SERIES; i++) counter.inc({ id: String(i) }, 1);
  await writer.flush();
  return writer;
}

const newRate = () => LOADS.find((l) => l.mode === 'new')!.rate;

type Launcher = Awaited<ReturnType<typeof startLauncher>>;

/** The three slices of a round: no scrapes, scrapes served by the collect thread, scrapes served by the primary's main thread. */
const CONDITIONS = ['without', 'thread', 'main'] as const;
type Condition = (typeof CONDITIONS)[number];
const CONDITION_LABEL: Record<Condition, string> = { without: 'without scrapes', thread: 'with scrapes, collect thread', main: 'with scrapes, collect on the main thread' };

interface Pooled {
  readonly latencies: Record<Condition, number[]>;
  /** Per round, p99 of the condition ÷ p99 without scrapes. */
  readonly ratios: Record<'thread' | 'main', number[]>;
}

async function run(context: SectionContext) {
  const { subject } = context.subject;
  if (subject === null) return { rows: [], notes: [`Not measured: ${context.subject.status}.`] };
  const pooled = new Map<string, Pooled>(LOADS.map((l) => [l.mode, { latencies: { without: [], thread: [], main: [] }, ratios: { thread: [], main: [] } }]));
  const scrapeMs: Record<'thread' | 'main', number[]> = { thread: [], main: [] };
  /** Primary CPU (ms, /proc) summed over each condition's slices. */
  const primaryCpuMs: Record<Condition, number> = { without: 0, thread: 0, main: 0 };
  /** redis-server's CPU (ms, /proc) summed over each condition's slices. */
  const redisCpuMs: Record<Condition, number> = { without: 0, thread: 0, main: 0 };
  const failures = { count: 0 };
  const heavy = { latencies: { without: [], thread: [], main: [] } as Record<Condition, number[]>, scrapeMs: { thread: [], main: [] } as Record<'thread' | 'main', number[]>, bytes: 0 };
  await withRedis(async (server) => {
    const keyPrefix = 'perf-scrape-latency';
    const writer = await populate(subject, server.url, keyPrefix);
    const launchers: Launcher[] = [];
    try {
      // Side by side, identical but for where the primary collects; the one not under load idles.
      const threaded = await startLauncher(server.url, keyPrefix);
      launchers.push(threaded);
      const mainThread = await startLauncher(server.url, keyPrefix, { PROM_CLIENT_REDIS_COLLECT_THREAD: 'false' });
      launchers.push(mainThread);
      context.log(`launchers up (primaries ${threaded.child.pid}, ${mainThread.child.pid}), ${SERIES} series in Redis`);
      const slice = async (load: (typeof LOADS)[number], condition: Condition, record = true): Promise<ClientResult> => {
        const launcher = condition === 'main' ? mainThread : threaded;
        const cpuBefore = processesCpuMs([launcher.child.pid!]);
        const redisBefore = server.pid === undefined ? null : processesCpuMs([server.pid]);
        const client = runScript<ClientResult>(script('latency-client.js'), [launcher.appUrl, load.mode, String(load.connections), String(load.rate), String(SLICE_S)]);
        const durations = condition === 'without' ? [] : scrapeMs[condition];
        const scrapes = condition === 'without' ? Promise.resolve() : scrapeLoop(launcher.metricsUrl, Date.now() + SLICE_S * 1000, record ? durations : [], failures);
        const [result] = await Promise.all([client, scrapes]);
        const cpuAfter = processesCpuMs([launcher.child.pid!]);
        const redisAfter = server.pid === undefined ? null : processesCpuMs([server.pid]);
        if (record && cpuBefore !== null && cpuAfter !== null) primaryCpuMs[condition] += cpuAfter - cpuBefore;
        if (record && redisBefore !== null && redisAfter !== null) redisCpuMs[condition] += redisAfter - redisBefore;
        return result;
      };
      // Warm-up: JIT of workers, primaries and client.
      for (const load of LOADS) for (const condition of CONDITIONS) await slice(load, condition, false);
      for (let round = 0; round < ROUNDS; round++) {
        for (const load of LOADS) {
          const entry = pooled.get(load.mode)!;
          const p99 = {} as Record<Condition, number>;
          // ABC, CBA, ...: a machine slowing down through a round weighs on every condition alike.
          for (const condition of round % 2 === 0 ? CONDITIONS : [...CONDITIONS].reverse()) {
            const result = await slice(load, condition);
            if (result.errors > 0) throw new Error(`${result.errors} requests failed (${load.mode}, ${CONDITION_LABEL[condition]})`);
            entry.latencies[condition].push(...result.latenciesUs);
            const sorted = [...result.latenciesUs].sort((a, b) => a - b);
            p99[condition] = percentile(sorted, 99);
            context.log(`round ${round + 1}/${ROUNDS} ${load.mode} ${CONDITION_LABEL[condition]}: ${result.count} requests, p50 ${formatNumber(percentile(sorted, 50))} µs, p99 ${formatNumber(p99[condition])} µs`);
          }
          entry.ratios.thread.push(p99.thread / p99.without);
          entry.ratios.main.push(p99.main / p99.without);
        }
      }
      // The heavy phase: an exposition of ~80 MB, scraped back to back; new connections only.
      const wide = new subject.Histogram({ name: 'perf_wide_seconds', help: 'A family with many buckets.', labelNames: ['id'], buckets: Array.from({ length: WIDE_BUCKETS }, (_, i) => i + 1), storage: writer, registers: [] });
      for (let i = 0; i < WIDE_SERIES; i++) wide.observe({ id: String(i) }, i);
      await writer.flush();
      heavy.bytes = (await get(threaded.metricsUrl)).bytes;
      await get(mainThread.metricsUrl);
      const newConnections = LOADS.find((l) => l.mode === 'new')!;
      for (let round = 0; round < HEAVY_ROUNDS; round++) {
        for (const condition of round % 2 === 0 ? CONDITIONS : [...CONDITIONS].reverse()) {
          const launcher = condition === 'main' ? mainThread : threaded;
          const client = runScript<ClientResult>(script('latency-client.js'), [launcher.appUrl, 'new', String(newConnections.connections), String(newConnections.rate), String(HEAVY_SLICE_S)]);
          const scrapes = condition === 'without' ? Promise.resolve() : scrapeBackToBack(launcher.metricsUrl, Date.now() + HEAVY_SLICE_S * 1000, heavy.scrapeMs[condition], failures);
          const [result] = await Promise.all([client, scrapes]);
          if (result.errors > 0) throw new Error(`${result.errors} requests failed (heavy phase, ${CONDITION_LABEL[condition]})`);
          heavy.latencies[condition].push(...result.latenciesUs);
          const sorted = [...result.latenciesUs].sort((a, b) => a - b);
          context.log(`heavy round ${round + 1}/${HEAVY_ROUNDS} ${CONDITION_LABEL[condition]}: ${result.count} requests, p50 ${formatNumber(percentile(sorted, 50))} µs, p99 ${formatNumber(percentile(sorted, 99))} µs`);
        }
      }
    } finally {
      for (const launcher of launchers) await launcher.stop();
      await writer.shutdown();
    }
  });
  if (failures.count > 0) throw new Error(`${failures.count} scrapes failed`);

  const rows: Row[] = [];
  const figures: string[] = [];
  for (const load of LOADS) {
    const entry = pooled.get(load.mode)!;
    const sorted = Object.fromEntries(CONDITIONS.map((c) => [c, entry.latencies[c].sort((a, b) => a - b)])) as Record<Condition, number[]>;
    const paired = { unit: '× (median of per-round p99 ratios)', better: 'lower' as const, baseline: null };
    const us = { unit: 'µs', better: 'lower' as const };
    rows.push(
      { ...paired, figure: { label: `app p99 with ÷ without scrapes, ${load.label}, paired by round`, value: median(entry.ratios.thread) } },
      { ...paired, figure: { label: `app p99 with ÷ without scrapes, ${load.label}, collect on the main thread, paired by round`, value: median(entry.ratios.main) } },
      { ...us, figure: { label: `app p99, ${load.label}, ${CONDITION_LABEL.thread}`, value: percentile(sorted.thread, 99) }, baseline: { label: `the same ${CONDITION_LABEL.without}`, value: percentile(sorted.without, 99) } },
      { ...us, figure: { label: `app p99, ${load.label}, ${CONDITION_LABEL.main}`, value: percentile(sorted.main, 99) }, baseline: { label: `the same ${CONDITION_LABEL.without}`, value: percentile(sorted.without, 99) } },
    );
    const ratios = (xs: number[]) => xs.map((r) => formatNumber(r)).join(', ');
    figures.push(`${load.label}, per-round p99 ratios to the slice without scrapes: collect thread ${ratios(entry.ratios.thread)}; main thread ${ratios(entry.ratios.main)}.`);
    const tail = (c: Condition) => `p50 ${formatNumber(percentile(sorted[c], 50))}, p99.9 ${formatNumber(percentile(sorted[c], 99.9))}, max ${formatNumber(sorted[c].at(-1) ?? Number.NaN)} µs`;
    figures.push(`${load.label}, ${load.rate} req/s over ${load.connections} connections, ${formatNumber(sorted.without.length)} requests per condition: without scrapes ${tail('without')}; collect thread ${tail('thread')}; main thread ${tail('main')}.`);
  }
  const perScrape = (c: 'thread' | 'main', cpu: Record<Condition, number>) => (scrapeMs[c].length === 0 ? Number.NaN : (cpu[c] - cpu.without) / scrapeMs[c].length);
  rows.push(
    { unit: 'ms', better: 'lower', figure: { label: 'scrape of /metrics (gzip), collect thread, median', value: median(scrapeMs.thread) }, baseline: { label: 'collect on the main thread', value: median(scrapeMs.main) } },
    { unit: 'ms', better: 'lower', figure: { label: 'primary CPU per scrape, collect thread', value: perScrape('thread', primaryCpuMs) }, baseline: { label: 'collect on the main thread', value: perScrape('main', primaryCpuMs) } },
    { unit: 'ms', better: 'lower', figure: { label: 'redis-server CPU per scrape, collect thread', value: perScrape('thread', redisCpuMs) }, baseline: { label: 'collect on the main thread', value: perScrape('main', redisCpuMs) } },
  );
  const heavySorted = Object.fromEntries(CONDITIONS.map((c) => [c, heavy.latencies[c].sort((a, b) => a - b)])) as Record<Condition, number[]>;
  const heavyLabel = `app p99, a new connection per request, ${formatNumber(WIDE_BUCKETS)}-bucket histogram family scraped back to back`;
  rows.push(
    { unit: 'µs', better: 'lower', figure: { label: `${heavyLabel}, collect thread`, value: percentile(heavySorted.thread, 99) }, baseline: { label: 'the same without scrapes', value: percentile(heavySorted.without, 99) } },
    { unit: 'µs', better: 'lower', figure: { label: `${heavyLabel}, collect on the main thread`, value: percentile(heavySorted.main, 99) }, baseline: { label: 'the same without scrapes', value: percentile(heavySorted.without, 99) } },
  );
  const served = (c: Condition) => `${formatNumber(heavySorted[c].length)} requests, max ${formatNumber(heavySorted[c].at(-1) ?? Number.NaN)} µs`;
  return {
    rows,
    notes: [
      `Two \`prom-client-redis run --workers 2\` launchers of an app answering \`ok\` serve side by side, identical but for \`PROM_CLIENT_REDIS_COLLECT_THREAD\` (the other idles while one is loaded); Redis holds ${formatNumber(SERIES)} counter series flushed by another process. ${ROUNDS} rounds; in each, for each kind of connection, three ${SLICE_S} s slices in turn (ABC, CBA, ...): no scrapes, a GET /metrics (\`Accept-Encoding: gzip\`) every ${SCRAPE_EVERY_MS} ms collected by the thread, the same collected on the primary's main thread. Each request is timed in µs by latency-client.ts, an open-loop client at a fixed rate (the app is loaded, not saturated).`,
      'The *paired by round* rows (the target\'s figures) are medians of each round\'s p99 ratio to the slice without scrapes, seconds apart: a busy spell of this shared machine lands on one round, not on the whole series. The µs rows pool the latencies of all rounds.',
      ...figures,
      `CPU per scrape (primary, redis-server): the CPU over the slices with scrapes less that over the slices without, divided by the scrapes served (${scrapeMs.thread.length} and ${scrapeMs.main.length}); the collect thread's CPU is the primary's (same process).`,
      `Heavy phase, after the rounds: a histogram family of ${formatNumber(WIDE_BUCKETS)} buckets × ${WIDE_SERIES} series (made through the API, which sets no limit on buckets yet) joins the 100,000 counters, for a ${formatNumber(Math.round(heavy.bytes / 1e6))} MB exposition; ${HEAVY_ROUNDS} rounds of ${HEAVY_SLICE_S} s slices of new connections at ${newRate()} req/s, scrapes back to back. Served at the fixed rate: without scrapes ${served('without')}; collect thread ${served('thread')}; main thread ${served('main')}. Scrape median ${formatNumber(median(heavy.scrapeMs.thread))} ms (thread) and ${formatNumber(median(heavy.scrapeMs.main))} ms (main thread).`,
      'Client, launchers, workers and redis-server share the same 2 cores.',
    ],
  };
}
export const scrapeLatency: Section = { id: 'scrape-latency', title: 'Scrape latency: the app while its launcher primary serves 100,000 series', run };
