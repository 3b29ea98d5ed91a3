// Memory cost of N series in a fresh process (run with --expose-gc so the figure is after a full GC):
// V8 heap plus ArrayBuffer memory (typed arrays keep their data outside the heap).
// Usage: node --expose-gc dist/perf/memory-probe.js <map|prom-client|subject> <counter|gauge|histogram|summary> <N> [redisUrl keyPrefix]
// Prints RESULT {bytesPerSeries, bytesPerSeriesAfterFlush?}.
import { Counter, Gauge, Histogram, Registry, Summary } from 'prom-client';
import { printResult } from './lib/proc.js';
import { loadSubject, openManager } from './subject.js';

const [mode = '', kind = 'counter', countArg = '0', url = '', keyPrefix = 'perf-memory'] = process.argv.slice(2);
if (!['counter', 'gauge', 'histogram', 'summary'].includes(kind)) throw new Error(`Expected kind counter, gauge, histogram or summary, got \`${kind}\``);
const n = Number(countArg);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('memory-probe needs node --expose-gc');

// Full GCs with short pauses between them, so that concurrent sweeping has finished.
async function heapUsed(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc?.();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

// Label values are made before the first reading: the caller's strings are not the store's cost.
const ids = Array.from({ length: n }, (_, i) => String(i));
const before = await heapUsed();
let keepAlive: unknown;

if (mode === 'map') {
  const map = new Map<string, number>();
  for (const id of ids) map.set(JSON.stringify([id]), 1);
  keepAlive = map;
  printResult({ bytesPerSeries: (await heapUsed() - before) / n });
} else if (mode === 'prom-client') {
  const registers = [new Registry()];
  if (kind === 'counter') {
    const counter = new Counter({ name: 'memory_counter', help: 'h', labelNames: ['id'], registers });
    for (const id of ids) counter.inc({ id }, 1);
    keepAlive = counter;
  } else if (kind === 'gauge') {
    const gauge = new Gauge({ name: 'memory_gauge', help: 'h', labelNames: ['id'], registers });
    for (const id of ids) gauge.set({ id }, 1);
    keepAlive = gauge;
  } else if (kind === 'summary') {
    const summary = new Summary({ name: 'memory_summary', help: 'h', labelNames: ['id'], registers });
    for (const id of ids) summary.observe({ id }, 0.04);
    keepAlive = summary;
  } else {
    const histogram = new Histogram({ name: 'memory_histogram', help: 'h', labelNames: ['id'], registers });
    for (const id of ids) histogram.observe({ id }, 0.04);
    keepAlive = histogram;
  }
  printResult({ bytesPerSeries: (await heapUsed() - before) / n });
} else if (mode === 'subject') {
  const { subject, status } = await loadSubject();
  if (subject === null) throw new Error(status);
  const storage = await openManager(subject, { url, keyPrefix, flushIntervalMs: 3_600_000 });
  // The manager's own fixed cost (client, timers) is not a per-series cost.
  const afterManager = await heapUsed();
  if (kind === 'counter') {
    const counter = new subject.Counter({ name: 'memory_counter', help: 'h', labelNames: ['id'], storage });
    for (const id of ids) counter.inc({ id }, 1);
    keepAlive = counter;
  } else if (kind === 'gauge') {
    if (subject.Gauge === undefined) throw new Error('the subject exports no Gauge');
    const gauge = new subject.Gauge({ name: 'memory_gauge', help: 'h', labelNames: ['id'], storage });
    for (const id of ids) gauge.set({ id }, 1);
    keepAlive = gauge;
  } else if (kind === 'summary') {
    const summary = new subject.Summary({ name: 'memory_summary', help: 'h', labelNames: ['id'], storage });
    for (const id of ids) summary.observe({ id }, 0.04);
    keepAlive = summary;
  } else {
    const histogram = new subject.Histogram({ name: 'memory_histogram', help: 'h', labelNames: ['id'], storage });
    for (const id of ids) histogram.observe({ id }, 0.04);
    keepAlive = histogram;
  }
  const afterUpdates = await heapUsed();
  await storage.flush();
  const afterFlush = await heapUsed();
  await storage.shutdown();
  printResult({
    bytesPerSeries: (afterUpdates - afterManager) / n,
    bytesPerSeriesAfterFlush: (afterFlush - afterManager) / n,
    managerBytes: afterManager - before,
  });
} else {
  throw new Error(`Expected mode map, prom-client or subject, got \`${mode}\``);
}
// Used after the last reading: V8 drops locals that are dead at an await, and a dead `ids` would be
// collected before the reading after the stores are built (32 bytes per series too few in a trial).
if (keepAlive === undefined || ids.length !== n) process.exitCode = 1;
