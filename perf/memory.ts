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
const HISTOGRAM_SERIES = 20_000;
type Kind = 'counter' | 'gauge' | 'histogram' | 'summary';
const seriesOf = (kind: Kind) => (kind === 'counter' || kind === 'gauge' ? SERIES : HISTOGRAM_SERIES);
const TYPE_NAME: Record<Kind, string> = { counter: 'Counter', gauge: 'Gauge', histogram: 'Histogram', summary: 'Summary' };

interface Probe {
  readonly bytesPerSeries: number;
  readonly bytesPerSeriesAfterFlush?: number;
}

function probe(mode: string, kind: Kind, extra: string[] = []): Promise<Probe> {
  const n = seriesOf(kind);
  return runScript<Probe>(script('memory-probe.js'), [mode, kind, String(n), ...extra], 180_000, ['--expose-gc']);
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
  const map = await probe('map', 'counter');
  context.log(`Map<string, number>, ${SERIES} keys: ${formatNumber(map.bytesPerSeries)} B/series`);
  const prom = await probe('prom-client', 'counter');
  context.log(`prom-client Counter, ${SERIES} series: ${formatNumber(prom.bytesPerSeries)} B/series`);
  const promHistogram = await probe('prom-client', 'histogram');
  context.log(`prom-client Histogram, ${HISTOGRAM_SERIES} series: ${formatNumber(promHistogram.bytesPerSeries)} B/series`);
  const promGauge = await probe('prom-client', 'gauge');
  const promSummary = await probe('prom-client', 'summary');
  context.log(`prom-client Gauge ${formatNumber(promGauge.bytesPerSeries)}, Summary ${formatNumber(promSummary.bytesPerSeries)} B/series`);

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
      const subjects = new Map<Kind, { heap: Probe; used: number; keys: number }>();
      if (context.subject.subject !== null) {
        for (const kind of ['counter', 'gauge', 'histogram', 'summary'] as const) {
          const prefix = `perf-memory-${kind}`;
          const before = await usedMemory(redis);
          const heap = await probe('subject', kind, [server.url, prefix]);
          const used = (await usedMemory(redis)) - before;
          const keys = await keysBytes(redis, `${prefix}:*`);
          subjects.set(kind, { heap, used, keys });
          const n = seriesOf(kind);
          context.log(
            `subject ${kind}, ${n} series: ${formatNumber(heap.bytesPerSeries)} B/series in the process (${formatNumber(heap.bytesPerSeriesAfterFlush ?? Number.NaN)} after flush), ${formatNumber(used / n)} B/series used_memory, ${formatNumber(keys / n)} B/series MEMORY USAGE`,
          );
        }
      }
      return { bareUsed, bareKey, subjects };
    } finally {
      redis.disconnect();
    }
  });

  const c = redisFigures.subjects.get('counter');
  const h = redisFigures.subjects.get('histogram');
  const g = redisFigures.subjects.get('gauge');
  const sm = redisFigures.subjects.get('summary');
  const per = (bytes: number | undefined, n: number) => (bytes === undefined ? null : bytes / n);
  const heap = { unit: 'B/series in the process', better: 'lower' as const };
  const inRedis = { unit: 'B/series in Redis', better: 'lower' as const };
  const rows: Row[] = [
    { ...heap, figure: { label: 'subject Counter, before flush', value: c?.heap.bytesPerSeries ?? null }, baseline: { label: 'prom-client Counter', value: prom.bytesPerSeries } },
    { ...heap, figure: { label: 'subject Counter, after flush', value: c?.heap.bytesPerSeriesAfterFlush ?? null }, baseline: { label: 'prom-client Counter', value: prom.bytesPerSeries } },
    { ...heap, figure: { label: 'subject Histogram, before flush', value: h?.heap.bytesPerSeries ?? null }, baseline: { label: 'prom-client Histogram', value: promHistogram.bytesPerSeries } },
    { ...heap, figure: { label: 'subject Histogram, after flush', value: h?.heap.bytesPerSeriesAfterFlush ?? null }, baseline: { label: 'prom-client Histogram', value: promHistogram.bytesPerSeries } },
    { ...heap, figure: { label: 'subject Gauge, before flush', value: g?.heap.bytesPerSeries ?? null }, baseline: { label: 'prom-client Gauge', value: promGauge.bytesPerSeries } },
    { ...heap, figure: { label: 'subject Summary, before flush', value: sm?.heap.bytesPerSeries ?? null }, baseline: { label: 'prom-client Summary', value: promSummary.bytesPerSeries } },
    { ...heap, figure: { label: 'prom-client Counter', value: prom.bytesPerSeries }, baseline: { label: 'Map<JSON label key, number>', value: map.bytesPerSeries } },
    { ...heap, figure: { label: 'Map<JSON label key, number>', value: map.bytesPerSeries }, baseline: null },
    { ...inRedis, figure: { label: 'subject Counter, used_memory difference', value: per(c?.used, SERIES) }, baseline: { label: 'bare hash, used_memory difference', value: redisFigures.bareUsed / SERIES } },
    { ...inRedis, figure: { label: 'subject Counter, MEMORY USAGE of its keys', value: per(c?.keys, SERIES) }, baseline: { label: 'bare hash, MEMORY USAGE', value: redisFigures.bareKey / SERIES } },
    { ...inRedis, figure: { label: 'subject Histogram, MEMORY USAGE of its keys', value: per(h?.keys, HISTOGRAM_SERIES) }, baseline: { label: 'bare hash, MEMORY USAGE', value: redisFigures.bareKey / SERIES } },
    { ...inRedis, figure: { label: 'subject Gauge, MEMORY USAGE of its keys', value: per(g?.keys, SERIES) }, baseline: { label: 'bare hash, MEMORY USAGE', value: redisFigures.bareKey / SERIES } },
    { ...inRedis, figure: { label: 'subject Summary, MEMORY USAGE of its keys', value: per(sm?.keys, HISTOGRAM_SERIES) }, baseline: { label: 'bare hash, MEMORY USAGE', value: redisFigures.bareKey / SERIES } },
    ...(['counter', 'gauge', 'histogram', 'summary'] as const).map((kind): Row => {
      const s = redisFigures.subjects.get(kind);
      return { ...inRedis, figure: { label: `subject ${TYPE_NAME[kind]}, used_memory difference`, value: per(s?.used, seriesOf(kind)) }, baseline: { label: 'bare hash, used_memory difference', value: redisFigures.bareUsed / SERIES } };
    }).filter((row) => row.figure.label !== 'subject Counter, used_memory difference'),
  ];
  return {
    rows,
    notes: [
      `${SERIES.toLocaleString('en-US')} counter or gauge series (gauges in the default \`sum\` mode: one field per series and process), or ${HISTOGRAM_SERIES.toLocaleString('en-US')} histogram series (default buckets) or summary series (default percentiles), one observation each, with one label \`id\`, each store in a fresh \`node --expose-gc\` process; *in the process* = heapUsed + arrayBuffers (typed arrays keep their data outside the heap) after three full GCs 20 ms apart, the label value strings made before the first reading; the subject's manager is created before the first reading too (its fixed cost is not per series).`,
      `Redis baseline: one hash with the same ${SERIES.toLocaleString('en-US')} fields (\`["<i>"]\`) written by HINCRBYFLOAT, the least the subject's cluster hash can take per counter series. A histogram series with one observation is 3 fields in the cluster hash (its bucket, sum, count: buckets never observed are not written). MEMORY USAGE with SAMPLES 0 (exact).`,
    ],
  };
}

export const memory: Section = { id: 'memory', title: 'Memory per series', run };
