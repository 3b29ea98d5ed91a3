import { Registry } from 'prom-client';
import type { ResolvedConfig } from '../config.js';
import { seqFieldOf, type ProcessIdentity } from '../identity.js';
import type { Logger } from '../log.js';
import type { RedisStorageClient } from '../redis/client.js';
import { RedisOperationError, TimeoutError } from '../errors.js';
import { Pacer } from '../flush/batch.js';
import { ExpositionWriter } from './render.js';
import { flatPairs, garbageOr, parseMeta, zsetIds } from './decode.js';
import type { MetricFamily } from '../store/family.js';
import type { RedisStorageDict } from '../store/storage-dict.js';
import type { SelfStats } from '../stats.js';
import type { MetricObjectWithValues } from '../metrics/base.js';
import { FamilyMerger, type SampleSink, type SeriesOrder } from './merge.js';
import { addLocalSums, localProcessFields, metaOfFamily, type FamilyMeta, type FamilySnapshot, type ProcessFields } from './snapshot.js';

export interface CollectorParts {
  readonly dict: RedisStorageDict;
  readonly client: RedisStorageClient | undefined;
  readonly config: ResolvedConfig;
  readonly identity: ProcessIdentity;
  readonly logger: Logger;
  readonly stats: SelfStats;
  /** prom-client `collect` callbacks of this process's metrics, run before each collect. */
  readonly callbacks: () => Array<() => void | Promise<void>>;
}

interface FamilyRead {
  readonly hash: string;
  readonly typeMode: string;
  readonly local: MetricFamily | undefined;
  readonly processIds: readonly string[];
}

/**
 * Reads every family from Redis in two pipelined round trips (the index and the process registry,
 * then one atomic read per family), merges the processes with the Python client's multiprocess
 * semantics, adds this process's unflushed state, and renders in prom-client's exposition format.
 */
export class RedisMultiProcessCollector {
  #contentType: string = Registry.PROMETHEUS_CONTENT_TYPE;
  #inflight: Promise<Map<string, MetricObjectWithValues>> | undefined;
  /** metrics() in progress, by content type: concurrent scrapes share one read. */
  readonly #inflightText = new Map<string, Promise<string>>();
  /** The snapshot a wrapped registry is rendering: its metrics' get() calls read it, not Redis again. */
  #pinned: Map<string, MetricObjectWithValues> | undefined;
  readonly #wrapped = new WeakSet<Registry>();
  /** Counter series orders of the last collect (see SeriesOrder). */
  #orders = new Map<string, SeriesOrder>();

  constructor(readonly parts: CollectorParts) {}

  get contentType(): string {
    return this.#contentType;
  }

  /** Prometheus text 0.0.4 (default) or OpenMetrics, as prom-client's `Registry.setContentType`. */
  setContentType(contentType: string): void {
    if (contentType !== Registry.PROMETHEUS_CONTENT_TYPE && contentType !== Registry.OPENMETRICS_CONTENT_TYPE) {
      throw new TypeError(`Content type ${contentType} is unsupported: expected ${Registry.PROMETHEUS_CONTENT_TYPE} or ${Registry.OPENMETRICS_CONTENT_TYPE}`);
    }
    this.#contentType = contentType;
  }

  /**
   * Every family, cluster-wide. Concurrent callers share one read. Like metrics(), it rejects
   * with a TimeoutError (`ERR_PCR_TIMEOUT`) past `collectTimeoutMs` or a RedisOperationError
   * (`ERR_PCR_REDIS`) when Redis cannot be read, never with this process's local figures alone: an
   * HTTP endpoint should answer 503 then (as the metrics server of this package does), so that
   * Prometheus marks the target down instead of recording a counter reset.
   */
  async collect(): Promise<MetricObjectWithValues[]> {
    return [...(await this.#shared()).values()];
  }

  /** One family (what a metric's `get()` returns); empty values when nobody wrote it yet. */
  async getFamily(name: string): Promise<MetricObjectWithValues> {
    const all = await this.#shared();
    const found = all.get(name);
    if (found) return found;
    const local = this.parts.dict.families.get(name);
    const def = local?.def;
    return { name, help: def?.help ?? '', type: def?.type ?? 'gauge', values: [], aggregator: 'sum' };
  }

  /**
   * The exposition text, like prom-client's `registry.metrics()`, bounded like collect(). Samples go
   * from the merge straight into the text (see render.ts). Concurrent callers share one read.
   */
  metrics(contentType: string = this.#contentType): Promise<string> {
    let text = this.#inflightText.get(contentType);
    if (!text) {
      text = this.#bounded(async (deadline) => {
        const writer = new ExpositionWriter(contentType);
        await this.#collectWithin(deadline, (meta) => {
          writer.family(meta.name, meta.help, meta.type);
          return writer.sample;
        });
        return writer.finish();
      }).finally(() => this.#inflightText.delete(contentType));
      this.#inflightText.set(contentType, text);
    }
    return text;
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
      const families = await this.#shared();
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

