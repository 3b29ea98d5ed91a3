import { register as globalRegister, type Registry } from 'prom-client';
import { isOwnMetric } from '../metrics/base.js';
import { getRedisStorageManager, type RedisStorageManager } from '../manager.js';
import { GAUGE_MODES, type FamilyDefinition, type GaugeMode, type MetricType } from '../store/family.js';
import type { SeriesStore } from '../store/series.js';
import { CounterValue, GaugeValue, HistogramValue, SummaryValue, type RedisValue } from '../store/values.js';
import { ConfigError, describe } from '../errors.js';

export interface RegistryBridgeOptions {
  /** The prom-client registry to mirror. @default prom-client's global `register` */
  registry?: Registry;
  /** @default getRedisStorageManager() */
  storage?: RedisStorageManager;
  /** How mirrored gauges merge across processes. @default 'liveall' (one series per live process) */
  gaugeMode?: GaugeMode;
  /** Per metric name, overriding `gaugeMode`. */
  gaugeModes?: Readonly<Record<string, GaugeMode>>;
  /** How often the registry is read. @default the storage's flush interval */
  intervalMs?: number;
}

interface PromValue {
  value: number;
  labels: Record<string, string | number | undefined>;
  metricName?: string;
}
interface PromMetricJson {
  name: string;
  help: string;
  type: string;
  values: PromValue[];
}

interface Mirror {
  readonly family: SeriesStore;
  /** Last cumulative figures seen per series (counter value; histogram buckets, sum, count). */
  readonly last: Map<string, number[]>;
}

/**
 * Mirrors metrics registered in a prom-client registry (collectDefaultMetrics() included) into our
 * store, so that they reach the cluster-wide view with no change to the code that made them.
 * prom-client keeps cumulative figures; the bridge reads them on an interval and hands the
 * difference to our store: counters, histogram buckets and summary count/sum are summed across
 * processes by Redis, gauges are kept per process and merged by a gauge mode. Summary quantiles
 * cannot be merged from prom-client's sketches, so they are left out (count and sum only).
 *
 * Our own Counter, Gauge, Histogram and Summary also register in prom-client's global registry by
 * default; they are skipped (they are in the store already, and reading them would collect Redis).
 */
export class RegistryBridge {
  readonly #registry: Registry;
  readonly #storage: RedisStorageManager;
  readonly #gaugeMode: GaugeMode;
  readonly #gaugeModes: Readonly<Record<string, GaugeMode>>;
  readonly #intervalMs: number;
  readonly #mirrors = new Map<string, Mirror>();
  /** Names that cannot be mirrored (type change, name taken): warned about once. */
  readonly #refused = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #syncing: Promise<void> | undefined;

  constructor(options: RegistryBridgeOptions = {}) {
    this.#registry = options.registry ?? globalRegister;
    this.#storage = options.storage ?? getRedisStorageManager();
    this.#gaugeMode = checkMode('gaugeMode', options.gaugeMode ?? 'liveall');
    for (const [name, mode] of Object.entries(options.gaugeModes ?? {})) checkMode(`gaugeModes.${name}`, mode);
    this.#gaugeModes = { ...options.gaugeModes };
    this.#intervalMs = options.intervalMs ?? this.#storage.config.flushIntervalMs;
    // A scrape of this very process sees the registry as it is now.
    this.#storage.addCollectCallback('prom-client-redis:registry-bridge', () => this.sync());
  }

  start(): this {
    this.#timer ??= setInterval(() => {
      this.sync().catch((error: Error) => this.#storage.logger.warn(`registry bridge: ${error.message}`));
    }, this.#intervalMs);
    this.#timer.unref();
    return this;
  }

