// The processes of the curve section (perf/curve.ts), run with --expose-gc.
//   writer <url> <prefix> <N> <K> <flushRounds>
//       K simulated processes (K storage managers, each its own identity) write N counter series
//       between them, one label `id`: process i writes the series i, i + K, i + 2K, ... and
//       flushes. With K = 1 the flush is then timed `flushRounds` more times, every series dirty
//       again each time (Counter.inc, not timed). Says {type: 'ready', ...figures} over IPC and
//       stays alive (its heartbeats keep the processes live) until {type: 'stop'}.
//   reader <url> <prefix> <rounds> <lines>
//       a process that wrote nothing scrapes (collector.metrics()) once to warm up, then `rounds`
//       times, and prints RESULT: time, CPU, the event loop's longest block, its heap after a full
//       GC after each scrape, its peak RSS. Each scrape must have exactly `lines` lines. Then it
//       writes and flushes one new series before each of 3 more scrapes (their time, CPU, block).
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { printResult } from './lib/proc.js';
import { watchLoop } from './lib/loop-watch.js';
import { median } from './lib/stats.js';
import { loadSubject, openManager, type SubjectCounter, type SubjectManager } from './subject.js';

const FLUSH_NEVER_MS = 3_600_000;
/** Scrapes of the reader with one series new since the last (see the reader). */
const NEW_SERIES_ROUNDS = 3;
// The default 5 s timeouts are the time a whole flush round or a whole collect may take: the first
// flush of a million series (which also writes their creation times) took 4.4 to 8.3 s on this
// machine while other suites ran, and failed with the default. Raised here so the curve measures
// the work; perf/README.md says so.
process.env.REDIS_FLUSH_TIMEOUT_MS ??= '60000';
process.env.REDIS_COLLECT_TIMEOUT_MS ??= '60000';
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('curve-child needs node --expose-gc');

