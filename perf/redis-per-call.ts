// redis-per-call: the reference design writes every update to Redis as it happens (one awaited
// HINCRBYFLOAT per request). This section measures that, the batched alternatives, and the
// server's own limit, all against one fresh redis-server.
import { Redis } from 'ioredis';
import { evalshaRounds, pipelineRounds } from './lib/bulk.js';
import { formatNumber } from './lib/format.js';
import { redisBenchmarkOpsPerSec, withRedis } from './lib/redis.js';
import type { Row } from './lib/results.js';
import type { Section, SectionContext } from './lib/section.js';
import { latencyHistogram, summarize, type LatencySummary } from './lib/stats.js';

const PER_CALL_MS = 4000;
const SLICE_MS = 250;
const BATCH = 1000;
const BATCH_ROUNDS = 30;

interface AwaitedFigures {
  readonly opsPerSec: number;
  readonly latency: LatencySummary;
}

/**
 * Awaited calls one after another: ops/s and the latency distribution of each call kind. The kinds
 * alternate in slices of SLICE_MS, so that both see the same machine conditions (on 2 cores, the
 * scheduling of client and server shifts latency by 2x from one second to the next).
 */
async function awaitedLoops(calls: ReadonlyArray<(i: number) => Promise<unknown>>, totalMs: number): Promise<AwaitedFigures[]> {
  for (const call of calls) for (let i = 0; i < 2000; i++) await call(i); // warm-up
  const state = calls.map(() => ({ histogram: latencyHistogram(), count: 0, ns: 0 }));
  const slices = Math.max(1, Math.round(totalMs / calls.length / SLICE_MS));
  for (let s = 0; s < slices; s++) {
    for (const [k, call] of calls.entries()) {
      const st = state[k] as (typeof state)[number];
      const start = process.hrtime.bigint();
      const end = start + BigInt(SLICE_MS) * 1_000_000n;
      let now = start;
      while (now < end) {
        const t0 = process.hrtime.bigint();
        await call(st.count);
        now = process.hrtime.bigint();
        st.histogram.recordValue(Number(now - t0));
        st.count++;
      }
      st.ns += Number(now - start);
    }
  }
  return state.map((st) => ({ opsPerSec: st.count / (st.ns / 1e9), latency: summarize(st.histogram) }));
}

async function run(context: SectionContext) {
  return withRedis(async (server) => {
    const redis = new Redis(server.port, '127.0.0.1', { lazyConnect: true });
    await redis.connect();
    try {
      const [ping, perCall] = (await awaitedLoops(
        [() => redis.ping(), (i) => redis.hincrbyfloat('percall', `["${i & 1023}"]`, 1)],
        PER_CALL_MS,
      )) as [AwaitedFigures, AwaitedFigures];
      context.log(`awaited PING: p50 ${formatNumber(ping.latency.p50Us)} µs, p99 ${formatNumber(ping.latency.p99Us)} µs`);
      context.log(
        `awaited HINCRBYFLOAT: ${formatNumber(perCall.opsPerSec)} ops/s, p50 ${formatNumber(perCall.latency.p50Us)} µs, p99 ${formatNumber(perCall.latency.p99Us)} µs`,
      );

      const pipeline = await pipelineRounds(redis, 'pipelined', BATCH, BATCH_ROUNDS);
      context.log(`pipeline of ${BATCH}: ${formatNumber(pipeline.updatesPerSec)} updates/s, ${formatNumber(pipeline.cpuUsPerUpdate)} µs CPU/update`);

      const evalsha = await evalshaRounds(redis, 'scripted', BATCH, BATCH_ROUNDS);
      context.log(`EVALSHA of ${BATCH}: ${formatNumber(evalsha.updatesPerSec)} updates/s, ${formatNumber(evalsha.cpuUsPerUpdate)} µs CPU/update`);

      const server64 = await redisBenchmarkOpsPerSec(server.port);
      context.log(`redis-benchmark -P 64 HINCRBYFLOAT: ${formatNumber(server64)} ops/s`);

      const bench = { label: 'redis-benchmark -P 64 HINCRBYFLOAT', value: server64 };
      const rows: Row[] = [
        { unit: 'ops/s', better: 'higher', figure: { label: 'awaited HINCRBYFLOAT per call', value: perCall.opsPerSec }, baseline: bench },
        { unit: 'µs p50', better: 'lower', figure: { label: 'awaited HINCRBYFLOAT per call', value: perCall.latency.p50Us }, baseline: { label: 'awaited PING', value: ping.latency.p50Us } },
        { unit: 'µs p99', better: 'lower', figure: { label: 'awaited HINCRBYFLOAT per call', value: perCall.latency.p99Us }, baseline: { label: 'awaited PING', value: ping.latency.p99Us } },
        { unit: 'updates/s', better: 'higher', figure: { label: `pipeline() of ${BATCH} HINCRBYFLOAT`, value: pipeline.updatesPerSec }, baseline: bench },
        { unit: 'updates/s', better: 'higher', figure: { label: `one EVALSHA of ${BATCH} field/delta pairs`, value: evalsha.updatesPerSec }, baseline: bench },
        { unit: 'client CPU µs/update', better: 'lower', figure: { label: `one EVALSHA of ${BATCH} field/delta pairs`, value: evalsha.cpuUsPerUpdate }, baseline: { label: `pipeline() of ${BATCH} HINCRBYFLOAT`, value: pipeline.cpuUsPerUpdate } },
        { unit: 'ops/s', better: 'higher', figure: bench, baseline: null },
      ];
      return {
        rows,
        notes: [
          `Awaited PING and HINCRBYFLOAT alternate in ${SLICE_MS} ms slices for ${PER_CALL_MS / 1000} s in all, after 2,000 warm-up calls each; latencies from an HDR histogram in ns.`,
          `Batches: median of ${BATCH_ROUNDS} rounds after one warm-up round; client CPU from process.cpuUsage() (user + system) over the round.`,
          'On this 2-core machine the per-call latency moves between runs (about 10 µs or 20 µs p50, depending on where client and server are scheduled); compare the ratio to PING, measured interleaved.',
          'redis-benchmark runs `-P 64 -n 200000 -q HINCRBYFLOAT bench:k f 1` with its default 50 connections; on 2 cores it competes with redis-server for CPU.',
        ],
      };
    } finally {
      redis.disconnect();
    }
  });
}

export const redisPerCall: Section = {
  id: 'redis-per-call',
  title: 'Redis per call: one write per update, and the server limit',
  run,
};
