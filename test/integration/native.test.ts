// Native histograms across processes over a real Redis: three writers with different bucket
// factors, zero thresholds and budgets (one halving its resolution between flushes), the reader's
// own unflushed observations, a Redis that loses everything; each scrape's merged native histogram
// equals brute force over every observation, exactly. Exemplars and _created alongside.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Histogram, RedisStorageManager } from '../../src/index.js';
import { familyHash } from '../../src/store/family.js';
import { startRedis, newPrefix, type RedisServer } from '../helpers/redis-server.js';
import { decodeDelimited } from '../helpers/metrics-proto.js';
import { exactIndex, randomValues, rng } from '../helpers/native-oracle.js';

interface Span { offset?: number; length?: number }
interface ProtoHistogram {
  sampleCount: number; sampleSum: number; schema: number; zeroThreshold: number; zeroCount: number;
  positiveSpan?: Span[]; positiveDelta?: number[]; negativeSpan?: Span[]; negativeDelta?: number[];
  bucket?: Array<{ cumulativeCount?: number; upperBound: number; exemplar?: unknown }>;
  exemplars?: unknown[];
  createdTimestamp?: { seconds: number; nanos?: number };
}

/** The buckets of one side, decoded from spans and deltas, as sorted [index, count] pairs. */
function side(spans: Span[] = [], deltas: number[] = []): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let index = 0;
  let at = 0;
  let count = 0;
  spans.forEach((s, i) => {
    index = i === 0 ? (s.offset ?? 0) : index + (s.offset ?? 0);
    for (let j = 0; j < (s.length ?? 0); j++, index++) {
      count += deltas[at++]!;
      if (count !== 0) out.push([index, count]);
    }
  });
  return out;
}

/** What a histogram at (schema, zeroThreshold) holds for these observations, one by one (exact oracle). */
function bruteForce(values: readonly number[], schema: number, zeroThreshold: number) {
  const pos = new Map<number, number>();
  const neg = new Map<number, number>();
  let zero = 0;
  for (const v of values) {
    if (Math.abs(v) <= zeroThreshold) zero++;
    else {
      const m = v > 0 ? pos : neg;
      const k = exactIndex(Math.abs(v), schema);
      m.set(k, (m.get(k) ?? 0) + 1);
    }
  }
  const sorted = (m: Map<number, number>) => [...m].sort((a, b) => a[0] - b[0]);
  return { zeroCount: zero, positive: sorted(pos), negative: sorted(neg) };
}