function heapAfterGc(): number {
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/**
 * Runs fn with the event loop watched: wall ms, CPU µs, and its longest block two ways: wall
 * (monitorEventLoopDelay max, 1 ms resolution), and own CPU (this process's CPU time between two
 * turns of a 1 ms timer, capped by the wall time between them, less the 1 ms): on a machine shared
 * with other work the wall figure also counts the time the OS gave the CPU to others.
 */
async function watched(fn: () => Promise<unknown>): Promise<{ ms: number; cpuUs: number; loopMaxMs: number; cpuBlockMaxMs: number }> {
  const w = await watchLoop(fn);
  return { ms: w.ms, cpuUs: w.cpuMs * 1000, loopMaxMs: w.wallMax, cpuBlockMaxMs: w.cpuMax };
}

const [mode, url = '', keyPrefix = '', ...rest] = process.argv.slice(2);
const { subject, status } = await loadSubject();
if (subject === null) throw new Error(status);
const manager = (identity?: { host: string; pid: number; nonce: string }) =>
  openManager(subject, { url, keyPrefix, flushIntervalMs: FLUSH_NEVER_MS, maxSeriesPerMetric: 2_000_000, ...(identity ? { identity } : {}) });

if (mode === 'writer') {
  const [n, k, flushRounds] = rest.map(Number) as [number, number, number];
  const ids = Array.from({ length: n }, (_, i) => String(i));
  const heapBefore = heapAfterGc();
  const managers: SubjectManager[] = [];
  const counters: SubjectCounter[] = [];
  for (let p = 0; p < k; p++) {
    const identity = k > 1 ? { host: 'simulated', pid: 100_000 + p, nonce: randomBytes(4).toString('hex') } : undefined;
    const storage = await manager(identity);
    const counter = new subject.Counter({ name: 'curve_requests_total', help: 'requests', labelNames: ['id'], storage, registers: [] });
    for (let i = p; i < n; i += k) counter.inc({ id: ids[i]! }, 1);
    managers.push(storage);
    counters.push(counter);
  }
  const first = await watched(() => Promise.all(managers.map((m) => m.flush())));
  const heapAfterFlush = heapAfterGc();
  const flushes: Array<{ ms: number; cpuUs: number; loopMaxMs: number; cpuBlockMaxMs: number }> = [];
  if (k === 1) {
    for (let r = 0; r < flushRounds; r++) {
      for (let i = 0; i < n; i++) counters[0]!.inc({ id: ids[i]! }, 1);
      flushes.push(await watched(() => managers[0]!.flush()));
    }
  }
  process.send?.({
    type: 'ready',
    firstFlushMs: first.ms,
    firstFlushLoopMaxMs: first.loopMaxMs,
    flushMs: flushes.length > 0 ? median(flushes.map((f) => f.ms)) : null,
    flushCpuUs: flushes.length > 0 ? median(flushes.map((f) => f.cpuUs)) : null,
    flushLoopMaxMs: flushes.length > 0 ? Math.max(...flushes.map((f) => f.loopMaxMs)) : null,
    flushCpuBlockMaxMs: flushes.length > 0 ? Math.max(...flushes.map((f) => f.cpuBlockMaxMs)) : null,
    heapBytes: heapAfterFlush - heapBefore,
    rssBytes: process.memoryUsage().rss,
  });
  await new Promise<void>((resolve) => {
    process.on('message', (m: { type?: string }) => m.type === 'stop' && resolve());
    process.on('disconnect', () => resolve());
  });
  await Promise.all(managers.map((m) => m.shutdown()));
  process.exit(0);
} else if (mode === 'reader') {
  const [rounds, lines] = rest.map(Number) as [number, number];
  const storage = await manager();
  const collector = storage.getCollector();
  const check = (text: string) => {
    const got = text.split('\n').length;
    if (got !== lines) throw new Error(`a scrape had ${got} lines, expected ${lines}`);
  };
  // The check splits the text into lines: a benchmark's work, outside the watched window.
  let text = '';
  const warm = await watched(async () => (text = await collector.metrics()));
  check(text);
  const heapAfter = [heapAfterGc()];
  const scrapes: Array<{ ms: number; cpuUs: number; loopMaxMs: number; cpuBlockMaxMs: number }> = [];
  // What a caller that reads metrics()'s text as one string pays once (it comes as a rope of chunks).
  const flattens: number[] = [];
  for (let r = 0; r < rounds; r++) {
    scrapes.push(await watched(async () => (text = await collector.metrics())));
    // The timer turns once more after the flattening: a block at the very end of the work would go unseen.
    flattens.push(
      (
        await watched(async () => {
          text.indexOf('\u0001');
          await sleep(5);
        })
      ).cpuBlockMaxMs,
    );
    check(text);
    text = '';
    heapAfter.push(heapAfterGc());
  }
  // Then one series new at each scrape, flushed by this process before it (as a writer elsewhere
  // would): the family's fields change, so its counter table must change with them.
  const counter = new subject.Counter({ name: 'curve_requests_total', help: 'requests', labelNames: ['id'], storage, registers: [] });
  const withNew: Array<{ ms: number; cpuUs: number; loopMaxMs: number; cpuBlockMaxMs: number }> = [];
  for (let r = 0; r < NEW_SERIES_ROUNDS; r++) {
    counter.inc({ id: `new-${r}` }, 1);
    await storage.flush();
    withNew.push(await watched(async () => (text = await collector.metrics())));
    const got = text.split('\n').length;
    if (got !== lines + r + 1) throw new Error(`a scrape with ${r + 1} new series had ${got} lines, expected ${lines + r + 1}`);
    text = '';
  }
  await storage.shutdown();
  printResult({
    newSeriesMs: median(withNew.map((s) => s.ms)),
    newSeriesCpuUs: median(withNew.map((s) => s.cpuUs)),
    newSeriesCpuBlockMaxMs: Math.max(...withNew.map((s) => s.cpuBlockMaxMs)),
    ms: median(scrapes.map((s) => s.ms)),
    cpuUs: median(scrapes.map((s) => s.cpuUs)),
    loopMaxMs: Math.max(warm.loopMaxMs, ...scrapes.map((s) => s.loopMaxMs)),
    cpuBlockMaxMs: Math.max(warm.cpuBlockMaxMs, ...scrapes.map((s) => s.cpuBlockMaxMs)),
    flattenBlockMaxMs: Math.max(...flattens),
    heapAfter,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
  });
  process.exit(0);
} else {
  throw new Error(`Expected mode writer or reader, got \`${String(mode)}\``);
}
