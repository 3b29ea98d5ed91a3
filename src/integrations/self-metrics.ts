import { Counter } from '../metrics/counter.js';
import { Gauge } from '../metrics/gauge.js';
import { Histogram } from '../metrics/histogram.js';
import { markOwnMetric } from '../exit-pending.js';
import type { RedisStorageManager } from '../manager.js';
import { readRedisUsage } from './redis-usage.js';

/** Flushes and collects take milliseconds; the default HTTP buckets would put them all in one. */
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
/** MEMORY USAGE of every key is not free: sample it at most this often. */
export const USAGE_SAMPLE_INTERVAL_MS = 30_000;

export interface SelfMetricsOptions {
  /** Sample key count and memory (only the scraping process needs to). @default true */
  sampleRedisUsage?: boolean;
}

/**
 * The backend's own metrics, as the seed promises: they are ordinary metrics of our store, so every
 * process's flush and collect figures reach the cluster-wide view like any other. Counters and
 * histograms are fed from SelfStats; gauges are refreshed on the flush interval and before each
 * collect. Key count and memory are sampled by the process that serves /metrics.
 */
export class SelfMetrics {
  readonly #storage: RedisStorageManager;
  readonly #sampleUsage: boolean;
  readonly #connected: Gauge;
  readonly #keys: Gauge;
  readonly #memory: Gauge;
  readonly #flushDuration: Histogram;
  readonly #collectDuration: Histogram;
  readonly #flushErrors: Counter<'kind'>;
  readonly #pending: Gauge;
  readonly #dropped: Counter;
  readonly #familiesDropped: Counter;
  readonly #lost: Counter;
  readonly #keysLost: Counter<'key'>;
  readonly #badData: Counter<'kind'>;
  readonly #flushAge: Gauge;
  readonly #live: Gauge;
  readonly #seen = new Map<string, number>();
  #lastUsageMs = -Infinity;
  #usage: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  readonly #startedMs = Date.now();

