// scrape: time to produce the cluster-wide /metrics text as the number of processes grows.
// Baseline: prom-client cluster mode (scrape-cluster.ts). Subject: real writer processes, or one
// process simulating many, all flushed to a fresh Redis; the scrape is timed from a reader
// process that wrote nothing (scrape-subject.ts). With real processes, both set-ups serve side by
// side and their scrapes alternate, so that the ratio compares like with like on a shared machine.
import type { ChildProcess } from 'node:child_process';
import { formatBytes, formatNumber } from './lib/format.js';
import { forkReady, runScript, script, stopForked } from './lib/proc.js';
import { median } from './lib/stats.js';
import { withRedis } from './lib/redis.js';
import type { Curve, Row } from './lib/results.js';
import type { Section, SectionContext } from './lib/section.js';
import { shapeArgs, type SeriesShape } from './lib/series.js';

const ROUNDS = 7;
/** Alternating scrapes of each side when both serve side by side. */
const PAIRED_ROUNDS = 9;
const SMALL: SeriesShape = { counters: 1000, histograms: 100 };
const LARGE: SeriesShape = { counters: 10_000, histograms: 100 };
const CLUSTER_WORKERS = [1, 2, 4, 8, 16, 32, 64];
const REAL_PROCESSES = [2, 8];
const SIMULATED_PROCESSES = [1, 2, 4, 8, 16, 32, 64];
const SIMULATED_ROWS = [1, 16, 64];

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

function scrapeOnce(child: ChildProcess): Promise<ScrapeResult> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: { type?: string; ms: number; bytes: number; lines: number }) => {
      if (m.type !== 'scraped') return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve({ medianMs: m.ms, bytes: m.bytes, lines: m.lines });
    };
    const onExit = (code: number | null) => reject(new Error(`scrape server exited with ${String(code)}`));
    child.on('message', onMessage);
    child.once('exit', onExit);
    child.send({ type: 'scrape' });
  });
}

/**
 * prom-client's cluster (N workers) and the subject (N writers and a reader) serving at once; their
 * scrapes alternate, first one side then the other, for PAIRED_ROUNDS rounds.
 */