  /** Stops the timer after a last read, so that a final flush carries everything. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.sync();
  }

  /** Reads the registry once and hands the changes to the store. Concurrent calls share one read. */
  sync(): Promise<void> {
    this.#syncing ??= this.#syncOnce().finally(() => {
      this.#syncing = undefined;
    });
    return this.#syncing;
  }

  async #syncOnce(): Promise<void> {
    const defaults = defaultLabelsOf(this.#registry);
    const metrics = this.#registry.getMetricsAsArray().filter((m) => !isOwnMetric(m));
    const items = await Promise.all(metrics.map(async (m) => ({ metric: m as unknown as { labelNames?: string[]; upperBounds?: number[] }, json: (await (m as unknown as { get(): Promise<unknown> }).get()) as PromMetricJson })));
    for (const { metric, json } of items) {
      const values = json.values.map((v) => ({ ...v, labels: { ...defaults, ...v.labels } }));
      const mirror = this.#mirrorOf(json, metric, Object.keys(defaults), values);
      if (!mirror) continue;
      try {
        apply(mirror, json.type as MetricType, values);
      } catch (error) {
        this.#refuse(json.name, (error as Error).message);
      }
    }
  }

  #mirrorOf(json: PromMetricJson, metric: { labelNames?: string[]; upperBounds?: number[] }, defaultNames: string[], values: PromValue[]): Mirror | undefined {
    const existing = this.#mirrors.get(json.name);
    if (existing) return existing.family.def.type === json.type ? existing : this.#refuse(json.name, `its type changed to ${json.type}`);
    if (this.#refused.has(json.name)) return undefined;
    const type = json.type as MetricType;
    if (!['counter', 'gauge', 'histogram', 'summary'].includes(type)) return this.#refuse(json.name, `type ${json.type} is not supported`);
    const labelNames = [...new Set([...(metric.labelNames ?? []), ...defaultNames])];
    let mode: GaugeMode | undefined;
    if (type === 'gauge') {
      mode = this.#gaugeModes[json.name] ?? this.#gaugeMode;
      // all/liveall add a `pid` label; a gauge that has one already is summed over live processes instead.
      if ((mode === 'all' || mode === 'liveall') && labelNames.includes('pid')) mode = 'livesum';
    }
    const buckets = type === 'histogram' ? (metric.upperBounds ?? bucketsOf(values)) : undefined;
    const def: FamilyDefinition = Object.freeze({
      name: json.name, help: json.help, type, mode, labelNames, buckets,
      // No percentiles: only count and sum of prom-client summaries can be merged.
      percentiles: type === 'summary' ? [] : undefined,
      maxAgeSeconds: undefined, ageBuckets: undefined,
    });
    const bucketCount = buckets?.length ?? 0;
    const maxBuckets = this.#storage.config.maxHistogramBuckets;
    if (bucketCount > maxBuckets) return this.#refuse(json.name, `${bucketCount} buckets, more than maxHistogramBuckets (${maxBuckets}, REDIS_MAX_HISTOGRAM_BUCKETS)`);
    const create = (labelValues: readonly string[], dropped: boolean): RedisValue =>
      type === 'counter' ? new CounterValue(labelValues, dropped)
        : type === 'gauge' ? new GaugeValue(labelValues, dropped)
          : type === 'histogram' ? new HistogramValue(labelValues, bucketCount, dropped)
            : new SummaryValue(labelValues, dropped);
    if (this.#storage.dict.families.has(json.name)) return this.#refuse(json.name, 'the name is taken by a metric of this package');
    const family = this.#storage.dict.register(def, create);
    const mirror: Mirror = { family, last: new Map() };
    this.#mirrors.set(json.name, mirror);
    return mirror;
  }

  #refuse(name: string, why: string): undefined {
    if (!this.#refused.has(name)) {
      this.#refused.add(name);
      this.#storage.logger.warn(`registry bridge: metric \`${name}\` is not mirrored: ${why}`);
    }
    return undefined;
  }
}