  constructor(storage: RedisStorageManager, options: SelfMetricsOptions = {}) {
    this.#storage = storage;
    this.#sampleUsage = options.sampleRedisUsage ?? true;
    const common = { storage, registers: [] };
    const p = 'prom_client_redis_';
    this.#connected = new Gauge({ name: `${p}connected`, help: '1 when the process is connected to Redis, by live process.', multiprocessMode: 'liveall', ...common });
    this.#keys = new Gauge({ name: `${p}keys`, help: 'Keys under the key prefix (estimated from the index, sampled at most every 30 s).', multiprocessMode: 'livemax', ...common });
    this.#memory = new Gauge({ name: `${p}memory_bytes`, help: 'Redis memory used by the keys under the key prefix (MEMORY USAGE, sampled at most every 30 s).', multiprocessMode: 'livemax', ...common });
    this.#flushDuration = new Histogram({ name: `${p}flush_duration_seconds`, help: 'Duration of flushes to Redis that got an answer.', buckets: DURATION_BUCKETS, ...common });
    this.#collectDuration = new Histogram({ name: `${p}collect_duration_seconds`, help: 'Duration of successful cluster-wide collects.', buckets: DURATION_BUCKETS, ...common });
    this.#flushErrors = new Counter({ name: `${p}flush_errors_total`, help: 'Failed flushes by the kind of their first error: timeout (no answer in time), replication (WAIT saw too few replicas), cluster (MOVED, ASK, TRYAGAIN, CLUSTERDOWN), connection (not connected, a node connection closed), command (Redis refused a command: ACL, maxmemory), other.', labelNames: ['kind'], ...common });
    this.#pending = new Gauge({ name: `${p}series_pending`, help: 'Series with changes not yet handed to a flush, summed over live processes.', multiprocessMode: 'livesum', ...common });
    this.#dropped = new Counter({ name: `${p}series_dropped_total`, help: 'Label sets refused because a metric reached REDIS_MAX_SERIES_PER_METRIC; their updates are not stored.', ...common });
    this.#familiesDropped = new Counter({ name: `${p}families_dropped_total`, help: 'Metric families made past REDIS_MAX_FAMILIES: they work in their process but are not flushed to Redis.', ...common });
    this.#lost = new Counter({ name: `${p}families_lost_total`, help: 'Times Redis had lost a family (restart, failover) and a process re-sent its whole state.', ...common });
    this.#keysLost = new Counter({ name: `${p}keys_lost_total`, help: 'Keys of a family Redis no longer had when a flush came (eviction, deletion, restart), by key: seq, sums, meta, process. Each is repaired: see the README.', labelNames: ['key'], ...common });
    this.#badData = new Counter({ name: `${p}bad_data_total`, help: 'Keys or fields under the key prefix a collect skipped because they could not be read, by kind (key, value, field, meta, hdr, index, packing).', labelNames: ['kind'], ...common });
    this.#flushAge = new Gauge({ name: `${p}last_successful_flush_age_seconds`, help: 'Seconds since the last fully successful flush, worst live process.', multiprocessMode: 'livemax', ...common });
    this.#live = new Gauge({ name: `${p}processes_live`, help: 'Processes whose heartbeat is current, as seen by the last collect.', multiprocessMode: 'livemax', ...common });
    for (const m of [this.#connected, this.#keys, this.#memory, this.#flushDuration, this.#collectDuration, this.#flushErrors, this.#pending, this.#dropped, this.#familiesDropped, this.#lost, this.#keysLost, this.#badData, this.#flushAge, this.#live]) markOwnMetric(storage, m.name);

    storage.stats.onFlush = (ms, failures) => {
      if (failures === 0) this.#flushDuration.observe(ms / 1000);
    };
    storage.stats.onCollect = (ms) => this.#collectDuration.observe(ms / 1000);
    storage.addCollectCallback('prom-client-redis:self-metrics', () => this.beforeCollect());
  }

  /** Refreshes the gauges on the flush interval, so that they reach Redis even when nobody scrapes this process. */
  start(): void {
    this.#timer ??= setInterval(() => this.refresh(), this.#storage.config.flushIntervalMs);
    this.#timer.unref();
    this.refresh();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  refresh(): void {
    const { stats, dict } = this.#storage;
    // Read before this method dirties its own gauges.
    this.#pending.set(dict.pendingSeries());
    this.#connected.set(this.#storage.isConnected() ? 1 : 0);
    const since = stats.lastSuccessfulFlushAtMs || this.#startedMs;
    this.#flushAge.set(this.#storage.isEnabled ? Math.max(0, Date.now() - since) / 1000 : 0);
    if (stats.processesLive > 0) this.#live.set(stats.processesLive);
    // Every failed flush is counted under exactly one kind (SelfStats.flushDone).
    for (const [kind, n] of stats.flushErrors) this.#feed(`errors:${kind}`, n, (d) => this.#flushErrors.inc({ kind }, d));
    this.#feed('dropped', stats.droppedSeries, (d) => this.#dropped.inc(d));
    this.#feed('families-dropped', stats.droppedFamilies, (d) => this.#familiesDropped.inc(d));
    this.#feed('lost', stats.familiesLost, (d) => this.#lost.inc(d));
    for (const [key, n] of stats.keysLost) this.#feed(`keys-lost:${key}`, n, (d) => this.#keysLost.inc({ key }, d));
    for (const [kind, n] of stats.badData) this.#feed(`bad:${kind}`, n, (d) => this.#badData.inc({ kind }, d));
  }

  /** Called before each collect of this process: fresh gauges, and key count and memory when due. */
  async beforeCollect(): Promise<void> {
    this.refresh();
    const client = this.#storage.client;
    if (!this.#sampleUsage || !client || !client.isConnected()) return;
    if (Date.now() - this.#lastUsageMs < USAGE_SAMPLE_INTERVAL_MS) return;
    this.#usage ??= (async () => {
      try {
        const { config } = this.#storage;
        const usage = await readRedisUsage(client, config.collectTimeoutMs);
        this.#keys.set(usage.keys);
        this.#memory.set(usage.memoryBytes);
        this.#live.set(usage.processesLive);
        this.#lastUsageMs = Date.now();
      } catch (error) {
        // The collect that follows fails too and says why; the sample is retried next time.
        this.#storage.logger.debug('self_metrics.usage_failed', { message: (error as Error).message });
      } finally {
        this.#usage = undefined;
      }
    })();
    await this.#usage;
  }

  /** Turns a cumulative figure of SelfStats into counter increments. */
  #feed(key: string, total: number, inc: (delta: number) => void): void {
    const delta = total - (this.#seen.get(key) ?? 0);
    if (delta > 0) {
      inc(delta);
      this.#seen.set(key, total);
    }
  }
}

const byManager = new WeakMap<RedisStorageManager, SelfMetrics>();

/** The self-monitoring metrics of a manager, created and started on first use. */
export function selfMetricsFor(storage: RedisStorageManager, options: SelfMetricsOptions = {}): SelfMetrics {
  let metrics = byManager.get(storage);
  if (!metrics) {
    byManager.set(storage, (metrics = new SelfMetrics(storage, options)));
    metrics.start();
  }
  return metrics;
}
