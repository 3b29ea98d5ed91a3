// Heap cost of N series in a fresh process (run with --expose-gc so the figure is after a full GC).
// Usage: node --expose-gc dist/perf/memory-probe.js <map|prom-client|subject> <N> [redisUrl keyPrefix]
// Prints RESULT {bytesPerSeries, bytesPerSeriesAfterFlush?}.
import { Counter, Registry } from 'prom-client';
import { printResult } from './lib/proc.js';
import { loadSubject, openManager } from './subject.js';

const [mode = '', countArg = '0', url = '', keyPrefix = 'perf-memory'] = process.argv.slice(2);
const n = Number(countArg);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('memory-probe needs node --expose-gc');

// Full GCs with short pauses between them, so that concurrent sweeping has finished.
async function heapUsed(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc?.();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return process.memoryUsage().heapUsed;
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
  const counter = new Counter({ name: 'memory_counter', help: 'h', labelNames: ['id'], registers: [new Registry()] });
  for (const id of ids) counter.inc({ id }, 1);
  keepAlive = counter;
  printResult({ bytesPerSeries: (await heapUsed() - before) / n });
} else if (mode === 'subject') {
  const { subject, status } = await loadSubject();
  if (subject === null) throw new Error(status);
  const storage = await openManager(subject, { url, keyPrefix, flushIntervalMs: 3_600_000 });
  // The manager's own fixed cost (client, timers) is not a per-series cost.
  const afterManager = await heapUsed();
  const counter = new subject.Counter({ name: 'memory_counter', help: 'h', labelNames: ['id'], storage });
  for (const id of ids) counter.inc({ id }, 1);
  const afterUpdates = await heapUsed();
  await storage.flush();
  const afterFlush = await heapUsed();
  keepAlive = counter;
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
