// The library's own timers come from node:timers, not the globals: an app's fake timers (Jest's
// useFakeTimers) must not stop a collect or a flush.
import { setImmediate, setTimeout, clearTimeout } from 'node:timers';
import { Registry } from 'prom-client';
import type { ResolvedConfig } from '../config.js';
import type { ProcessIdentity } from '../identity.js';
import type { Logger } from '../log.js';
import type { RedisStorageClient } from '../redis/client.js';
import { TimeoutError } from '../errors.js';
import { Pacer } from '../pacer.js';
import type { MetricFamily } from '../store/family.js';
import type { RedisStorageDict } from '../store/storage-dict.js';
import type { SeriesStore } from '../store/series.js';
import type { SelfStats } from '../stats.js';
import { ExpositionWriter, rope } from './render.js';
import { ProtobufWriter } from './protobuf.js';
import { printedNames } from './meta.js';
import { BadDataReporter } from './bad-data.js';
import { RestoreGate } from './restore-gate.js';
import { RedisFamilyReader } from './redis-read.js';
import { FamilyMerger, type SeriesOrder } from './merge.js';
import { emitOwnSeries } from './local.js';
import { ShapeBuilder, type MetricObjectWithValues } from './shape.js';
import type { SeriesSink } from './sink.js';
import type { FamilySnapshot } from './snapshot.js';
import type { CounterTable } from './counter-table.js';

export interface CollectorParts {
  readonly dict: RedisStorageDict;
  readonly client: RedisStorageClient | undefined;
  readonly config: ResolvedConfig;
  readonly identity: ProcessIdentity;
  readonly logger: Logger;
  readonly stats: SelfStats;
  /** Callbacks of the manager itself (registry bridge, self-metrics), run before each full collect. */
  readonly callbacks: () => Array<() => void | Promise<void>>;
}

/** An exposition format: Prometheus text (0.0.4 and 1.0.0 are the same text here), OpenMetrics, protobuf. */
export type ExpositionKind = 'text' | 'openmetrics' | 'protobuf';

export interface ExpositionOptions {
  /** This collect's deadline, when it is shorter than `collectTimeoutMs` (a scrape's own timeout). */
  readonly timeoutMs?: number | undefined;
}

/**
 * Reads every family from Redis in two pipelined round trips (the index and the process registry,
 * then one atomic read per family), merges the processes with the Python client's multiprocess
 * semantics, adds this process's unflushed state, and renders in prom-client's exposition format.
 * With Redis disabled it serves this process's own metrics, exactly as prom-client would.
 */
export class RedisMultiProcessCollector {
  #contentType: string = Registry.PROMETHEUS_CONTENT_TYPE;
  /** The newest metrics() and exposition() read in progress, by format: concurrent scrapes share it. */
  readonly #inflightText = new Map<ExpositionKind, { readonly timeoutMs: number; readonly inParts: boolean; body: Promise<string | string[] | Buffer> }>();
  #inflightAll: Promise<MetricObjectWithValues[]> | undefined;
  /** The snapshot a wrapped registry is rendering: its metrics' get() calls read it, not Redis again. */
  #pinned: Map<string, MetricObjectWithValues> | undefined;
  readonly #wrapped = new WeakSet<Registry>();
  /** Counter series orders of the last full collect (see SeriesOrder). */
  #orders = new Map<string, SeriesOrder>();
  /** Counter families' tables of the last text exposition (see CounterTable), by family name. */
  #tables = new Map<string, CounterTable>();
  /** Single-family reads asked for in this turn of the event loop: they share one read. */
  #batch: { readonly families: Set<MetricFamily>; readonly done: Promise<Map<MetricFamily, FamilySnapshot>> } | undefined;
  /** Holds collects back while Redis is being restored after a loss (see RestoreGate). */
  readonly #gate: RestoreGate;
  /** Reads the families from Redis (redis-read.ts). */
  readonly #reader: RedisFamilyReader;

  /** Counts what the collect skips, and warns once per kind. */
  readonly #bad: BadDataReporter;