  #shared(): Promise<Map<string, MetricObjectWithValues>> {
    if (this.#pinned) return Promise.resolve(this.#pinned);
    if (!this.#inflight) {
      this.#inflight = this.#bounded((deadline) => this.#collectFamilies(deadline)).finally(() => {
        this.#inflight = undefined;
      });
    }
    return this.#inflight;
  }

  /**
   * Runs one collect, bounded as a whole (callbacks, both round trips, merge, rendering) by
   * `collectTimeoutMs`. Rejects with a TimeoutError (code ERR_PCR_TIMEOUT) or a RedisOperationError
   * (ERR_PCR_REDIS) rather than serve this process's local totals alone, which Prometheus would read
   * as a counter reset: HTTP integrations answer such a scrape with 503.
   */
  async #bounded<T>(work: (deadline: number) => Promise<T>): Promise<T> {
    const { stats, config } = this.parts;
    const deadline = performance.now() + config.collectTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TimeoutError(`collect: not done within collectTimeoutMs (${config.collectTimeoutMs} ms)`)), config.collectTimeoutMs);
    });
    const running = work(deadline);
    running.catch(() => {});
    try {
      return await Promise.race([running, expired]);
    } catch (error) {
      stats.collectFailures++;
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  async #collectFamilies(deadline: number): Promise<Map<string, MetricObjectWithValues>> {
    const out = new Map<string, MetricObjectWithValues>();
    await this.#collectWithin(deadline, (meta) => {
      const family: MetricObjectWithValues = { name: meta.name, help: meta.help, type: meta.type, values: [], aggregator: 'sum' };
      out.set(meta.name, family);
      return (labels, value, metricName) => {
        // A copy: the merge's labels objects are kept for the next scrape, and get() hands these out.
        const own = { ...labels };
        family.values.push(metricName === undefined ? { labels: own, value } : { labels: own, value, metricName });
      };
    });
    return out;
  }

  /** Reads and merges every family, in name order, handing each one's samples to the sink `open` gives. */
  async #collectWithin(deadline: number, open: (meta: FamilyMeta) => SampleSink): Promise<void> {
    const started = performance.now();
    const { dict, client, identity, stats } = this.parts;
    await Promise.all(this.parts.callbacks().map((cb) => cb()));
    const pacer = new Pacer(this.parts.config.sliceMs);
    let snapshots: FamilySnapshot[] = [];
    let live = new Set<string>([identity.id]);
    if (client) {
      const r = await this.#readRedis(client, deadline, pacer);
      live = r.live;
      snapshots = r.snapshots;
    } else {
      for (const family of dict.families.values()) snapshots.push(localSnapshot(family, identity.id, -1, 0));
    }
    const orders = { last: this.#orders, next: new Map<string, SeriesOrder>() };
    const merger = new FamilyMerger(stats, Date.now(), pacer, orders);
    const seen = new Set<string>();
    for (const s of snapshots.sort((a, b) => (a.meta.name < b.meta.name ? -1 : a.meta.name > b.meta.name ? 1 : 0))) {
      if (seen.has(s.meta.name)) {
        stats.bad('conflict');
        continue;
      }
      seen.add(s.meta.name);
      await merger.mergeInto(s, live, open(s.meta));
    }
    // Only the families of this collect are kept: one gone from Redis is forgotten.
    this.#orders = orders.next;
    stats.collects++;
    stats.processesLive = live.size;
    stats.lastCollectDurationMs = performance.now() - started;
  }

  async #readRedis(client: RedisStorageClient, deadline: number, pacer: Pacer): Promise<{ snapshots: FamilySnapshot[]; live: Set<string> }> {
    const { dict, config, identity, stats } = this.parts;
    const keys = client.keys;
    const localNowMs = Date.now();
    const left = () => Math.max(1, Math.round(deadline - performance.now()));
    const [index, all, liveSet, time] = await client.run(
      [
        { name: 'hgetall', args: [keys.families()], key: keys.families() },
        { name: 'zrange', args: [keys.processes(), 0, -1, 'WITHSCORES'], key: keys.processes() },
        { name: 'zrange', args: [keys.live(), 0, -1, 'WITHSCORES'], key: keys.live() },
        { name: 'time', args: [] },
      ],
      left(),
      'collect',
    );
    if (time!.error) throw new RedisOperationError(`collect: ${time!.error.message}`, { cause: time!.error });
    const [sec, usec] = time!.value as [string, string];
    const redisNowMs = Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
    const clockOffsetMs = redisNowMs - Math.round((localNowMs + Date.now()) / 2);
    const everyone = zsetIds(garbageOr(all!, stats), -Infinity);
    const live = new Set(zsetIds(garbageOr(liveSet!, stats), redisNowMs - config.liveTimeoutMs));
    live.add(identity.id);

    // Families: the index, plus this process's own (maybe not flushed yet).
    const reads = new Map<string, FamilyRead>();
    // ioredis turns an HGETALL reply into an object.
    const indexValue = garbageOr(index!, stats);
    const indexEntries = indexValue !== null && typeof indexValue === 'object' ? Object.entries(indexValue as Record<string, string>) : [];
    const localByHash = new Map<string, MetricFamily>();
    for (const f of dict.families.values()) localByHash.set(`${f.hash}|${f.typeMode}`, f);
    const addRead = (hash: string, typeMode: string) => {
      const id = `${hash}|${typeMode}`;
      if (reads.has(id)) return;
      if (/[{}]/.test(hash) || /[{}]/.test(typeMode)) {
        stats.bad('index');
        return;
      }
      const local = localByHash.get(id);
      const perProcess = typeMode.startsWith('gauge') || typeMode === 'summary';
      const ids = !perProcess ? [] : (typeMode.startsWith('gauge_live') ? [...live] : everyone).filter((p) => !(local && p === identity.id));
      reads.set(id, { hash, typeMode, local, processIds: ids });
    };
    for (const [hash, typeMode] of indexEntries) addRead(hash, typeMode);
    for (const f of dict.families.values()) addRead(f.hash, f.typeMode);

    const list = [...reads.values()];
    const seqField = seqFieldOf(identity);
    const replies = await client.run(
      list.map((r) => {
        const ks = [keys.meta(r.typeMode, r.hash), keys.cluster(r.typeMode, r.hash), keys.seq(r.typeMode, r.hash), ...r.processIds.map((p) => keys.process(r.typeMode, p, r.hash))];
        // The Buffer variant: ioredis would otherwise turn every bulk string of a 100,000-field reply
        // into a string in one synchronous pass; flatPairs() does it a slice at a time instead.
        return { name: 'pcrReadFamilyBuffer', args: [ks.length, ...ks, seqField], key: ks[0] };
      }),
      left(),
      'collect',
    );
    // A family Redis could not read fails the collect: serving it from local data alone would look
    // like a counter reset. (Garbage inside a family is handled by the script and skipped below.)
    const failed = replies.findIndex((reply) => reply.error);
    if (failed !== -1) {
      throw new RedisOperationError(`collect: reading family ${list[failed]!.hash} failed: ${replies[failed]!.error!.message}`, { cause: replies[failed]!.error });
    }
    // This process's own state is read in the same tick as the replies, against the seq Redis
    // reported: a batch in flight is then counted exactly once. The rest may take several ticks.
    const locals = list.map((r, i) => {
      if (!r.local) return undefined;
      const sums = new Map<string, number>();
      addLocalSums(r.local, Number((replies[i]!.value as unknown[])[2]), sums);
      return { sums, fields: localProcessFields(r.local, clockOffsetMs) };
    });
    const snapshots: FamilySnapshot[] = [];
    for (let i = 0; i < list.length; i++) {
      const r = list[i]!;
      const [metaFlat, clusterFlat, , ...procs] = replies[i]!.value as [unknown, unknown, number, ...unknown[]];
      const meta = r.local ? metaOfFamily(r.local) : parseMeta(metaFlat);
      if (!meta) {
        stats.bad('meta');
        continue;
      }
      const sums = new Map<string, number>();
      for (const [f, v] of flatPairs(clusterFlat, stats)) {
        const x = Number(v);
        if (v === '' || Number.isNaN(x)) stats.bad('value');
        else sums.set(f, x);
        const pause = pacer.step();
        if (pause) await pause;
      }
      const processes = new Map<string, ProcessFields>();
      for (let j = 0; j < r.processIds.length; j++) {
        const fields = new Map<string, string>();
        for (const [f, v] of flatPairs(procs[j], stats)) {
          fields.set(f, v);
          const pause = pacer.step();
          if (pause) await pause;
        }
        if (fields.size > 0) processes.set(r.processIds[j]!, fields);
      }
      const local = locals[i];
      if (local) {
        for (const [f, x] of local.sums) sums.set(f, (sums.get(f) ?? 0) + x);
        processes.set(identity.id, local.fields);
      }
      snapshots.push({ meta, sums, processes });
    }
    return { snapshots, live };
  }
}

function localSnapshot(family: MetricFamily, id: string, appliedSeq: number, clockOffsetMs: number): FamilySnapshot {
  const sums = new Map<string, number>();
  addLocalSums(family, appliedSeq, sums);
  return { meta: metaOfFamily(family), sums, processes: new Map([[id, localProcessFields(family, clockOffsetMs)]]) };
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
