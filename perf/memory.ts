// memory: bytes per series in the process (heapUsed difference after a full GC, one fresh process
// per store) and, for the subject, in Redis (used_memory difference and MEMORY USAGE of its keys).
import { Redis } from 'ioredis';
import { labelKeys, loadBulkScript, sendBulk } from './lib/bulk.js';
import { formatNumber } from './lib/format.js';
import { runScript, script } from './lib/proc.js';
import { withRedis } from './lib/redis.js';
import type { Row } from './lib/results.js';
import type { Section, SectionContext } from './lib/section.js';

const SERIES = 100_000;

interface Probe {
  readonly bytesPerSeries: number;
  readonly bytesPerSeriesAfterFlush?: number;
}

function probe(mode: string, extra: string[] = []): Promise<Probe> {
  return runScript<Probe>(script('memory-probe.js'), [mode, String(SERIES), ...extra], 180_000, ['--expose-gc']);
}

async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  const match = /used_memory:(\d+)/.exec(info);
  if (match?.[1] === undefined) throw new Error('INFO memory has no used_memory');
  return Number(match[1]);
}

/** Sum of MEMORY USAGE (exact, SAMPLES 0) over the keys matching `pattern`. */
async function keysBytes(redis: Redis, pattern: string): Promise<number> {
  let total = 0;
  for (const key of await redis.keys(pattern)) total += Number(await redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0'));
  return total;
}

async function run(context: SectionContext) {
  const map = await probe('map');
  context.log(`Map<string, number>, ${SERIES} keys: ${formatNumber(map.bytesPerSeries)} B/series`);
  const prom = await probe('prom-client');
  context.log(`prom-client Counter, ${SERIES} series: ${formatNumber(prom.bytesPerSeries)} B/series`);

  const redisFigures = await withRedis(async (server) => {
    const redis = new Redis(server.port, '127.0.0.1');
    try {
      const sha = await loadBulkScript(redis);
      const fields = labelKeys(SERIES);
      const start = await usedMemory(redis);
      for (let from = 0; from < SERIES; from += 1000) await sendBulk(redis, sha, 'bare:hash', fields, from, from + 1000);
      const bareUsed = (await usedMemory(redis)) - start;
      const bareKey = await keysBytes(redis, 'bare:*');
      context.log(`bare hash of ${SERIES} fields: ${formatNumber(bareUsed / SERIES)} B/series used_memory, ${formatNumber(bareKey / SERIES)} B/series MEMORY USAGE`);
      let subject: { heap: Probe; used: number; keys: number } | null = null;
      if (context.subject.subject !== null) {
        const before = await usedMemory(redis);
        const heap = await probe('subject', [server.url, 'perf-memory']);
        const used = (await usedMemory(redis)) - before;
        const keys = await keysBytes(redis, 'perf-memory:*');
        subject = { heap, used, keys };
        context.log(
          `subject Counter, ${SERIES} series: ${formatNumber(heap.bytesPerSeries)} B/series heap (${formatNumber(heap.bytesPerSeriesAfterFlush ?? Number.NaN)} after flush), ${formatNumber(used / SERIES)} B/series used_memory, ${formatNumber(keys / SERIES)} B/series MEMORY USAGE`,
        );
      }
      return { bareUsed, bareKey, subject };
    } finally {
      redis.disconnect();
    }
  });

  const s = redisFigures.subject;
  const perSeries = (bytes: number | undefined) => (bytes === undefined ? null : bytes / SERIES);
  const heap = { unit: 'B/series heap', better: 'lower' as const };
  const inRedis = { unit: 'B/series in Redis', better: 'lower' as const };
  const rows: Row[] = [
    { ...heap, figure: { label: 'subject Counter, before flush', value: s?.heap.bytesPerSeries ?? null }, baseline: { label: 'prom-client Counter', value: prom.bytesPerSeries } },
    { ...heap, figure: { label: 'subject Counter, after flush', value: s?.heap.bytesPerSeriesAfterFlush ?? null }, baseline: { label: 'prom-client Counter', value: prom.bytesPerSeries } },
    { ...heap, figure: { label: 'prom-client Counter', value: prom.bytesPerSeries }, baseline: { label: 'Map<JSON label key, number>', value: map.bytesPerSeries } },
    { ...heap, figure: { label: 'Map<JSON label key, number>', value: map.bytesPerSeries }, baseline: null },
    { ...inRedis, figure: { label: 'subject, used_memory difference', value: perSeries(s?.used) }, baseline: { label: 'bare hash, used_memory difference', value: redisFigures.bareUsed / SERIES } },
    { ...inRedis, figure: { label: 'subject, MEMORY USAGE of its keys', value: perSeries(s?.keys) }, baseline: { label: 'bare hash, MEMORY USAGE', value: redisFigures.bareKey / SERIES } },
  ];
  return {
    rows,
    notes: [
      `${SERIES.toLocaleString('en-US')} counter series with one label \`id\`, each in a fresh \`node --expose-gc\` process; heapUsed after three full GCs 20 ms apart, the label value strings made before the first reading; the subject's manager is created before the first reading too (its fixed cost is not per series).`,
      `Redis baseline: one hash with the same ${SERIES.toLocaleString('en-US')} fields (\`["<i>"]\`) written by HINCRBYFLOAT, the least the subject's cluster hash can take. MEMORY USAGE with SAMPLES 0 (exact).`,
    ],
  };
}

export const memory: Section = { id: 'memory', title: 'Memory per series', run };