function apply(mirror: Mirror, type: MetricType, values: PromValue[]): void {
  const { family, last } = mirror;
  const names = family.def.labelNames;
  const seriesLabels = (v: PromValue): Record<string, string | number> => {
    const out: Record<string, string | number> = {};
    // Own properties only: a label named `constructor` that a series lacks is missing, not Object's.
    for (const n of names) if (Object.prototype.hasOwnProperty.call(v.labels, n) && v.labels[n] !== undefined) out[n] = v.labels[n]!;
    return out;
  };
  if (type === 'counter') {
    for (const v of values) {
      const labels = seriesLabels(v);
      const value = family.valueFor(labels) as CounterValue;
      const delta = deltas(last, value.field, [v.value])[0]!;
      if (delta > 0) {
        value.delta += delta;
        if (!value.dirty) family.markDirty(value);
      }
    }
  } else if (type === 'gauge') {
    const stamp = family.def.mode === 'mostrecent' || family.def.mode === 'livemostrecent';
    for (const v of values) {
      const value = family.valueFor(seriesLabels(v)) as GaugeValue;
      // Unchanged gauges are not re-sent; their per-process hash is kept alive by the heartbeat.
      if (last.get(value.field)?.[0] === v.value) continue;
      last.set(value.field, [v.value]);
      value.value = v.value;
      if (stamp) value.updatedAtMs = Date.now();
      if (!value.dirty) family.markDirty(value);
    }
  } else {
    // Histograms and summaries: group the `_bucket`, `_sum` and `_count` samples by series.
    const bounds = (family.def.buckets ?? []).map(String);
    const series = new Map<string, { labels: Record<string, string | number>; figures: number[] }>();
    const width = type === 'histogram' ? bounds.length + 3 : 2;
    for (const v of values) {
      const labels = seriesLabels(v);
      const key = JSON.stringify(names.map((n) => (Object.prototype.hasOwnProperty.call(labels, n) ? labels[n] : '')));
      let s = series.get(key);
      if (!s) series.set(key, (s = { labels, figures: new Array<number>(width).fill(0) }));
      const suffix = v.metricName?.slice(family.def.name.length) ?? '';
      if (suffix === '_sum') s.figures[width - 2] = v.value;
      else if (suffix === '_count') s.figures[width - 1] = v.value;
      else if (suffix === '_bucket') {
        const le = String(v.labels.le);
        const i = le === '+Inf' ? bounds.length : bounds.indexOf(le);
        if (i !== -1) s.figures[i] = v.value;
      }
    }
    for (const { labels, figures } of series.values()) {
      if (type === 'histogram') {
        // prom-client's buckets are cumulative; our store keeps each bucket's own count.
        for (let i = bounds.length; i > 0; i--) figures[i] = figures[i]! - figures[i - 1]!;
        const value = family.valueFor(labels) as HistogramValue;
        const d = deltas(last, value.field, figures);
        if (!d.some((x) => x !== 0)) continue;
        for (let i = 0; i <= bounds.length; i++) value.buckets[i]! += d[i]!;
        value.sumDelta += d[width - 2]!;
        value.countDelta += d[width - 1]!;
        if (!value.dirty) family.markDirty(value);
      } else {
        const value = family.valueFor(labels) as SummaryValue;
        const d = deltas(last, value.field, figures);
        if (d[0] === 0 && d[1] === 0) continue;
        value.sumDelta += d[0]!;
        value.countDelta += d[1]!;
        if (!value.dirty) family.markDirty(value);
      }
    }
  }
}

/**
 * The change since the last read. A figure (or, for several, the count) that went down means the
 * metric was reset in prom-client: everything it holds now is new.
 */
function deltas(last: Map<string, number[]>, key: string, now: number[]): number[] {
  const before = last.get(key);
  last.set(key, now);
  if (!before) return now;
  const wentDown = now.length === 1 ? now[0]! < before[0]! : now[now.length - 1]! < before[before.length - 1]!;
  return wentDown ? now : now.map((x, i) => x - before[i]!);
}

function bucketsOf(values: PromValue[]): number[] {
  const bounds = new Set<number>();
  for (const v of values) if (v.labels.le !== undefined && v.labels.le !== '+Inf') bounds.add(Number(v.labels.le));
  return [...bounds].sort((a, b) => a - b);
}

/** prom-client has no getter for `setDefaultLabels()`; its JSON adds them the same way. */
function defaultLabelsOf(registry: Registry): Record<string, string | number> {
  const raw = (registry as unknown as { _defaultLabels?: unknown })._defaultLabels;
  return raw !== null && typeof raw === 'object' ? { ...(raw as Record<string, string | number>) } : {};
}

function checkMode(option: string, mode: unknown): GaugeMode {
  if (!(GAUGE_MODES as readonly unknown[]).includes(mode)) {
    throw new ConfigError(`Invalid option \`${option}\`: expected one of ${GAUGE_MODES.join(', ')}, got ${describe(mode)}`);
  }
  return mode as GaugeMode;
}
