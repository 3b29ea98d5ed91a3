// scrape: time to produce the cluster-wide /metrics text as the number of processes grows.
// Baseline: prom-client cluster mode (scrape-cluster.ts). Subject: real writer processes, or one
// process simulating many, all flushed to a fresh Redis; the scrape is timed from a reader
// process that wrote nothing (scrape-subject.ts).
import type { ChildProcess } from 'node:child_process';
import { formatBytes, formatNumber } from './lib/format.js';
import { forkReady, runScript, script, stopForked } from './lib/proc.js';
import { withRedis } from './lib/redis.js';
import type { Curve, Row } from './lib/results.js';
import type { Section, SectionContext } from './lib/section.js';
import { shapeArgs, type SeriesShape } from './lib/series.js';

const ROUNDS = 7;
const SMALL: SeriesShape = { counters: 1000, histograms: 100 };
const LARGE: SeriesShape = { counters: 10_000, histograms: 100 };
const CLUSTER_WORKERS = [1, 2, 4, 8, 16, 32, 64];
const LARGE_WORKERS = [2, 8];
const REAL_PROCESSES = [2, 8];
const SIMULATED_PROCESSES = [1, 16, 64];

interface ScrapeResult {
  readonly medianMs: number;
  readonly bytes: number;
  readonly lines: number;
}

const shapeName = (s: SeriesShape) => `${s.counters / 1000}k counters + ${s.histograms} histograms`;
const count = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

function clusterScrape(workers: number, shape: SeriesShape): Promise<ScrapeResult> {
  return runScript<ScrapeResult>(script('scrape-cluster.js'), [String(workers), ...shapeArgs(shape), String(ROUNDS)]);
}

/** Starts writers, waits until all flushed, times the reader, stops the writers. */
async function subjectScrape(url: string, prefix: string, shape: SeriesShape, writers: number, simulatedEach: number): Promise<ScrapeResult> {
  const file = script('scrape-subject.js');
  const started: ChildProcess[] = [];
  try {
    const args = ['writer', url, prefix, ...shapeArgs(shape), String(simulatedEach)];
    for (let i = 0; i < writers; i++) started.push(await forkReady(file, args));
    return await runScript<ScrapeResult>(file, ['reader', url, prefix, String(ROUNDS)]);
  } finally {
    await Promise.all(started.map((child) => stopForked(child)));
  }
}

