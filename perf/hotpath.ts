// hotpath: cost of one metric update in memory. The subject's manager gets an hour-long flush
// interval, so only the in-memory hot path is timed, never a flush.
import * as hdr from 'hdr-histogram-js';
import { Redis } from 'ioredis';
import { Counter, Histogram, Registry, Summary } from 'prom-client';
import { nsPerOpInterleaved, type Loop } from './lib/ns-per-op.js';
import type { Row } from './lib/results.js';
import type { Section, SectionContext } from './lib/section.js';
import { withRedis } from './lib/redis.js';
import { formatNumber } from './lib/format.js';
import { openManager, type SubjectModule } from './subject.js';

const LABEL_NAMES = ['method', 'route', 'status'] as const;
const ROUNDS = 11;
// 16 label sets, cycled with `i & 15`: a realistic handful of series per metric.
const LABELS = Array.from({ length: 16 }, (_, i) => ({
  method: i % 4 === 0 ? 'POST' : 'GET',
  route: `/api/items/${i % 8}`,
  status: i % 5 === 0 ? '500' : '200',
}));
const LABEL_VALUES = LABELS.map((l) => [l.method, l.route, l.status] as [string, string, string]);
const KEYS = LABELS.map((l) => `${l.method}\u0000${l.route}\u0000${l.status}`);

type Cases = Record<string, Loop>;

function baselineCases(): Cases {
  const registry = new Registry();
  const registers = [registry];
  const labelNames = [...LABEL_NAMES];
  const counter = new Counter({ name: 'hot_counter', help: 'h', labelNames, registers });
  const child = new Counter({ name: 'hot_child', help: 'h', labelNames, registers });
  const made = new Counter({ name: 'hot_child_once', help: 'h', labelNames, registers });
  const children = LABEL_VALUES.map((v) => made.labels(...v));
  const histogram = new Histogram({ name: 'hot_histogram', help: 'h', labelNames, registers });
  const summary = new Summary({ name: 'hot_summary', help: 'h', labelNames, registers });
  const builtKeyMap = new Map<string, number>();
  const precomputedMap = new Map<string, number>();
  const recorder = hdr.build({ useWebAssembly: false });

  return {
    'prom-client Counter.inc(labels)': (n) => {
      for (let i = 0; i < n; i++) counter.inc(LABELS[i & 15]!, 1);
      return n;
    },
    'prom-client counter.labels(...).inc()': (n) => {
      for (let i = 0; i < n; i++) {
        const v = LABEL_VALUES[i & 15] as [string, string, string];
        child.labels(v[0], v[1], v[2]).inc();
      }
      return n;
    },
    'prom-client child.inc(), child made once': (n) => {
      for (let i = 0; i < n; i++) children[i & 15]!.inc();
      return n;
    },
    'prom-client Histogram.observe(labels)': (n) => {
      for (let i = 0; i < n; i++) histogram.observe(LABELS[i & 15]!, (i & 1023) * 0.001);
      return n;
    },
    'prom-client Summary.observe(labels)': (n) => {
      for (let i = 0; i < n; i++) summary.observe(LABELS[i & 15]!, (i & 1023) * 0.001);
      return n;
    },
    'Map update, key built per call': (n) => {
      for (let i = 0; i < n; i++) {
        const l = LABELS[i & 15] as (typeof LABELS)[number];
        const key = `${l.method}\u0000${l.route}\u0000${l.status}`;
        builtKeyMap.set(key, (builtKeyMap.get(key) ?? 0) + 1);
      }
      return builtKeyMap.get(KEYS[0] as string) ?? 0;
    },
    'Map update, precomputed key': (n) => {
      for (let i = 0; i < n; i++) {
        const key = KEYS[i & 15] as string;
        precomputedMap.set(key, (precomputedMap.get(key) ?? 0) + 1);
      }
      return precomputedMap.get(KEYS[0] as string) ?? 0;
    },
    'hdr-histogram-js recordValue': (n) => {
      for (let i = 0; i < n; i++) recorder.recordValue((i & 1023) + 1);
      return recorder.totalCount;
    },
  };
}

