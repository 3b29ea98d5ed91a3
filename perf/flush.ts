// flush: the subject's write-behind cost. N dirty series, then one awaited manager.flush(), timed
// for throughput, client CPU and the event-loop delay it causes. Baselines from the same server:
// redis-benchmark (the server's limit) and the same N fields sent as bare EVALSHA chunks of 1,000.
import { Redis } from 'ioredis';
import { labelKeys, loadBulkScript, sendBulk } from './lib/bulk.js';
import { formatNumber } from './lib/format.js';
import { redisBenchmarkOpsPerSec, withRedis, type RedisServer } from './lib/redis.js';
import type { Row } from './lib/results.js';
import type { Section, SectionContext } from './lib/section.js';
import { median, sleep, underLoopMonitor, type LoopFigures } from './lib/stats.js';
import { openManager, type SubjectModule } from './subject.js';

const SIZES = [10_000, 100_000];
const ROUNDS = 7;
/** Untimed rounds first: they create the keys and warm the JIT, as the first flushes of a process do. */
const WARMUP_ROUNDS = 1;
const CHUNK = 1000;

interface FlushFigures {
  readonly seriesPerSec: number;
  readonly cpuUsPerSeries: number;
  readonly loopP99Ms: number;
}

function summarizeRounds(n: number, rounds: readonly LoopFigures[]): FlushFigures {
  return {
    seriesPerSec: median(rounds.map((r) => n / (r.wallMs / 1000))),
    cpuUsPerSeries: median(rounds.map((r) => r.cpuUs / n)),
    loopP99Ms: median(rounds.map((r) => r.loopP99Ms)),
  };
}

/** One way of writing N series, a round at a time, so that the two ways can take turns. */
interface Writer {
  round(): Promise<LoopFigures>;
  close(): Promise<void>;
}

async function bareWriter(redis: Redis, n: number): Promise<Writer> {
  const sha = await loadBulkScript(redis);
  const fields = labelKeys(n);
  const key = `bare:${n}`;
  return {
    round: () =>
      underLoopMonitor(async () => {
        for (let from = 0; from < n; from += CHUNK) await sendBulk(redis, sha, key, fields, from, Math.min(n, from + CHUNK));
      }),
    close: async () => {},
  };
}

async function subjectWriter(subject: SubjectModule, server: RedisServer, redis: Redis, n: number): Promise<Writer> {
  const keyPrefix = `perf-flush-${n}`;
  const storage = await openManager(subject, { url: server.url, keyPrefix, flushIntervalMs: 3_600_000 });
  const counter = new subject.Counter({ name: `flush_counter_${n}`, help: 'flush benchmark', labelNames: ['id'], storage });
  // A native histogram family next to the counters: n / 100 series, ten buckets each dirty per round.
  const native = new subject.Histogram({ name: `flush_native_${n}`, help: 'flush benchmark', labelNames: ['id'], buckets: [], nativeHistogramBucketFactor: 1.1, storage });
  const labels = Array.from({ length: n }, (_, i) => ({ id: String(i) }));
  return {
    round: async () => {
      for (let i = 0; i < n; i++) counter.inc(labels[i]!, 1 + (i % 7) * 0.5);
      for (let i = 0; i < n / 100; i++) for (let b = 0; b < 10; b++) native.observe(labels[i]!, 0.001 * 1.5 ** b);
      return underLoopMonitor(() => storage.flush());
    },
    close: async () => {
      await storage.shutdown();
      // A flush that wrote nothing, or dropped series, would look fast: check that every series is
      // in some hash under the prefix (the cluster hash holds one field per counter series).
      let widest = 0;
      for (const key of await redis.keys(`${keyPrefix}:*`)) {
        if ((await redis.type(key)) === 'hash') widest = Math.max(widest, await redis.hlen(key));
      }
      if (widest < n) throw new Error(`after flush() the widest hash under ${keyPrefix}: has ${widest} fields, expected >= ${n} series`);
    },
  };
}

/** The writers take turns, round by round (order alternating), after untimed warm-up rounds. */
async function interleaved(n: number, writers: readonly Writer[]): Promise<FlushFigures[]> {
  const rounds: LoopFigures[][] = writers.map(() => []);
  try {
    for (let r = 0; r < WARMUP_ROUNDS + ROUNDS; r++) {
      const order = writers.map((_, i) => i);
      if (r % 2 === 1) order.reverse();
      for (const i of order) {
        const figures = await writers[i]!.round();
        if (r >= WARMUP_ROUNDS) rounds[i]!.push(figures);
      }
    }
  } finally {
    for (const w of writers) await w.close();
  }
  return rounds.map((r) => summarizeRounds(n, r));
}

