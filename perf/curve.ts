// curve: flush, scrape, process memory and Redis memory from 10k to a million counter series, and
// the scrape at 1, 8 and 64 processes. Two sections: `curve` (10k and 100k, in the default run)
// and `curve-1m` (10k, 100k and 1M: a few minutes, run by name). Every figure is per series, with
// the 10k figure of the same run as its baseline, so a ratio of 1.0 is linear growth.
import { fork, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { formatNumber } from './lib/format.js';
import { runScript, script, stopForked } from './lib/proc.js';
import { withRedis } from './lib/redis.js';
import type { Curve, Row } from './lib/results.js';
import type { Section, SectionContext } from './lib/section.js';

const PROCESSES = [1, 8, 64] as const;
const NODE_ARGS = ['--expose-gc'];

interface Plan {
  readonly n: number;
  readonly flushRounds: number;
  /** Scrapes at 1 process (the collector's memory is read after each), and at 8 and 64. */
  readonly scrapeRounds: number;
  readonly manyRounds: number;
}

interface WriterFigures {
  readonly flushMs: number;
  readonly flushCpuUs: number;
  readonly flushLoopMaxMs: number;
  readonly flushCpuBlockMaxMs: number;
  readonly firstFlushLoopMaxMs: number;
  readonly heapBytes: number;
  readonly rssBytes: number;
}

interface ReaderFigures {
  readonly ms: number;
  readonly cpuUs: number;
  readonly loopMaxMs: number;
  readonly cpuBlockMaxMs: number;
  /** Scrapes with one series new since the last (flushed before by the reader itself). */
  readonly newSeriesMs: number;
  readonly newSeriesCpuUs: number;
  readonly newSeriesCpuBlockMaxMs: number;
  /** Reading the text as one flat string after the scrape (the caller's), longest block. */
  readonly flattenBlockMaxMs: number;
  readonly heapAfter: number[];
  readonly maxRssBytes: number;
}

function startWriter(args: readonly string[]): Promise<{ child: ChildProcess; figures: WriterFigures }> {
  return new Promise((resolve, reject) => {
    const child = fork(script('curve-child.js'), ['writer', ...args], { stdio: ['ignore', 'inherit', 'pipe', 'ipc'], execArgv: NODE_ARGS });
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('message', (m: WriterFigures & { type?: string }) => m.type === 'ready' && resolve({ child, figures: m }));
    child.once('exit', (code) => reject(new Error(`curve writer exited with ${String(code)}: ${stderr.split('\n').filter((l) => /Error/.test(l)).slice(0, 2).join(' | ')}`)));
  });
}

async function usedMemory(redis: Redis): Promise<number> {
  const match = /used_memory:(\d+)/.exec(await redis.info('memory'));
  if (match?.[1] === undefined) throw new Error('INFO memory has no used_memory');
  return Number(match[1]);
}

const short = (n: number) => (n >= 1_000_000 ? `${n / 1_000_000}M` : `${n / 1000}k`);

async function measure(context: SectionContext, plans: readonly Plan[]) {
  const byN = new Map<number, { writer: WriterFigures; redisBytes: number; scrape: Map<number, ReaderFigures> }>();
  await withRedis(async (server) => {
    const redis = new Redis(server.port, '127.0.0.1');
    try {
      for (const plan of plans) {
        const lines = plan.n + 3; // HELP, TYPE, the series, and the final newline's empty line
        const scrape = new Map<number, ReaderFigures>();
        await redis.flushall();
        const before = await usedMemory(redis);
        const one = await startWriter([server.url, `curve-${plan.n}-1`, String(plan.n), '1', String(plan.flushRounds)]);
        let redisBytes: number;
        try {
          redisBytes = (await usedMemory(redis)) - before;
          scrape.set(1, await runScript<ReaderFigures>(script('curve-child.js'), ['reader', server.url, `curve-${plan.n}-1`, String(plan.scrapeRounds), String(lines)], 600_000, NODE_ARGS));
        } finally {
          await stopForked(one.child);
        }
        context.log(`${formatNumber(plan.n)} series: flush ${formatNumber(one.figures.flushMs)} ms, scrape ${formatNumber(scrape.get(1)!.ms)} ms, writer heap ${formatNumber(one.figures.heapBytes / 2 ** 20)} MiB, Redis ${formatNumber(redisBytes / 2 ** 20)} MiB`);
        for (const k of PROCESSES.filter((p) => p > 1)) {
          await redis.flushall();
          const many = await startWriter([server.url, `curve-${plan.n}-${k}`, String(plan.n), String(k), '0']);
          try {
            scrape.set(k, await runScript<ReaderFigures>(script('curve-child.js'), ['reader', server.url, `curve-${plan.n}-${k}`, String(plan.manyRounds), String(lines)], 600_000, NODE_ARGS));
          } finally {
            await stopForked(many.child);
          }
          context.log(`${formatNumber(plan.n)} series, ${k} processes: scrape ${formatNumber(scrape.get(k)!.ms)} ms`);
        }
        byN.set(plan.n, { writer: one.figures, redisBytes, scrape });
      }
    } finally {
      redis.disconnect();
    }
  });
  return byN;
}

async function run(context: SectionContext, plans: readonly Plan[]) {
  if (context.subject.subject === null) return { rows: [], notes: [`Not measured: ${context.subject.status}.`] };
  const byN = await measure(context, plans);
  const base = byN.get(plans[0]!.n)!;
  const b = short(plans[0]!.n);
  const rows: Row[] = [];
  const perSeries = (unit: string, what: (n: number) => string, value: (f: typeof base) => number) => {
    for (const { n } of plans) {
      const f = byN.get(n)!;
      rows.push({ unit, better: 'lower', figure: { label: what(n), value: value(f) / n }, baseline: n === plans[0]!.n ? null : { label: what(plans[0]!.n), value: value(base) / plans[0]!.n } });
    }
  };
  perSeries('µs/series', (n) => `flush of ${short(n)} dirty series, wall`, (f) => f.writer.flushMs * 1000);
  perSeries('client CPU µs/series', (n) => `flush of ${short(n)} dirty series`, (f) => f.writer.flushCpuUs);
  for (const k of PROCESSES) perSeries('µs/series', (n) => `scrape of ${short(n)} series, ${k} process${k === 1 ? '' : 'es'}, wall`, (f) => f.scrape.get(k)!.ms * 1000);
  perSeries('reader CPU µs/series', (n) => `scrape of ${short(n)} series, 1 process`, (f) => f.scrape.get(1)!.cpuUs);
  for (const { n } of plans) {
    const f = byN.get(n)!.scrape.get(1)!;
    rows.push({ unit: 'reader CPU ms', better: 'lower', figure: { label: `scrape of ${short(n)} series, one of them new since the last scrape`, value: f.newSeriesCpuUs / 1000 }, baseline: { label: `scrape of ${short(n)} series, the same as at the last`, value: f.cpuUs / 1000 } });
  }
  perSeries('B/series', (n) => `writer heap, ${short(n)} series after a flush`, (f) => f.writer.heapBytes);
  perSeries('B/series', (n) => `Redis used_memory, ${short(n)} series`, (f) => f.redisBytes);
  perSeries('B/series', (n) => `reader peak RSS, scrapes of ${short(n)} series`, (f) => f.scrape.get(1)!.maxRssBytes);
  const top = plans.at(-1)!.n;
  const last = byN.get(top)!;
  const heaps = last.scrape.get(1)!.heapAfter;
  rows.push(
    { unit: 'MiB', better: 'lower', figure: { label: `collector heap after ${heaps.length} scrapes of ${short(top)} series`, value: heaps.at(-1)! / 2 ** 20 }, baseline: { label: `collector heap after 1 scrape of ${short(top)} series`, value: heaps[0]! / 2 ** 20 } },
    { unit: 'ms of own CPU', better: 'lower', figure: { label: `longest event-loop block, flush or scrape of ${short(top)} series`, value: Math.max(last.writer.flushCpuBlockMaxMs, ...PROCESSES.map((k) => last.scrape.get(k)!.cpuBlockMaxMs)) }, baseline: null },
    { unit: 'ms of own CPU', better: 'lower', figure: { label: `longest event-loop block, flush of ${short(top)} series`, value: last.writer.flushCpuBlockMaxMs }, baseline: null },
    { unit: 'ms of own CPU', better: 'lower', figure: { label: `longest event-loop block, scrape of ${short(top)} series`, value: Math.max(...PROCESSES.map((k) => last.scrape.get(k)!.cpuBlockMaxMs)) }, baseline: null },
    { unit: 'ms of own CPU', better: 'lower', figure: { label: `longest event-loop block, scrape of ${short(top)} series, one of them new since the last scrape`, value: last.scrape.get(1)!.newSeriesCpuBlockMaxMs }, baseline: null },
    { unit: 'ms of own CPU', better: 'lower', figure: { label: `longest event-loop block, reading the text of a scrape of ${short(top)} series as one string (its caller's)`, value: last.scrape.get(1)!.flattenBlockMaxMs }, baseline: null },
    { unit: 'ms wall (monitorEventLoopDelay max)', better: 'lower', figure: { label: `longest event-loop block, flush of ${short(top)} series`, value: last.writer.flushLoopMaxMs }, baseline: null },
    { unit: 'ms wall (monitorEventLoopDelay max)', better: 'lower', figure: { label: `longest event-loop block, scrape of ${short(top)} series`, value: Math.max(...PROCESSES.map((k) => last.scrape.get(k)!.loopMaxMs)) }, baseline: null },
  );
  const curves: Curve[] = [
    { name: 'flush, ms', points: plans.map(({ n }) => [n, byN.get(n)!.writer.flushMs] as const) },
    ...PROCESSES.map((k): Curve => ({ name: `scrape, ${k} process${k === 1 ? '' : 'es'}, ms`, points: plans.map(({ n }) => [n, byN.get(n)!.scrape.get(k)!.ms] as const) })),
    { name: 'writer heap, MiB', points: plans.map(({ n }) => [n, byN.get(n)!.writer.heapBytes / 2 ** 20] as const) },
    { name: 'reader peak RSS, MiB', points: plans.map(({ n }) => [n, byN.get(n)!.scrape.get(1)!.maxRssBytes / 2 ** 20] as const) },
    { name: 'Redis used_memory, MiB', points: plans.map(({ n }) => [n, byN.get(n)!.redisBytes / 2 ** 20] as const) },
  ];
  const figures = plans.map(({ n }) => {
    const f = byN.get(n)!;
    return `${short(n)}: flush ${formatNumber(f.writer.flushMs)} ms (${formatNumber(f.writer.flushCpuUs / 1000)} ms CPU, longest block ${formatNumber(f.writer.flushCpuBlockMaxMs)} ms own CPU, ${formatNumber(f.writer.flushLoopMaxMs)} ms wall), scrape ${PROCESSES.map((k) => `${formatNumber(f.scrape.get(k)!.ms)} ms at ${k}`).join(', ')}, with one new series ${formatNumber(f.scrape.get(1)!.newSeriesMs)} ms (longest block ${formatNumber(Math.max(...PROCESSES.map((k) => f.scrape.get(k)!.cpuBlockMaxMs)))} ms own CPU, ${formatNumber(Math.max(...PROCESSES.map((k) => f.scrape.get(k)!.loopMaxMs)))} ms wall), writer heap ${formatNumber(f.writer.heapBytes / 2 ** 20)} MiB (RSS ${formatNumber(f.writer.rssBytes / 2 ** 20)} MiB), reader peak RSS ${formatNumber(f.scrape.get(1)!.maxRssBytes / 2 ** 20)} MiB, Redis ${formatNumber(f.redisBytes / 2 ** 20)} MiB`;
  });
  return {
    rows,
    curves,
    notes: [
      `Counter series, one label \`id\`. *Flush*: one process holding N series, every series dirty (Counter.inc, not timed), one awaited flush; median of ${plans.map((p) => `${p.flushRounds} at ${short(p.n)}`).join(', ')} after the first flush (which creates the keys and is not counted). *Scrape*: \`collector.metrics()\` in a fresh process that wrote nothing, median after a warm-up scrape, each checked for exactly N + 3 lines (outside the timed window); the text comes back as a rope of its 256 KB chunks, not copied into one flat string: a caller that reads it as one string flattens it then (the row *reading the text ... as one string*; the metrics server and the launcher's collect thread write the parts and never do); at K processes, K storage managers in one OS process (each its own identity, flushing through the real flush path) write the series between them (process i the series i, i + K, ...): counters are summed in Redis, so the read is N fields whatever K, plus K registry entries. *One of them new since the last scrape*: then the reader itself writes and flushes one new series before each of 3 more scrapes (median; checked for N + 4, N + 5, N + 6 lines), as a service whose label values keep coming does: the family's counter table is made again with the new field (the version before built it again from the reply, every field sorted and parsed: ~3 s of CPU at 1M).`,
      'Both processes run with `REDIS_FLUSH_TIMEOUT_MS` and `REDIS_COLLECT_TIMEOUT_MS` at 60,000: with the default 5,000 the first flush of a million series (it also writes their creation times) timed out on this machine while other suites ran (it took 4.4 to 8.3 s).',
      `*Writer heap*: heapUsed + arrayBuffers after full GCs, after the first flush, less before the manager; *Redis used_memory*: its growth over an empty database; *reader peak RSS*: the scraping process's maxRSS. *Longest event-loop block*: over each timed flush or scrape, in own CPU (this process's CPU time between two turns of a 1 ms timer, capped by the wall time between them, less the 1 ms; what our own work blocks, whatever else the machine runs) and in wall time (perf_hooks.monitorEventLoopDelay max, 1 ms resolution, which also counts the time the OS gave the CPU to other work). The ratios are per series against the ${b} figure of the same run: 1.0 is linear growth.`,
      `Figures: ${figures.join('; ')}.`,
    ],
  };
}

export const curve: Section = {
  id: 'curve',
  title: 'The curve: 10k and 100k series (the million in `curve-1m`)',
  run: (context) => run(context, [{ n: 10_000, flushRounds: 5, scrapeRounds: 7, manyRounds: 5 }, { n: 100_000, flushRounds: 3, scrapeRounds: 5, manyRounds: 3 }]),
};

export const curve1m: Section = {
  id: 'curve-1m',
  title: 'The curve to a million series: 10k, 100k and 1M',
  run: (context) => run(context, [{ n: 10_000, flushRounds: 5, scrapeRounds: 5, manyRounds: 3 }, { n: 100_000, flushRounds: 3, scrapeRounds: 3, manyRounds: 3 }, { n: 1_000_000, flushRounds: 2, scrapeRounds: 10, manyRounds: 2 }]),
};