async function subjectCases(subject: SubjectModule, url: string): Promise<{ cases: Cases; shutdown: () => Promise<void> }> {
  const storage = await openManager(subject, { url, keyPrefix: 'perf-hotpath', flushIntervalMs: 3_600_000 });
  const labelNames = [...LABEL_NAMES];
  const counter = new subject.Counter({ name: 'subject_hot_counter', help: 'h', labelNames, storage });
  const child = new subject.Counter({ name: 'subject_hot_child', help: 'h', labelNames, storage });
  const made = new subject.Counter({ name: 'subject_hot_child_once', help: 'h', labelNames, storage });
  const children = LABEL_VALUES.map((v) => made.labels(...v));
  const histogram = new subject.Histogram({ name: 'subject_hot_histogram', help: 'h', labelNames, storage });
  const native = new subject.Histogram({ name: 'subject_hot_native', help: 'h', labelNames, buckets: [], nativeHistogramBucketFactor: 1.1, storage });
  const both = new subject.Histogram({ name: 'subject_hot_native_classic', help: 'h', labelNames, nativeHistogramBucketFactor: 1.1, storage });
  const summary = new subject.Summary({ name: 'subject_hot_summary', help: 'h', labelNames, storage });
  return {
    shutdown: () => storage.shutdown(),
    cases: {
      'subject Counter.inc(labels)': (n) => {
        for (let i = 0; i < n; i++) counter.inc(LABELS[i & 15]!, 1);
        return n;
      },
      'subject counter.labels(...).inc()': (n) => {
        for (let i = 0; i < n; i++) {
          const v = LABEL_VALUES[i & 15] as [string, string, string];
          child.labels(v[0], v[1], v[2]).inc();
        }
        return n;
      },
      'subject child.inc(), child made once': (n) => {
        for (let i = 0; i < n; i++) children[i & 15]!.inc();
        return n;
      },
      'subject Histogram.observe(labels)': (n) => {
        for (let i = 0; i < n; i++) histogram.observe(LABELS[i & 15]!, (i & 1023) * 0.001);
        return n;
      },
      'subject Summary.observe(labels)': (n) => {
        for (let i = 0; i < n; i++) summary.observe(LABELS[i & 15]!, (i & 1023) * 0.001);
        return n;
      },
      'subject native Histogram.observe(labels)': (n) => {
        for (let i = 0; i < n; i++) native.observe(LABELS[i & 15]!, (i & 1023) * 0.001);
        return n;
      },
      'subject native + classic Histogram.observe(labels)': (n) => {
        for (let i = 0; i < n; i++) both.observe(LABELS[i & 15]!, (i & 1023) * 0.001);
        return n;
      },
    },
  };
}

const PER_CALL = 'awaited ioredis HINCRBYFLOAT, one per update';

/** The reference design's cost of one update: an awaited HINCRBYFLOAT, as ns per call over ~1 s. */
async function redisPerCallNs(url: string): Promise<number> {
  const redis = new Redis(url, { lazyConnect: true });
  await redis.connect();
  try {
    for (let i = 0; i < 2000; i++) await redis.hincrbyfloat('hot:percall', `["${i & 15}"]`, 1);
    const rounds: number[] = [];
    for (let r = 0; r < 5; r++) {
      let calls = 0;
      const start = process.hrtime.bigint();
      const end = start + 200_000_000n;
      let now = start;
      while (now < end) {
        await redis.hincrbyfloat('hot:percall', `["${calls & 15}"]`, 1);
        calls++;
        now = process.hrtime.bigint();
      }
      rounds.push(Number(now - start) / calls);
    }
    return rounds.sort((a, b) => a - b)[2]!;
  } finally {
    redis.disconnect();
  }
}