async function run(context: SectionContext) {
  const cluster = new Map<string, number>();
  const clusterLines = new Map<number, number>();
  const mismatches: string[] = [];
  const key = (shape: SeriesShape, n: number) => `${shape.counters}:${n}`;
  // Like for like only if both render about as many lines for the same series.
  const compareLines = (shape: SeriesShape, what: string, lines: number) => {
    const expected = clusterLines.get(shape.counters);
    if (expected !== undefined && Math.abs(lines - expected) > expected * 0.05) {
      const message = `${what} rendered ${lines} lines where prom-client rendered ${expected}: not like for like.`;
      mismatches.push(message);
      context.log(`WARNING: ${message}`);
    }
  };
  const runCluster = async (shape: SeriesShape, workers: number) => {
    const r = await clusterScrape(workers, shape);
    cluster.set(key(shape, workers), r.medianMs);
    clusterLines.set(shape.counters, r.lines);
    context.log(`prom-client clusterMetrics, ${count(workers, 'worker', 'workers')} × (${shapeName(shape)}): ${formatNumber(r.medianMs)} ms (${formatBytes(r.bytes)}, ${r.lines} lines)`);
  };
  for (const n of CLUSTER_WORKERS) await runCluster(SMALL, n);
  for (const n of LARGE_WORKERS) await runCluster(LARGE, n);

  const real = new Map<string, number>();
  const simulated = new Map<number, number>();
  const { subject } = context.subject;
  if (subject !== null) {
    let run = 0;
    await withRedis(async (server) => {
      for (const shape of [SMALL, LARGE]) {
        for (const n of REAL_PROCESSES) {
          const r = await subjectScrape(server.url, `perf-scrape-${run++}`, shape, n, 0);
          real.set(key(shape, n), r.medianMs);
          compareLines(shape, `subject, ${n} processes × (${shapeName(shape)})`, r.lines);
          context.log(`subject metrics(), ${n} processes × (${shapeName(shape)}): ${formatNumber(r.medianMs)} ms (${formatBytes(r.bytes)}, ${r.lines} lines)`);
        }
      }
      for (const n of SIMULATED_PROCESSES) {
        const r = await subjectScrape(server.url, `perf-scrape-${run++}`, SMALL, 1, n);
        simulated.set(n, r.medianMs);
        compareLines(SMALL, `subject, ${n} simulated`, r.lines);
        context.log(`subject metrics(), ${count(n, 'simulated process', 'simulated processes')} × (${shapeName(SMALL)}): ${formatNumber(r.medianMs)} ms (${formatBytes(r.bytes)}, ${r.lines} lines)`);
      }
    });
  }

  const rows: Row[] = [];
  const ms = { unit: 'ms per scrape', better: 'lower' as const };
  const clusterFig = (shape: SeriesShape, n: number) => ({
    label: `prom-client clusterMetrics(), ${count(n, 'worker', 'workers')}, ${shapeName(shape)}`,
    value: cluster.get(key(shape, n)) ?? null,
  });
  for (const shape of [SMALL, LARGE]) {
    for (const n of REAL_PROCESSES) {
      const figure = { label: `subject metrics(), ${count(n, 'process', 'processes')}, ${shapeName(shape)}`, value: real.get(key(shape, n)) ?? null };
      rows.push({ ...ms, figure, baseline: clusterFig(shape, n) });
    }
  }
  for (const n of SIMULATED_PROCESSES) {
    const figure = { label: `subject metrics(), ${n} simulated, ${shapeName(SMALL)}`, value: simulated.get(n) ?? null };
    rows.push({ ...ms, figure, baseline: clusterFig(SMALL, n) });
  }
  const lastSim = SIMULATED_PROCESSES.at(-1) as number;
  rows.push({
    ...ms,
    figure: { label: `subject metrics(), ${lastSim} simulated, ${shapeName(SMALL)}`, value: simulated.get(lastSim) ?? null },
    baseline: { label: `subject metrics(), 1 simulated, ${shapeName(SMALL)}`, value: simulated.get(1) ?? null },
  });
  for (const n of CLUSTER_WORKERS.slice(1)) rows.push({ ...ms, figure: clusterFig(SMALL, n), baseline: clusterFig(SMALL, 1) });
  rows.push({ ...ms, figure: clusterFig(LARGE, 8), baseline: clusterFig(LARGE, 2) });

  const curves: Curve[] = [
    { name: 'prom-client cluster', points: CLUSTER_WORKERS.map((n) => [n, cluster.get(key(SMALL, n)) ?? 0] as const) },
    { name: 'subject, real processes', points: REAL_PROCESSES.map((n) => [n, real.get(key(SMALL, n)) ?? 0] as const) },
    { name: 'subject, simulated', points: SIMULATED_PROCESSES.map((n) => [n, simulated.get(n) ?? 0] as const) },
  ];
  return {
    rows,
    curves,
    notes: [
      `Every process (worker) holds the same label sets, so the merged output has the same series at any process count: ${shapeName(SMALL)} (default buckets) is ~2,400 exposition lines; ${shapeName(LARGE)} is ~11,400.`,
      `Each figure is the median of ${ROUNDS} scrapes after one warm-up scrape. prom-client: a fresh node:cluster primary per point times AggregatorRegistry.clusterMetrics(). Subject: writers flush once and stay alive; a separate reader process (its own manager, no metrics) times collector.metrics().`,
      'Simulated processes: one OS process with K RedisStorageManagers, each with its own `identity` and metrics created with `registers: []`.',
      'Chart: [scaling.svg](scaling.svg), both axes logarithmic; a curve with no point is not measured yet.',
      ...mismatches.map((m) => `**Warning:** ${m}`),
    ],
  };
}

export const scrape: Section = { id: 'scrape', title: 'Scrape: cluster-wide /metrics vs number of processes', run };