async function pairedScrape(url: string, prefix: string, shape: SeriesShape, n: number): Promise<{ cluster: ScrapeResult; subject: ScrapeResult }> {
  const started: ChildProcess[] = [];
  try {
    const cluster = await forkReady(script('scrape-cluster.js'), [String(n), ...shapeArgs(shape), 'serve']);
    started.push(cluster);
    const file = script('scrape-subject.js');
    for (let i = 0; i < n; i++) started.push(await forkReady(file, ['writer', url, prefix, ...shapeArgs(shape), '0']));
    const reader = await forkReady(file, ['serve', url, prefix]);
    started.push(reader);
    const times = { cluster: [] as number[], subject: [] as number[] };
    let last = { cluster: { medianMs: 0, bytes: 0, lines: 0 }, subject: { medianMs: 0, bytes: 0, lines: 0 } };
    for (let r = 0; r < PAIRED_ROUNDS; r++) {
      for (const side of r % 2 === 0 ? (['cluster', 'subject'] as const) : (['subject', 'cluster'] as const)) {
        const result = await scrapeOnce(side === 'cluster' ? cluster : reader);
        times[side].push(result.medianMs);
        last = { ...last, [side]: result };
      }
    }
    return {
      cluster: { ...last.cluster, medianMs: median(times.cluster) },
      subject: { ...last.subject, medianMs: median(times.subject) },
    };
  } finally {
    await Promise.all(started.map((child) => stopForked(child)));
  }
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

  const real = new Map<string, number>();
  const clusterPaired = new Map<string, number>();
  const simulated = new Map<number, number>();
  const { subject } = context.subject;
  if (subject !== null) {
    let run = 0;
    await withRedis(async (server) => {
      for (const shape of [SMALL, LARGE]) {
        for (const n of REAL_PROCESSES) {
          const r = await pairedScrape(server.url, `perf-scrape-${run++}`, shape, n);
          real.set(key(shape, n), r.subject.medianMs);
          clusterPaired.set(key(shape, n), r.cluster.medianMs);
          clusterLines.set(shape.counters, r.cluster.lines);
          compareLines(shape, `subject, ${n} processes × (${shapeName(shape)})`, r.subject.lines);
          context.log(
            `interleaved, ${n} processes × (${shapeName(shape)}): subject metrics() ${formatNumber(r.subject.medianMs)} ms (${formatBytes(r.subject.bytes)}, ${r.subject.lines} lines), prom-client clusterMetrics() ${formatNumber(r.cluster.medianMs)} ms (${r.cluster.lines} lines)`,
          );
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
  const pairedFig = (shape: SeriesShape, n: number) => ({
    label: `prom-client clusterMetrics(), ${count(n, 'worker', 'workers')}, ${shapeName(shape)}, interleaved`,
    value: clusterPaired.get(key(shape, n)) ?? null,
  });
  for (const shape of [SMALL, LARGE]) {
    for (const n of REAL_PROCESSES) {
      const figure = { label: `subject metrics(), ${count(n, 'process', 'processes')}, ${shapeName(shape)}`, value: real.get(key(shape, n)) ?? null };
      rows.push({ ...ms, figure, baseline: pairedFig(shape, n) });
    }
  }
  for (const n of SIMULATED_ROWS) {
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
  rows.push({ ...ms, figure: pairedFig(LARGE, 8), baseline: pairedFig(LARGE, 2) });

  const curves: Curve[] = [
    { name: 'prom-client cluster', points: CLUSTER_WORKERS.map((n) => [n, cluster.get(key(SMALL, n)) ?? 0] as const) },
    { name: 'prom-client, interleaved', points: REAL_PROCESSES.map((n) => [n, clusterPaired.get(key(SMALL, n)) ?? 0] as const) },
    { name: 'subject, interleaved', points: REAL_PROCESSES.map((n) => [n, real.get(key(SMALL, n)) ?? 0] as const) },
    { name: 'subject, simulated', points: SIMULATED_PROCESSES.map((n) => [n, simulated.get(n) ?? 0] as const) },
  ];
  return {
    rows,
    curves,
    notes: [
      `Every process (worker) holds the same label sets, so the merged output has the same series at any process count: ${shapeName(SMALL)} (default buckets) is ~2,400 exposition lines; ${shapeName(LARGE)} is ~11,400.`,
      `Real processes (the target rows): prom-client's cluster (a node:cluster primary timing AggregatorRegistry.clusterMetrics()) and the subject's writers (flushed once, alive) with a separate reader process (its own manager, no metrics, timing collector.metrics()) serve side by side, and their scrapes alternate for ${PAIRED_ROUNDS} rounds after one warm-up scrape each (*interleaved*); each figure is the median of its side. The prom-client curve and the simulated points: the median of ${ROUNDS} scrapes after one warm-up, a fresh primary or writer per point, measured one after another.`,
      'The subject\'s histogram family has native buckets too (`nativeHistogramBucketFactor: 1.1`, classic buckets kept): its scrape reads and merges three native buckets per series and process (the text shows the classic ones); prom-client 15 has no native histograms.',
      'Simulated processes: one OS process with K RedisStorageManagers, each with its own `identity` and metrics created with `registers: []`.',
      'Chart: [scaling.svg](scaling.svg), both axes logarithmic; *interleaved*: the real-process runs at 2 and 8 processes, both sides serving at once; *prom-client cluster* and *subject, simulated*: one point after another; a curve with no point is not measured yet.',
      ...mismatches.map((m) => `**Warning:** ${m}`),
    ],
  };
}

export const scrape: Section = { id: 'scrape', title: 'Scrape: cluster-wide /metrics vs number of processes', run };
