// scrape-latency: does the app wait for the scrape? The launcher (`prom-client-redis run`, 2
// workers) serves an app while its primary answers GET /metrics over 100,000 series once a second;
// the app's request latency (µs, latency-client.ts) with scrapes is compared with the same app in
// the same minutes without scrapes. Both kinds of connections matter: node:cluster's primary
// accepts every new connection and hands it to a worker, so a busy primary delays new connections
// even when the workers are idle; kept-alive connections only feel the CPU the scrape takes.
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
const ROUNDS = Number(process.env.SCRAPE_LATENCY_ROUNDS ?? 12);
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

async function startLauncher(redisUrl: string, keyPrefix: string): Promise<{ child: ChildProcess; appUrl: string; metricsUrl: string; stop(): Promise<void> }> {
  const [appPort, metricsPort] = [await freePort(), await freePort()];
  const args = [cliPath(), 'run', '--workers', '2', '--port', String(metricsPort), '--bind', '127.0.0.1', script('scrape-latency-app.js'), String(appPort)];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, REDIS_URL: redisUrl, REDIS_KEY_PREFIX: keyPrefix } });
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

function percentile(sorted: readonly number[], p: number): number {
  return sorted.length === 0 ? Number.NaN : (sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] as number);
}

async function populate(subject: SubjectModule, url: string, keyPrefix: string) {
  const writer = await openManager(subject, { url, keyPrefix, flushIntervalMs: 3_600_000 });
  const counter = new subject.Counter({ name: 'perf_series_total', help: 'One of 100,000 series.', labelNames: ['id'], storage: writer, registers: [] });
  for (let i = 0; i < SERIES; i++) counter.inc({ id: String(i) }, 1);
  await writer.flush();
  return writer;
}

