// The subject's side of scrape, as separate OS processes.
//   writer <url> <prefix> <counters> <histograms>[+<summaries>] [simulated]
//       registers the series, flushes, says ready over IPC, stays alive until told to stop.
//       With `simulated` = K > 0, one process stands for K processes: K managers, each with its
//       own identity ({ host, pid, nonce }) and its own metrics kept out of the global registry.
//   reader <url> <prefix> <rounds>
//       times collector.metrics() from a process that wrote nothing; prints RESULT.
//   serve <url> <prefix>
//       the reader, forked: says ready over IPC, answers each {type: 'scrape'} with
//       {type: 'scraped', ms, cpuUs, bytes, lines} until {type: 'stop'}
//       (cpuUs: this process's process.cpuUsage() over the scrape).
import { randomBytes } from 'node:crypto';
import { printResult } from './lib/proc.js';
import { COUNTER_NAME, fill, HISTOGRAM_NAME, parseShape, SUMMARY_NAME } from './lib/series.js';
import { median } from './lib/stats.js';
import { loadSubject, openManager, type SubjectManager, type SubjectModule } from './subject.js';

const FLUSH_NEVER_MS = 3_600_000;

async function writer(subject: SubjectModule, args: readonly string[]): Promise<void> {
  const [url = '', keyPrefix = ''] = args;
  const shape = parseShape(args, 2);
  const simulated = Number(args[4] ?? 0);
  const managers: SubjectManager[] = [];
  const count = simulated > 0 ? simulated : 1;
  for (let i = 0; i < count; i++) {
    const identity = simulated > 0 ? { host: 'simulated', pid: 100_000 + i, nonce: randomBytes(4).toString('hex') } : undefined;
    const storage = await openManager(subject, { url, keyPrefix, flushIntervalMs: FLUSH_NEVER_MS, ...(identity ? { identity } : {}) });
    const registers = simulated > 0 ? { registers: [] } : {};
    const counter = new subject.Counter({ name: COUNTER_NAME, help: 'requests', labelNames: ['id'], storage, ...registers });
    // Native buckets too (the default classic ones kept): the reader merges them at every scrape.
    const histogram = new subject.Histogram({ name: HISTOGRAM_NAME, help: 'duration', labelNames: ['id'], nativeHistogramBucketFactor: 1.1, storage, ...registers });
    const summary = (shape.summaries ?? 0) > 0 ? new subject.Summary({ name: SUMMARY_NAME, help: 'size', labelNames: ['id'], storage, ...registers }) : undefined;
    fill(shape, counter, histogram, summary);
    await storage.flush();
    managers.push(storage);
  }
  process.send?.({ type: 'ready' });
  await new Promise<void>((resolve) => {
    process.on('message', (m: { type?: string }) => m.type === 'stop' && resolve());
    process.on('disconnect', () => resolve());
  });
  await Promise.all(managers.map((m) => m.shutdown()));
  process.exit(0);
}

async function reader(subject: SubjectModule, args: readonly string[]): Promise<void> {
  const [url = '', keyPrefix = '', roundsArg = '7'] = args;
  const storage = await openManager(subject, { url, keyPrefix, flushIntervalMs: FLUSH_NEVER_MS });
  const collector = storage.getCollector();
  let text = await collector.metrics(); // warm-up
  const times: number[] = [];
  for (let r = 0; r < Number(roundsArg); r++) {
    const start = process.hrtime.bigint();
    text = await collector.metrics();
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  await storage.shutdown();
  printResult({ medianMs: median(times), times, bytes: Buffer.byteLength(text), lines: text.split('\n').length });
  process.exit(0);
}

async function serve(subject: SubjectModule, args: readonly string[]): Promise<void> {
  const [url = '', keyPrefix = ''] = args;
  const storage = await openManager(subject, { url, keyPrefix, flushIntervalMs: FLUSH_NEVER_MS });
  const collector = storage.getCollector();
  await collector.metrics(); // warm-up
  process.on('message', (message: { type?: string }) => {
    if (message.type === 'stop') void storage.shutdown().finally(() => process.exit(0));
    if (message.type !== 'scrape') return;
    const start = process.hrtime.bigint();
    const cpu = process.cpuUsage();
    void collector.metrics().then((text) => {
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      const used = process.cpuUsage(cpu);
      process.send?.({ type: 'scraped', ms, cpuUs: used.user + used.system, bytes: Buffer.byteLength(text), lines: text.split('\n').length });
    });
  });
  process.send?.({ type: 'ready' });
}

const [mode, ...rest] = process.argv.slice(2);
const { subject, status } = await loadSubject();
if (subject === null) {
  console.error(status);
  process.exit(3);
}
if (mode === 'writer') await writer(subject, rest);
else if (mode === 'reader') await reader(subject, rest);
else if (mode === 'serve') await serve(subject, rest);
else {
  console.error(`Expected mode \`writer\`, \`reader\` or \`serve\`, got \`${String(mode)}\``);
  process.exit(2);
}