function measureAll(cases: Cases, context: SectionContext, into: Map<string, number>): void {
  for (const [name, { median }] of nsPerOpInterleaved(new Map(Object.entries(cases)), { rounds: ROUNDS })) {
    into.set(name, median);
    context.log(`${name}: ${formatNumber(median)} ns/op`);
  }
}

async function run(context: SectionContext) {
  const ns = new Map<string, number>();
  const { subject } = context.subject;
  if (subject === null) measureAll(baselineCases(), context, ns);
  else {
    await withRedis(async (server) => {
      const { cases, shutdown } = await subjectCases(subject, server.url);
      try {
        // One pass over both libraries, rounds interleaved: see nsPerOpInterleaved.
        measureAll({ ...baselineCases(), ...cases }, context, ns);
      } finally {
        await shutdown();
      }
      ns.set(PER_CALL, await redisPerCallNs(server.url));
      context.log(`${PER_CALL}: ${formatNumber(ns.get(PER_CALL)!)} ns/op`);
    });
  }

  const fig = (label: string) => ({ label, value: ns.get(label) ?? null });
  const row = (label: string, baseline: string | null): Row => ({
    unit: 'ns/op',
    better: 'lower',
    figure: fig(label),
    baseline: baseline === null ? null : fig(baseline),
  });
  const rows: Row[] = [
    row('subject Counter.inc(labels)', 'prom-client Counter.inc(labels)'),
    row('subject child.inc(), child made once', 'prom-client child.inc(), child made once'),
    row('subject Histogram.observe(labels)', 'prom-client Histogram.observe(labels)'),
    row('subject Summary.observe(labels)', 'prom-client Summary.observe(labels)'),
    row('subject native Histogram.observe(labels)', 'prom-client Histogram.observe(labels)'),
    row('subject native + classic Histogram.observe(labels)', 'prom-client Histogram.observe(labels)'),
    row('subject counter.labels(...).inc()', 'prom-client counter.labels(...).inc()'),
    row('subject Counter.inc(labels)', PER_CALL),
    row('subject Summary.observe(labels)', PER_CALL),
    row('prom-client Counter.inc(labels)', 'Map update, key built per call'),
    row('prom-client counter.labels(...).inc()', 'Map update, key built per call'),
    row('prom-client child.inc(), child made once', 'Map update, precomputed key'),
    row('prom-client Histogram.observe(labels)', 'Map update, key built per call'),
    row('prom-client Summary.observe(labels)', 'hdr-histogram-js recordValue'),
    row('hdr-histogram-js recordValue', 'Map update, precomputed key'),
    row('Map update, key built per call', 'Map update, precomputed key'),
    row('Map update, precomputed key', null),
    row(PER_CALL, null),
  ];
  return {
    rows,
    notes: [
      `3 labels, 16 label sets cycled per call; each figure is the median of ${ROUNDS} rounds of ~100 ms after a 300 ms warm-up, all in one process, the rounds of every case interleaved (round 1 of each, then round 2, ...) so that a busy spell of the machine hits both libraries alike.`,
      'The subject runs with `flushIntervalMs: 3600000`, so no flush happens while it is timed.',
      '*native*: `buckets: []` and `nativeHistogramBucketFactor: 1.1` (schema 3; the 1,024 values from 0 to 1.023 fill ~80 buckets and the zero bucket); *native + classic* keeps the 11 default buckets too. prom-client 15 has no native histograms: its classic observe is the baseline.',
      '*child made once*: one child per label set made before timing, then `children[i & 15].inc()`; *labels(...).inc()* makes the child in the loop, as code that does not keep children does.',
      `*${PER_CALL}*: a Redis write per update (the design of prometheus_client's Redis backend), one awaited call per update to the section's own redis-server (median of 5 rounds of 200 ms after 2,000 warm-up calls); wall time per call, which the request waits.`,
    ],
  };
}

export const hotpath: Section = { id: 'hotpath', title: 'Hot path: one update in memory', run };