async function run(context: SectionContext) {
  const { subject } = context.subject;
  if (subject === null) return { rows: [], notes: [`Not measured: ${context.subject.status}.`] };
  // By load: latencies (µs) pooled over the rounds, without and with scrapes.
  const pooled = new Map<string, { without: number[]; with: number[]; requests: number; ratios: number[] }>();
  const scrapeMs: number[] = [];
  const failures = { count: 0 };
  let primaryCpuPerScrapeMs = Number.NaN;
  await withRedis(async (server) => {
    const keyPrefix = 'perf-scrape-latency';
    const writer = await populate(subject, server.url, keyPrefix);
    const launcher = await startLauncher(server.url, keyPrefix);
    try {
      context.log(`launcher up (primary pid ${launcher.child.pid}), ${SERIES} series in Redis`);
      const slice = async (load: (typeof LOADS)[number], withScrapes: boolean): Promise<ClientResult> => {
        const client = runScript<ClientResult>(script('latency-client.js'), [launcher.appUrl, load.mode, String(load.connections), String(load.rate), String(SLICE_S)]);
        const scrapes = withScrapes ? scrapeLoop(launcher.metricsUrl, Date.now() + SLICE_S * 1000, scrapeMs, failures) : Promise.resolve();
        const [result] = await Promise.all([client, scrapes]);
        return result;
      };
      // Warm-up: JIT of workers, primary and client.
      for (const load of LOADS) await slice(load, true);
      scrapeMs.length = 0;
      const cpuBefore = processesCpuMs([launcher.child.pid!]);
      let scrapesCounted = 0;
      for (let round = 0; round < ROUNDS; round++) {
        for (const load of LOADS) {
          const entry = pooled.get(load.mode) ?? { without: [], with: [], requests: 0, ratios: [] };
          pooled.set(load.mode, entry);
          // without/with, then with/without: a machine slowing down through a round weighs on both.
          const p99 = { with: Number.NaN, without: Number.NaN };
          for (const withScrapes of round % 2 === 0 ? [false, true] : [true, false]) {
            const before = scrapeMs.length;
            const result = await slice(load, withScrapes);
            if (withScrapes) scrapesCounted += scrapeMs.length - before;
            (withScrapes ? entry.with : entry.without).push(...result.latenciesUs);
            entry.requests += result.count;
            const sorted = [...result.latenciesUs].sort((a, b) => a - b);
            p99[withScrapes ? 'with' : 'without'] = percentile(sorted, 99);
            context.log(`round ${round + 1}/${ROUNDS} ${load.mode} ${withScrapes ? 'with' : 'without'} scrapes: ${result.count} requests, ${result.errors} errors, p50 ${formatNumber(percentile(sorted, 50))} µs, p99 ${formatNumber(percentile(sorted, 99))} µs`);
            if (result.errors > 0) throw new Error(`${result.errors} requests failed (${load.mode}, ${withScrapes ? 'with' : 'without'} scrapes)`);
          }
          entry.ratios.push(p99.with / p99.without);
        }
      }
      const cpuAfter = processesCpuMs([launcher.child.pid!]);
      // The primary's CPU over all the rounds (the requests it hands out cost it a little too).
      if (cpuBefore !== null && cpuAfter !== null && scrapesCounted > 0) primaryCpuPerScrapeMs = (cpuAfter - cpuBefore) / scrapesCounted;
    } finally {
      await launcher.stop();
      await writer.shutdown();
    }
  });
  if (failures.count > 0) throw new Error(`${failures.count} scrapes failed`);

  const rows: Row[] = [];
  const figures: string[] = [];
  for (const load of LOADS) {
    const entry = pooled.get(load.mode)!;
    const without = entry.without.sort((a, b) => a - b);
    const withS = entry.with.sort((a, b) => a - b);
    const unit = { unit: 'µs', better: 'lower' as const };
    rows.push(
      { unit: '× (median of per-round p99 ratios)', better: 'lower', figure: { label: `app p99 with ÷ without scrapes, ${load.label}, paired by round`, value: median(entry.ratios) }, baseline: null },
      { ...unit, figure: { label: `app p99, ${load.label}, with a scrape every second`, value: percentile(withS, 99) }, baseline: { label: 'the same without scrapes', value: percentile(without, 99) } },
      { ...unit, figure: { label: `app p50, ${load.label}, with a scrape every second`, value: percentile(withS, 50) }, baseline: { label: 'the same without scrapes', value: percentile(without, 50) } },
    );
    figures.push(`${load.label}, per-round p99 ratios (with ÷ without, slices seconds apart): ${entry.ratios.map((r) => formatNumber(r)).join(', ')}`);
    figures.push(`${load.label}: ${load.rate} req/s over ${load.connections} connections, ${formatNumber(without.length)} requests without and ${formatNumber(withS.length)} with scrapes; p99.9 ${formatNumber(percentile(without, 99.9))} → ${formatNumber(percentile(withS, 99.9))} µs, max ${formatNumber(without.at(-1) ?? Number.NaN)} → ${formatNumber(withS.at(-1) ?? Number.NaN)} µs`);
  }
  rows.push({ unit: 'ms', better: 'lower', figure: { label: 'scrape of /metrics (gzip), median', value: median(scrapeMs) }, baseline: null });
  rows.push({ unit: 'ms', better: 'lower', figure: { label: 'primary CPU per scrape (launcher primary, /proc)', value: primaryCpuPerScrapeMs }, baseline: null });
  return {
    rows,
    notes: [
      `\`prom-client-redis run --workers 2\` of an app answering \`ok\`; Redis holds ${formatNumber(SERIES)} counter series flushed by another process. ${ROUNDS} rounds; in each, for each kind of connection, a ${SLICE_S} s slice without scrapes and one with a GET /metrics (\`Accept-Encoding: gzip\`) every ${SCRAPE_EVERY_MS} ms, in alternating order. The *paired by round* rows are the medians of each round's p99 with ÷ without (the target's figure: a busy spell of this shared machine lands on one round, not on the whole series); the other rows pool the latencies over the rounds; each request timed in µs by latency-client.ts, an open-loop client at a fixed rate (the app is loaded, not saturated).`,
      ...figures,
      `Scrapes: ${scrapeMs.length} served, median ${formatNumber(median(scrapeMs))} ms.`,
      'Client, launcher, workers and redis-server share the same 2 cores.',
    ],
  };
}

export const scrapeLatency: Section = { id: 'scrape-latency', title: 'Scrape latency: the app while its launcher primary serves 100,000 series', run };