describe('native histograms across processes', () => {
  let redis: RedisServer;
  const managers: RedisStorageManager[] = [];
  const prefix = newPrefix('native');
  const make = (pid: number) => {
    const m = new RedisStorageManager({ enabled: true, url: redis.url, keyPrefix: prefix, flushIntervalMs: 3_600_000, exitHooks: false, identity: { host: 'h', pid, nonce: 'n' } });
    managers.push(m);
    return m;
  };

  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await Promise.all(managers.map((m) => m.shutdown()));
    await redis?.stop();
  });

  const scrape = async (m: RedisStorageManager, name: string): Promise<ProtoHistogram[]> => {
    const families = decodeDelimited((await m.getCollector().exposition('protobuf')) as Buffer);
    const family = families.find((f) => f.name === name) as { metric: Array<{ histogram: ProtoHistogram }> };
    return family.metric.map((x) => x.histogram);
  };

  it('three writers of different schemas, zero thresholds and budgets merge exactly, through a resolution cut and a Redis that lost everything', async () => {
    const random = rng(2024);
    // factor 1.1 -> schema 3, 1.5 -> 1, 1.02 -> 5 (with a small budget: it halves under load).
    const settings = [
      { nativeHistogramBucketFactor: 1.1 },
      { nativeHistogramBucketFactor: 1.5, nativeHistogramZeroThreshold: 0.001 },
      { nativeHistogramBucketFactor: 1.02, nativeHistogramMaxBucketNumber: 12, nativeHistogramZeroThreshold: 0.01 },
    ];
    const writers = settings.map((s, i) => {
      const storage = make(i + 1);
      return { storage, h: new Histogram({ name: 'rpc_seconds', help: 'RPC.', buckets: [], ...s, storage, registers: [] }) };
    });
    const all: number[] = [];
    let sum = 0;
    const observe = (w: (typeof writers)[number], n: number) => {
      for (const v of randomValues(random, n)) {
        // Finite values only (Prometheus' sum would overflow to Inf with the huge ones).
        const x = Math.abs(v) > 1e200 ? v / 1e200 : v;
        w.h.observe(x);
        all.push(x);
        sum += x;
      }
    };
    const check = async (label: string) => {
      const [h] = await scrape(writers[0]!.storage, 'rpc_seconds');
      assert.equal(h!.sampleCount, all.length, label);
      assert.ok(Math.abs(h!.sampleSum - sum) <= Math.abs(sum) * 1e-12, `${label}: sum ${h!.sampleSum} vs ${sum}`);
      assert.deepEqual({ zeroCount: h!.zeroCount, positive: side(h!.positiveSpan, h!.positiveDelta), negative: side(h!.negativeSpan, h!.negativeDelta) }, bruteForce(all, h!.schema, h!.zeroThreshold), label);
      return h!;
    };
    for (const w of writers) {
      await w.storage.waitUntilConnected();
      observe(w, 150);
      await w.storage.flush();
    }
    const first = await check('all flushed');
    // Budget 12 at schema 5 cannot hold these values: that writer went down to a coarser schema.
    assert.ok(first.schema < 1, `schema ${first.schema}`);
    assert.ok(first.zeroThreshold >= 0.01);
    // More observations; the reader's stay unflushed (read from its memory), the others flush.
    for (const w of writers) observe(w, 100);
    await writers[1]!.storage.flush();
    await writers[2]!.storage.flush();
    await check('reader unflushed');
    // Redis loses everything: every writer re-sends its whole state at its current schema.
    await redis.cli('FLUSHALL');
    for (const w of writers) await w.storage.flush();
    for (const w of writers) await w.storage.flush();
    await check('after the loss');
  });

  it('classic buckets kept next to native ones; the text formats show the classic ones, native-only shows +Inf, sum, count', async () => {
    const storage = make(10);
    await storage.waitUntilConnected();
    const both = new Histogram({ name: 'both_seconds', help: 'Both.', buckets: [0.5, 1], nativeHistogramBucketFactor: 2, storage, registers: [] });
    const only = new Histogram({ name: 'only_seconds', help: 'Only.', labelNames: ['route'], buckets: [], nativeHistogramBucketFactor: 2, storage, registers: [] });
    for (const v of [0.25, 0.75, 3]) both.observe(v);
    only.observe({ route: '/a' }, 2);
    await storage.flush();
    const text = (await storage.getCollector().exposition('text')) as string;
    assert.ok(text.includes([
      '# HELP both_seconds Both.', '# TYPE both_seconds histogram',
      'both_seconds_bucket{le="0.5"} 1', 'both_seconds_bucket{le="1"} 2', 'both_seconds_bucket{le="+Inf"} 3', 'both_seconds_sum 4', 'both_seconds_count 3', '',
      '# HELP only_seconds Only.', '# TYPE only_seconds histogram',
      'only_seconds_bucket{le="+Inf",route="/a"} 1', 'only_seconds_sum{route="/a"} 2', 'only_seconds_count{route="/a"} 1', '',
    ].join('\n')), text);
    const [b] = await scrape(storage, 'both_seconds');
    const { createdTimestamp, ...rest } = b!;
    assert.ok(createdTimestamp!.seconds > 1.7e9);
    // Schema 0: 0.25 in (0.125, 0.25] = bucket -2, 0.75 in (0.5, 1] = 0, 3 in (2, 4] = 2.
    assert.deepEqual(rest, {
      sampleCount: 3, sampleSum: 4,
      bucket: [{ cumulativeCount: 1, upperBound: 0.5 }, { cumulativeCount: 2, upperBound: 1 }],
      schema: 0, zeroThreshold: 2 ** -128, zeroCount: 0,
      positiveSpan: [{ offset: -2, length: 5 }], positiveDelta: [1, -1, 1, -1, 1],
    });
  });

  it('exemplars of native histograms: the latest of any process, in protobuf and on the OpenMetrics +Inf bucket', async () => {
    const a = make(20);
    const b = make(21);
    const options = { name: 'ex_seconds', help: 'Ex.', buckets: [], nativeHistogramBucketFactor: 1.1, enableExemplars: true, registers: [] };
    const ha = new Histogram({ ...options, storage: a });
    const hb = new Histogram({ ...options, storage: b });
    await a.waitUntilConnected();
    await b.waitUntilConnected();
    ha.observe({ value: 0.2, exemplarLabels: { traceId: 'old' } });
    await a.flush();
    // Later (a timestamp strictly after the first), in the other process, not flushed by the reader.
    const later = Date.now() + 1;
    while (Date.now() < later);
    hb.observe({ value: 0.4, exemplarLabels: { traceId: 'new' } });
    await b.flush();
    const key = `${prefix}:histogram:cluster:exemplar:{${familyHash('ex_seconds')}}`;
    const stored = await redis.cli('HGET', key, '[]#+Inf');
    const ts = Number(stored.split('|')[0]);
    const exemplar = { label: [{ name: 'traceId', value: 'new' }], value: 0.4, timestamp: { seconds: Math.floor(ts), nanos: Math.round((ts * 1000) % 1000) * 1e6 } };
    const [h] = await scrape(a, 'ex_seconds');
    assert.deepEqual([h!.bucket, h!.exemplars], [[{ cumulativeCount: 2, upperBound: Infinity, exemplar }], [exemplar]]);
    const om = (await a.getCollector().exposition('openmetrics')) as string;
    assert.match(om, new RegExp(`^ex_seconds_bucket\\{le="\\+Inf"\\} 2 # \\{traceId="new"\\} 0\\.4 ${ts}$`, 'm'));
  });

  it('_created: the first creation flushed, kept when a worker restarts and makes the series again', async () => {
    const first = make(30);
    await first.waitUntilConnected();
    new Histogram({ name: 'cr_seconds', help: 'Cr.', buckets: [1], nativeHistogramBucketFactor: 1.1, storage: first, registers: [] }).observe(1);
    await first.flush();
    const key = `${prefix}:histogram:cluster:created:{${familyHash('cr_seconds')}}`;
    const createdMs = Number(await redis.cli('HGET', key, '[]'));
    await first.shutdown();
    const wait = Date.now() + 5;
    while (Date.now() < wait);
    // The restarted worker: a new process life, the same series.
    const again = make(31);
    await again.waitUntilConnected();
    new Histogram({ name: 'cr_seconds', help: 'Cr.', buckets: [1], nativeHistogramBucketFactor: 1.1, storage: again, registers: [] }).observe(2);
    await again.flush();
    assert.equal(Number(await redis.cli('HGET', key, '[]')), createdMs);
    const om = (await again.getCollector().exposition('openmetrics')) as string;
    assert.match(om, new RegExp(`^cr_seconds_count 2\\ncr_seconds_created ${createdMs / 1000}$`, 'm'));
  });

  it('bad native options are refused at once, naming the option and the value', () => {
    const storage = make(40);
    const base = { name: 'bad_seconds', help: 'Bad.', storage, registers: [] };
    const messages = [
      { nativeHistogramBucketFactor: 1 },
      { nativeHistogramBucketFactor: Number.NaN },
      { nativeHistogramBucketFactor: 1.1, nativeHistogramMaxBucketNumber: -1 },
      { nativeHistogramBucketFactor: 1.1, nativeHistogramMaxBucketNumber: 2.5 },
      { nativeHistogramBucketFactor: 1.1, nativeHistogramZeroThreshold: -0.1 },
      { nativeHistogramZeroThreshold: 0.1 },
      { buckets: [] },
    ].map((o) => {
      try {
        new Histogram({ ...base, ...o });
        return 'accepted';
      } catch (error) {
        return `${(error as { code: string }).code}: ${(error as Error).message}`;
      }
    });
    assert.deepEqual(messages, [
      'ERR_PCR_INVALID_METRIC: Expected `nativeHistogramBucketFactor` of histogram `bad_seconds` to be a finite number > 1, got `1` (number)',
      'ERR_PCR_INVALID_METRIC: Expected `nativeHistogramBucketFactor` of histogram `bad_seconds` to be a finite number > 1, got `NaN` (number)',
      'ERR_PCR_INVALID_METRIC: Expected `nativeHistogramMaxBucketNumber` of histogram `bad_seconds` to be an integer >= 0, got `-1` (number)',
      'ERR_PCR_INVALID_METRIC: Expected `nativeHistogramMaxBucketNumber` of histogram `bad_seconds` to be an integer >= 0, got `2.5` (number)',
      'ERR_PCR_INVALID_METRIC: Expected `nativeHistogramZeroThreshold` of histogram `bad_seconds` to be a finite number >= 0, got `-0.1` (number)',
      'ERR_PCR_INVALID_METRIC: `nativeHistogramZeroThreshold` of histogram `bad_seconds` needs `nativeHistogramBucketFactor`',
      'ERR_PCR_INVALID_METRIC: Invalid buckets for histogram `bad_seconds`: expected a non-empty array of increasing finite numbers, got `[]` (array)',
    ]);
  });
});