async function run(context: SectionContext) {
  return withRedis(async (server) => {
    const redis = new Redis(server.port, '127.0.0.1');
    try {
      const benchOps = await redisBenchmarkOpsPerSec(server.port);
      context.log(`redis-benchmark -P 64 HINCRBYFLOAT: ${formatNumber(benchOps)} ops/s`);
      const idle = await underLoopMonitor(() => sleep(500));
      context.log(`idle event loop p99: ${formatNumber(idle.loopP99Ms)} ms`);

      const bench = { label: 'redis-benchmark -P 64 HINCRBYFLOAT', value: benchOps };
      const rows: Row[] = [];
      for (const n of SIZES) {
        const writers = [await bareWriter(redis, n)];
        if (context.subject.subject !== null) writers.push(await subjectWriter(context.subject.subject, server, redis, n));
        const [bare, mine = null] = (await interleaved(n, writers)) as [FlushFigures, FlushFigures?];
        context.log(
          `bare EVALSHA chunks, ${n} series: ${formatNumber(bare.seriesPerSec)} series/s, ${formatNumber(bare.cpuUsPerSeries)} µs CPU/series, loop p99 ${formatNumber(bare.loopP99Ms)} ms`,
        );
        if (mine !== null) {
          context.log(
            `subject flush, ${n} series: ${formatNumber(mine.seriesPerSec)} series/s, ${formatNumber(mine.cpuUsPerSeries)} µs CPU/series, loop p99 ${formatNumber(mine.loopP99Ms)} ms`,
          );
        }
        const k = `${n / 1000}k`;
        const subjectLabel = `subject flush() of ${k} dirty series`;
        const bareLabel = `bare EVALSHA chunks of ${CHUNK}, ${k} series`;
        rows.push(
          { unit: 'series/s', better: 'higher', figure: { label: subjectLabel, value: mine?.seriesPerSec ?? null }, baseline: bench },
          { unit: 'series/s', better: 'higher', figure: { label: subjectLabel, value: mine?.seriesPerSec ?? null }, baseline: { label: bareLabel, value: bare.seriesPerSec } },
          { unit: 'client CPU µs/series', better: 'lower', figure: { label: subjectLabel, value: mine?.cpuUsPerSeries ?? null }, baseline: { label: bareLabel, value: bare.cpuUsPerSeries } },
          { unit: 'ms event-loop p99', better: 'lower', figure: { label: subjectLabel, value: mine?.loopP99Ms ?? null }, baseline: { label: bareLabel, value: bare.loopP99Ms } },
          { unit: 'series/s', better: 'higher', figure: { label: bareLabel, value: bare.seriesPerSec }, baseline: bench },
          { unit: 'ms event-loop p99', better: 'lower', figure: { label: bareLabel, value: bare.loopP99Ms }, baseline: { label: 'idle process (sleep 500 ms)', value: idle.loopP99Ms } },
        );
      }
      rows.push({ unit: 'ops/s', better: 'higher', figure: bench, baseline: null });
      return {
        rows,
        notes: [
          `Median of ${ROUNDS} rounds after ${WARMUP_ROUNDS} untimed round (it creates the keys and warms the JIT, as the first flushes of a long-lived process do); the subject's and the bare baseline's rounds take turns, order alternating. A subject round makes every series dirty (Counter.inc per label set, not timed) and then times one awaited flush. Client CPU is process.cpuUsage() over the flush, so it includes GC and JIT threads.`,
          'Event-loop delay: perf_hooks.monitorEventLoopDelay at 1 ms resolution, enabled only around the flush; a value includes the 1 ms timer interval, hence ~1 ms when idle.',
          'The subject\'s rounds also flush a native histogram family (`nativeHistogramBucketFactor: 1.1`, N / 100 series with ten buckets dirty each, so ~0.12 N more fields: buckets, sum, count, +Inf); the figures per series still divide by N, the counters.',
          `The bare baseline sends the same N fields (\`["<i>"]\`) as sequential awaited EVALSHA calls of ${CHUNK} field/delta pairs, arguments built per call.`,
        ],
      };
    } finally {
      redis.disconnect();
    }
  });
}

export const flush: Section = { id: 'flush', title: 'Flush: N dirty series written to Redis', run };
