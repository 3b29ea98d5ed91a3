// ─────────────────────────────────────────────────────────────────────────────────────────────────
// ADAPTER: the only file in perf/ that knows the API of the library under test (the "subject").
//
// The benchmarks run the BUILT package: this file compiles to dist/perf/subject.js and loads
// dist/src/index.js. The import is dynamic, with a specifier tsc does not follow, so perf/ compiles
// and the baselines still run while src/ is not written yet; the suite then prints
// "subject: not built yet". The interfaces below are the API as planned (prom-client-compatible
// metrics + RedisStorageManager); once src/ exports it, replace `SubjectModule` with
// `typeof import('../src/index.js')` so that tsc checks this adapter against the real types.
// ─────────────────────────────────────────────────────────────────────────────────────────────────

import { pathToFileURL } from 'node:url';

export type LabelValues = Record<string, string | number>;

export interface MetricOptions {
  name: string;
  help: string;
  labelNames?: readonly string[];
  buckets?: readonly number[];
  /** Native histogram buckets too (ours; prom-client 15 has none). */
  nativeHistogramBucketFactor?: number;
  percentiles?: readonly number[];
  /** Pass [] to keep a metric out of prom-client's global registry (simulated processes). */
  registers?: readonly unknown[];
  storage: SubjectManager;
}

export interface SubjectCounter {
  inc(labels: LabelValues, value?: number): void;
  labels(...values: string[]): { inc(value?: number): void };
}

export interface SubjectHistogram {
  observe(labels: LabelValues, value: number): void;
  startTimer(labels?: LabelValues): (labels?: LabelValues) => number;
}

export interface SubjectGauge {
  set(labels: LabelValues, value: number): void;
  inc(labels: LabelValues, value?: number): void;
}

export interface SubjectSummary {
  observe(labels: LabelValues, value: number): void;
}

export interface SubjectCollector {
  metrics(): Promise<string>;
}

export interface SubjectManager {
  /** Optional in the plan; when present, benchmarks start from a connected client. */
  waitUntilConnected?(timeoutMs?: number): Promise<void>;
  flush(): Promise<void>;
  shutdown(): Promise<void>;
  getCollector(): SubjectCollector;
}

export interface ManagerOptions {
  url: string;
  keyPrefix: string;
  flushIntervalMs: number;
  /** The subject drops label sets beyond this (10,000 by default); benchmarks go to 100k. */
  maxSeriesPerMetric?: number;
  /** Lets one process stand for many (scrape scaling); omitted for real processes. */
  identity?: { host: string; pid: number; nonce: string };
  /** Past the default 1,000: scrape-latency's wide family. */
  maxHistogramBuckets?: number;
}

export interface SubjectModule {
  Counter: new (options: MetricOptions) => SubjectCounter;
  Histogram: new (options: MetricOptions) => SubjectHistogram;
  Summary: new (options: MetricOptions) => SubjectSummary;
  /** Optional: builds before gauges were benchmarked still load. */
  Gauge?: new (options: MetricOptions) => SubjectGauge;
  RedisStorageManager: new (options: ManagerOptions & { enabled: true }) => SubjectManager;
}

// PERF_SUBJECT=/path/to/index.js benchmarks another build of the same API; PERF_SUBJECT=none runs
// the baselines only. Child processes inherit it.
const SUBJECT_OVERRIDE = process.env.PERF_SUBJECT;
const SUBJECT_SPECIFIER = SUBJECT_OVERRIDE ? pathToFileURL(SUBJECT_OVERRIDE).href : '../src/index.js';
const REQUIRED_EXPORTS = ['Counter', 'Histogram', 'Summary', 'RedisStorageManager'] as const;

export interface SubjectLoad {
  readonly subject: SubjectModule | null;
  /** "ok (<where>)", or why the subject figures are missing; printed and written into perf/README.md. */
  readonly status: string;
}

let cached: Promise<SubjectLoad> | undefined;

export function loadSubject(): Promise<SubjectLoad> {
  cached ??= (async (): Promise<SubjectLoad> => {
    if (SUBJECT_OVERRIDE === 'none') return { subject: null, status: 'subject: skipped (PERF_SUBJECT=none), baselines only' };
    let module: Record<string, unknown>;
    try {
      module = (await import(SUBJECT_SPECIFIER)) as Record<string, unknown>;
    } catch (error) {
      const err = error as NodeJS.ErrnoException;
      if (err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes(SUBJECT_OVERRIDE ?? 'dist/src/index.js')) {
        return { subject: null, status: 'subject: not built yet' };
      }
      return { subject: null, status: `subject: not built yet (import failed: ${err.message.split('\n')[0]})` };
    }
    const missing = REQUIRED_EXPORTS.filter((name) => typeof module[name] !== 'function');
    if (missing.length > 0) {
      return { subject: null, status: `subject: not built yet (missing exports: ${missing.join(', ')})` };
    }
    return { subject: module as unknown as SubjectModule, status: `ok (${SUBJECT_OVERRIDE ?? 'dist/src/index.js'})` };
  })();
  return cached;
}

/** A manager bound to the benchmark's Redis, connected, allowed 1M series per metric. */
export async function openManager(subject: SubjectModule, options: ManagerOptions): Promise<SubjectManager> {
  const manager = new subject.RedisStorageManager({ enabled: true, maxSeriesPerMetric: 1_000_000, ...options });
  await manager.waitUntilConnected?.(10_000);
  return manager;
}
