// Baseline for scrape: prom-client's own multi-process answer. A node:cluster primary forks N
// workers; each registers the series in its global registry; the primary times
// AggregatorRegistry.clusterMetrics() (IPC to every worker, JSON merge, render).
// Usage: node dist/perf/scrape-cluster.js <workers> <counters> <histograms> <rounds>
//    or: fork it with `serve` instead of <rounds>: it says {type: 'ready'} over IPC, then answers
//        each {type: 'scrape'} with {type: 'scraped', ms, bytes, lines} until {type: 'stop'}.
import cluster from 'node:cluster';
import { AggregatorRegistry, Counter, Histogram } from 'prom-client';
import { printResult } from './lib/proc.js';
import { COUNTER_NAME, fill, HISTOGRAM_NAME, parseShape } from './lib/series.js';
import { median } from './lib/stats.js';

const args = process.argv.slice(2);
const workers = Number(args[0]);
const shape = parseShape(args, 1);
const serve = args[3] === 'serve';
const rounds = Number(args[3] ?? 7);

// In both primary and workers: the constructor installs prom-client's cluster IPC listeners.
const aggregator = new AggregatorRegistry();

if (cluster.isPrimary) {
  let ready = 0;
  const allReady = new Promise<void>((resolve) => {
    cluster.on('message', (_worker, message: { type?: string }) => {
      if (message.type === 'ready' && ++ready === workers) resolve();
    });
  });
  const spawnStart = Date.now();
  for (let i = 0; i < workers; i++) cluster.fork();
  await allReady;
  const startupMs = Date.now() - spawnStart;

  let text = await aggregator.clusterMetrics(); // warm-up
  if (serve) {
    process.on('message', (message: { type?: string }) => {
      if (message.type === 'stop') cluster.disconnect(() => process.exit(0));
      if (message.type !== 'scrape') return;
      const start = process.hrtime.bigint();
      void aggregator.clusterMetrics().then((scraped) => {
        const ms = Number(process.hrtime.bigint() - start) / 1e6;
        process.send?.({ type: 'scraped', ms, bytes: Buffer.byteLength(scraped), lines: scraped.split('\n').length });
      });
    });
    process.send?.({ type: 'ready' });
    await new Promise(() => {});
  }
  const times: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint();
    text = await aggregator.clusterMetrics();
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  printResult({ medianMs: median(times), times, bytes: Buffer.byteLength(text), lines: text.split('\n').length, startupMs });
  cluster.disconnect();
} else {
  const counter = new Counter({ name: COUNTER_NAME, help: 'requests', labelNames: ['id'] });
  const histogram = new Histogram({ name: HISTOGRAM_NAME, help: 'duration', labelNames: ['id'] });
  fill(shape, counter, histogram);
  process.send?.({ type: 'ready' });
}