  constructor(readonly parts: CollectorParts) {
    this.#bad = new BadDataReporter(parts.stats, parts.logger);
    this.#gate = new RestoreGate({
      fallbackLiveTimeoutMs: parts.config.liveTimeoutMs,
      selfId: parts.identity.id,
      onGiveUp: (processId, why) => parts.logger.warn(`collect: no longer waiting for process ${processId} to restore what Redis lost (${why}): its part of the totals is lost`),
    });
    this.#reader = new RedisFamilyReader(parts, this.#bad, this.#gate);
  }

  /**
   * @internal Makes this collector's first read wait for writers it cannot see after a loss (see
   * RestoreGate.waitsForUnseenWriters): the metrics server sets it before its first scrape.
   */
  waitForUnseenWriters(): void {
    this.#gate.waitsForUnseenWriters = true;
  }

  /** @internal Stops work that outlives a scrape (the table builds): the storage manager shuts down. */
  stop(): void {
    this.#reader.stop();
  }

  get contentType(): string {
    return this.#contentType;
  }

  /** Prometheus text 0.0.4 (default) or OpenMetrics, as prom-client's `Registry.setContentType`. */
  setContentType(contentType: string): void {
    if (contentType !== Registry.PROMETHEUS_CONTENT_TYPE && contentType !== Registry.OPENMETRICS_CONTENT_TYPE) {
      throw new TypeError(`Content type ${contentType} is unsupported`);
    }
    this.#contentType = contentType;
  }

  /**
   * Every family, cluster-wide, in prom-client's `get()` shape. Concurrent callers share one read.
   * Like metrics(), it rejects with a TimeoutError (`ERR_PCR_TIMEOUT`) past `collectTimeoutMs` or a
   * RedisOperationError (`ERR_PCR_REDIS`) when Redis cannot be read, never with this process's
   * local figures alone: an HTTP endpoint should answer 503 then (as the metrics server of this
   * package does), so that Prometheus marks the target down instead of recording a counter reset.
   */
  collect(): Promise<MetricObjectWithValues[]> {
    if (this.#pinned) return Promise.resolve([...this.#pinned.values()]);
    this.#inflightAll ??= this.#bounded(async (pacer) => {
      const shapes = new ShapeBuilder((name) => this.parts.dict.families.get(name)?.series);
      await this.#collectAll(pacer, shapes);
      return shapes.families;
    }).finally(() => {
      this.#inflightAll = undefined;
    });
    return this.#inflightAll;
  }

  /**
   * The exposition text, like prom-client's `registry.metrics()`, bounded like collect(). Samples go
   * from the merge straight into the text (see render.ts). Concurrent callers share one read.
   */
  metrics(contentType: string = this.#contentType): Promise<string> {
    return this.exposition(contentType === Registry.OPENMETRICS_CONTENT_TYPE ? 'openmetrics' : 'text') as Promise<string>;
  }

  /**
   * The exposition in one of the formats a scrape can negotiate: text and OpenMetrics as strings,
   * protobuf (delimited MetricFamily messages, native histograms included) as a Buffer. Bounded
   * like collect(), or by `options.timeoutMs` when shorter. Concurrent callers share one read.
   */
  exposition(kind: ExpositionKind, options: ExpositionOptions = {}): Promise<string | Buffer> {
    return this.#exposition(kind, options, false) as Promise<string | Buffer>;
  }

  /**
   * @internal exposition() with the text in parts whose concatenation is the text (see
   * ExpositionWriter.finishParts()): the metrics server writes them one at a time, and a scrape of a
   * million series never makes one string of ~36 MB (a copy of tens of ms in one tick).
   */
  expositionParts(kind: ExpositionKind, options: ExpositionOptions = {}): Promise<string[] | Buffer> {
    return this.#exposition(kind, options, true) as Promise<string[] | Buffer>;
  }

  #exposition(kind: ExpositionKind, options: ExpositionOptions, inParts: boolean): Promise<string | string[] | Buffer> {
    const timeoutMs = Math.min(this.parts.config.collectTimeoutMs, options.timeoutMs ?? Infinity);
    // A caller joins the newest read of its format, never an older one: with reads keyed by deadline
    // too (the launcher's collect thread asks with what is left of each scrape's time, a different
    // figure each time), a scrape asked after another was answered could join a read that began
    // before that one and serve older, lower totals. One whose deadline is shorter starts its own
    // read, which later callers join instead.
    // Whole and parts callers share a read too (the metrics server asks for parts, an app's own
    // `register.metrics()` for the whole): each gets the other's answer in its own shape.
    const key = kind;
    const current = this.#inflightText.get(key);
    if (current && current.timeoutMs <= timeoutMs) return current.inParts === inParts ? current.body : current.body.then((b) => reshape(b, inParts));
    const entry = {
      timeoutMs,
      inParts,
      body: this.#bounded(async (pacer) => {
        if (kind === 'protobuf') {
          const writer = new ProtobufWriter();
          await this.#collectAll(pacer, writer, true);
          return writer.finish();
        }
        const writer = new ExpositionWriter(kind === 'openmetrics' ? Registry.OPENMETRICS_CONTENT_TYPE : Registry.PROMETHEUS_CONTENT_TYPE);
        // Text 0.0.4 has no `_created`: its scrapes skip the created hashes.
        await this.#collectAll(pacer, writer, kind !== 'text');
        return inParts ? writer.finishParts() : writer.finish();
      }, timeoutMs).finally(() => {
        if (this.#inflightText.get(key) === entry) this.#inflightText.delete(key);
      }),
    };
    this.#inflightText.set(key, entry);
    return entry.body;
  }

  /** One family by name, from a full collect; empty values when nobody wrote it yet. */
  async getFamily(name: string): Promise<MetricObjectWithValues> {
    const found = (await this.collect()).find((f) => f.name === name);
    if (found) return found;
    const def = this.parts.dict.families.get(name)?.def;
    return { name, help: def?.help ?? '', type: def?.type ?? 'gauge', values: [], aggregator: 'sum' };
  }

  /**
   * One family, cluster-wide, in prom-client's `get()` shape (what a metric's `get()` returns):
   * reads only that family (reads asked for in the same turn of the event loop share one round
   * trip), bounded like collect(). Runs no collect callback: the metric runs its own. `local` is the
   * metric object's own series, for the types of its label values.
   */
  async readFamily(family: MetricFamily, local: SeriesStore, forPromString = false): Promise<MetricObjectWithValues> {
    const pinned = this.#pinned?.get(family.def.name);
    if (pinned) return pinned;
    const shapes = new ShapeBuilder(() => local, forPromString);
    const client = this.parts.client;
    if (!client) await emitOwnSeries(local, shapes, Date.now());
    else {
      const started = performance.now();
      const snapshot = (await this.#readBatched(family)).get(family);
      // The merge of what Redis held (4,000 HDR blobs of other processes, say) is bounded too: its
      // pacer rejects at the next slice past collectTimeoutMs from the call.
      const { sliceMs, collectTimeoutMs } = this.parts.config;
      const pacer = new Pacer(sliceMs, 128, started + collectTimeoutMs, () => new TimeoutError(`collect: family \`${family.def.name}\` not merged within collectTimeoutMs (${collectTimeoutMs} ms)`));
      if (snapshot) await new FamilyMerger(this.#bad, Date.now(), pacer, undefined, this.parts.config).mergeInto(snapshot, this.#lastLive, shapes);
      else shapes.family(family.def.name, family.def.help, family.def.type);
    }
    return shapes.families[0]!;
  }

  /**
   * Makes a prom-client Registry render the cluster-wide view: every family in Redis (also those
   * only other processes created), with the registry's ordinary metrics, once each and from one
   * Redis read per scrape. Our metrics registered there show the same cluster-wide values.
   */
  registerIn(registry: Registry): void {
    if (this.#wrapped.has(registry)) return;
    this.#wrapped.add(registry);
    const original = registry.metrics.bind(registry);
    const originalJson = registry.getMetricsAsJSON.bind(registry);
    const withFamilies = async <T>(render: () => Promise<T>): Promise<T> => {
      const families = new Map((await this.collect()).map((f) => [f.name, f]));
      const added: string[] = [];
      for (const family of families.values()) {
        if (registry.getSingleMetric(family.name)) continue;
        registry.registerMetric(proxy(family) as never);
        added.push(family.name);
      }
      this.#pinned = families;
      try {
        return await render();
      } finally {
        this.#pinned = undefined;
        for (const name of added) registry.removeSingleMetric(name);
      }
    };
    registry.metrics = () => withFamilies(original);
    registry.getMetricsAsJSON = () => withFamilies(originalJson) as never;
  }

  /** Live processes as the last read saw them (this process always). */
  #lastLive: ReadonlySet<string> = new Set();

  #readBatched(family: MetricFamily): Promise<Map<MetricFamily, FamilySnapshot>> {
    if (!this.#batch) {
      const families = new Set<MetricFamily>();
      const done = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
        this.#batch = undefined;
        return this.#bounded(async (pacer) => {
          const read = await this.#reader.read(this.parts.client!, pacer, [...families]);
          this.#lastLive = read.live;
          return new Map(read.snapshots.map((s) => [s.local!, s] as const).filter(([f]) => f !== undefined));
        });
      });
      this.#batch = { families, done };
    }
    this.#batch.families.add(family);
    return this.#batch.done;
  }

  /**
   * Runs one collect, bounded as a whole (callbacks, connection, both round trips, merge, rendering)
   * by `collectTimeoutMs`: the pacer of the work rejects at the deadline, so a collect that timed out
   * stops instead of running on. Rejects with a TimeoutError (code ERR_PCR_TIMEOUT) or a
   * RedisOperationError (ERR_PCR_REDIS) rather than serve this process's local totals alone, which
   * Prometheus would read as a counter reset: HTTP integrations answer such a scrape with 503.
   */
  async #bounded<T>(work: (pacer: Pacer) => Promise<T>, timeoutMs = this.parts.config.collectTimeoutMs): Promise<T> {
    const { stats, config } = this.parts;
    const client = this.parts.client;
    const limit = timeoutMs < config.collectTimeoutMs ? `the scrape's timeout less a margin (${timeoutMs} ms)` : `collectTimeoutMs (${config.collectTimeoutMs} ms)`;
    // Past the deadline without a connection (the first one still not made), the reason is that.
    const expired = () => (client && !client.isConnected() ? client.notConnected('collect') : new TimeoutError(`collect: not done within ${limit}`));
    const pacer = new Pacer(config.sliceMs, 128, performance.now() + timeoutMs, expired);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      // libuv's timer may fire a little before performance.now() reaches the pacer's deadline: the
      // pacer is told, so that no unit of work starts after the rejection.
      timer = setTimeout(() => {
        pacer.expire();
        reject(expired());
      }, timeoutMs);
    });
    const running = work(pacer);
    running.catch(() => {});
    try {
      return await Promise.race([running, timeout]);
    } catch (error) {
      stats.collectFailures++;
      // Every round trip waits for Redis until the collect's own deadline (redis-read.ts): when its
      // timer fires first (the two are due together; a timer may fire early by the work of its
      // tick), the collect's reason is given, which names what bounded it.
      if (error instanceof TimeoutError) throw expired();
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Every family, in name order (Redis) or in the order they were made (no Redis), into the sink. */
  async #collectAll(pacer: Pacer, sink: SeriesSink, withCreated = false): Promise<void> {
    const started = performance.now();
    const { dict, client, stats, config } = this.parts;
    await this.#runCallbacks();
    pacer.check();
    if (!client) {
      const nowMs = Date.now();
      for (const family of dict.families.values()) await emitOwnSeries(family.series, sink, nowMs, pacer);
    } else {
      // The text expositions read counter families through tables (a sink that can write them).
      const tables = sink.counters ? new Map<string, CounterTable>() : undefined;
      const { snapshots, live } = await this.#reader.read(client, pacer, undefined, withCreated, tables ? this.#tables : undefined);
      this.#lastLive = live;
      const orders = { last: this.#orders, next: new Map<string, SeriesOrder>(), tables };
      const merger = new FamilyMerger(this.#bad, Date.now(), pacer, orders, config);
      // Families in name order, each printing names no earlier one printed: a counter `x_count` after a
      // histogram `x` would make the text unparseable ("second HELP line for metric name x").
      const printed = new Set<string>();
      for (const s of snapshots.sort((a, b) => (a.meta.name < b.meta.name ? -1 : a.meta.name > b.meta.name ? 1 : 0))) {
        const names = printedNames(s.meta.name, s.meta.type);
        if (names.some((n) => printed.has(n))) {
          this.#bad.bad('conflict');
          continue;
        }
        for (const n of names) printed.add(n);
        await merger.mergeInto(s, live, sink);
      }
      // Only the families of this collect are kept: one gone from Redis is forgotten.
      this.#orders = orders.next;
      if (tables) this.#tables = tables;
      stats.processesLive = live.size;
    }
    stats.collects++;
    stats.lastCollectDurationMs = performance.now() - started;
  }

  /**
   * @internal Runs what a full collect runs first (the manager's callbacks, the metrics' `collect`):
   * the launcher does it before its collect thread reads Redis (see collect-thread.ts).
   */
  runCollectCallbacks(): Promise<void> {
    return this.#runCallbacks();
  }

  /** The collect callbacks of the metric objects that represent their names, and the manager's own. */
  async #runCallbacks(): Promise<void> {
    const callbacks = [...this.parts.callbacks()];
    for (const family of this.parts.dict.families.values()) {
      const collect = family.series.collect;
      if (collect) callbacks.push(collect);
    }
    await Promise.all(callbacks.map((cb) => cb()));
  }

}

/** A prom-client metric object serving one collected family. */
function proxy(family: MetricObjectWithValues) {
  return {
    name: family.name,
    help: family.help,
    type: family.type,
    aggregator: 'sum',
    // prom-client renames OpenMetrics counters on the registered object (strips `_total`).
    async get(this: { name: string }) {
      return { ...family, name: this.name };
    },
    reset: () => {},
  };
}

/** A read's answer in the shape another caller asked for: the parts as one string (a rope), or the whole as one part. */
function reshape(body: string | string[] | Buffer, inParts: boolean): string | string[] | Buffer {
  if (Buffer.isBuffer(body)) return body;
  if (inParts) return typeof body === 'string' ? [body] : body;
  return typeof body === 'string' ? body : rope(body, '');
}
