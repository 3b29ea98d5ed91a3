import { Registry } from 'prom-client';
import type { ResolvedConfig } from '../config.js';
import type { ProcessIdentity } from '../identity.js';
import type { Logger } from '../log.js';
import type { RedisStorageClient } from '../redis/client.js';
import type { MetricFamily, MetricType, GaugeMode } from '../store/family.js';
import { GAUGE_MODES } from '../store/family.js';
import type { RedisStorageDict } from '../store/storage-dict.js';
import type { SelfStats } from '../stats.js';
import type { MetricObjectWithValues } from '../metrics/base.js';
import { FamilyMerger } from './merge.js';
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
 * semantics, adds this process's unflushed state, and renders through prom-client.
 */
export class RedisMultiProcessCollector {
  #contentType: string = Registry.PROMETHEUS_CONTENT_TYPE;
  #inflight: Promise<Map<string, MetricObjectWithValues>> | undefined;
  /** The snapshot a wrapped registry is rendering: its metrics' get() calls read it, not Redis again. */
  #pinned: Map<string, MetricObjectWithValues> | undefined;
  readonly #wrapped = new WeakSet<Registry>();

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

  /** Every family, cluster-wide. Concurrent callers share one read. */
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

  /** The exposition text, like prom-client's `registry.metrics()`. */
  async metrics(contentType: string = this.#contentType): Promise<string> {
    const families = await this.collect();
    return render(families, contentType);
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
      this.#inflight = this.#collectOnce().finally(() => {
        this.#inflight = undefined;
      });
    }
    return this.#inflight;
  }

  async #collectOnce(): Promise<Map<string, MetricObjectWithValues>> {
    const started = performance.now();
    const { dict, client, identity, stats } = this.parts;
    await Promise.all(this.parts.callbacks().map((cb) => cb()));
    const snapshots: FamilySnapshot[] = [];
    let live = new Set<string>([identity.id]);
    let redisNowMs = Date.now();
    try {
      if (client) {
        const r = await this.#readRedis(client);
        live = r.live;
        redisNowMs = r.redisNowMs;
        snapshots.push(...r.snapshots);
      } else {
        for (const family of dict.families.values()) snapshots.push(localSnapshot(family, identity.id, -1, 0));
      }
    } catch (error) {
      stats.collectFailures++;
      throw error;
    }
    const merger = new FamilyMerger(stats, Date.now());
    const out = new Map<string, MetricObjectWithValues>();
    for (const s of snapshots.sort((a, b) => (a.meta.name < b.meta.name ? -1 : a.meta.name > b.meta.name ? 1 : 0))) {
      if (out.has(s.meta.name)) {
        stats.bad('conflict');
        continue;
      }
      out.set(s.meta.name, merger.merge(s, live));
    }
    stats.collects++;
    stats.processesLive = live.size;
    stats.lastCollectDurationMs = performance.now() - started;
    void redisNowMs;
    return out;
  }

  async #readRedis(client: RedisStorageClient): Promise<{ snapshots: FamilySnapshot[]; live: Set<string>; redisNowMs: number }> {
    const { dict, config, identity, stats } = this.parts;
    const keys = client.keys;
    const localNowMs = Date.now();
    const [index, all, liveSet, time] = await client.run(
      [
        { name: 'hgetall', args: [keys.families()], key: keys.families() },
        { name: 'zrange', args: [keys.processes(), 0, -1, 'WITHSCORES'], key: keys.processes() },
        { name: 'zrange', args: [keys.live(), 0, -1, 'WITHSCORES'], key: keys.live() },
        { name: 'time', args: [] },
      ],
      config.collectTimeoutMs,
      'collect',
    );
    for (const r of [index, all, liveSet, time]) if (r!.error) throw r!.error;
    const [sec, usec] = time!.value as [string, string];
    const redisNowMs = Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
    const clockOffsetMs = redisNowMs - Math.round((localNowMs + Date.now()) / 2);
    const everyone = zsetIds(all!.value, -Infinity);
    const live = new Set(zsetIds(liveSet!.value, redisNowMs - config.liveTimeoutMs));
    live.add(identity.id);

    // Families: the index, plus this process's own (maybe not flushed yet).
    const reads = new Map<string, FamilyRead>();
    // ioredis turns an HGETALL reply into an object.
    const indexEntries = Object.entries((index!.value as Record<string, string> | null) ?? {});
    const localByHash = new Map<string, MetricFamily>();
    for (const f of dict.families.values()) localByHash.set(`${f.hash}|${f.typeMode}`, f);
    const addRead = (hash: string, typeMode: string) => {
      const id = `${hash}|${typeMode}`;
      if (reads.has(id)) return;
      const local = localByHash.get(id);
      const perProcess = typeMode.startsWith('gauge') || typeMode === 'summary';
      const ids = !perProcess ? [] : (typeMode.startsWith('gauge_live') ? [...live] : everyone).filter((p) => !(local && p === identity.id));
      reads.set(id, { hash, typeMode, local, processIds: ids });
    };
    for (const [hash, typeMode] of indexEntries) addRead(hash, typeMode);
    for (const f of dict.families.values()) addRead(f.hash, f.typeMode);

    const list = [...reads.values()];
    const replies = await client.run(
      list.map((r) => {
        const ks = [keys.meta(r.typeMode, r.hash), keys.cluster(r.typeMode, r.hash), keys.seq(r.typeMode, r.hash), ...r.processIds.map((p) => keys.process(r.typeMode, p, r.hash))];
        return { name: 'pcrReadFamily', args: [ks.length, ...ks, identity.id], key: ks[0] };
      }),
      config.collectTimeoutMs,
      'collect',
    );
    // From here to the end, no await: the local state is read in the same tick as the replies.
    const snapshots: FamilySnapshot[] = [];
    list.forEach((r, i) => {
      const reply = replies[i]!;
      if (reply.error) {
        stats.bad('family');
        this.parts.logger.debug('collect.family_failed', { hash: r.hash, message: reply.error.message });
        if (r.local) snapshots.push(localSnapshot(r.local, identity.id, -1, clockOffsetMs));
        return;
      }
      const [metaFlat, clusterFlat, mySeq, ...procs] = reply.value as [unknown, unknown, number, ...unknown[]];
      const meta = r.local ? metaOfFamily(r.local) : parseMeta(metaFlat);
      if (!meta) {
        stats.bad('meta');
        return;
      }
      const sums = new Map<string, number>();
      for (const [f, v] of flatPairs(clusterFlat, stats)) {
        const x = Number(v);
        if (v === '' || Number.isNaN(x)) stats.bad('value');
        else sums.set(f, x);
      }
      const processes = new Map<string, ProcessFields>();
      r.processIds.forEach((p, j) => {
        const fields = new Map<string, string>(flatPairs(procs[j], stats));
        if (fields.size > 0) processes.set(p, fields);
      });
      if (r.local) {
        addLocalSums(r.local, Number(mySeq), sums);
        processes.set(identity.id, localProcessFields(r.local, clockOffsetMs));
      }
      snapshots.push({ meta, sums, processes });
    });
    return { snapshots, live, redisNowMs };
  }
}

function localSnapshot(family: MetricFamily, id: string, appliedSeq: number, clockOffsetMs: number): FamilySnapshot {
  const sums = new Map<string, number>();
  addLocalSums(family, appliedSeq, sums);
  return { meta: metaOfFamily(family), sums, processes: new Map([[id, localProcessFields(family, clockOffsetMs)]]) };
}

function zsetIds(flat: unknown, minScore: number): string[] {
  const out: string[] = [];
  if (!Array.isArray(flat)) return out;
  for (let i = 0; i + 1 < flat.length; i += 2) if (Number(flat[i + 1]) >= minScore) out.push(String(flat[i]));
  return out;
}

function flatPairs(flat: unknown, stats: SelfStats): Array<[string, string]> {
  if (flat === 'WRONGTYPE') {
    stats.bad('key');
    return [];
  }
  if (!Array.isArray(flat)) return [];
  const out: Array<[string, string]> = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([String(flat[i]), String(flat[i + 1])]);
  return out;
}

const TYPES: readonly MetricType[] = ['counter', 'gauge', 'histogram', 'summary'];

function parseMeta(flat: unknown): FamilyMeta | null {
  if (!Array.isArray(flat) || flat.length === 0) return null;
  const m = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) m.set(String(flat[i]), String(flat[i + 1]));
  const type = m.get('type') as MetricType;
  const name = m.get('name');
  if (!name || !TYPES.includes(type)) return null;
  const mode = (m.get('mode') || undefined) as GaugeMode | undefined;
  if (type === 'gauge' && (!mode || !GAUGE_MODES.includes(mode))) return null;
  try {
    const labelNames = JSON.parse(m.get('labelNames') ?? '[]') as string[];
    const buckets = JSON.parse(m.get('buckets') ?? '[]') as number[];
    const percentiles = JSON.parse(m.get('percentiles') ?? '[]') as number[];
    if (![labelNames, buckets, percentiles].every(Array.isArray)) return null;
    return {
      name, help: m.get('help') ?? '', type, mode, labelNames, buckets, percentiles,
      maxAgeSeconds: Number(m.get('maxAgeSeconds') ?? 0) || 0,
      ageBuckets: Number(m.get('ageBuckets') ?? 0) || 0,
    };
  } catch {
    return null;
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

/** Renders families through prom-client's own formatting. */
export async function render(families: readonly MetricObjectWithValues[], contentType: string): Promise<string> {
  const registry = new Registry();
  registry.setContentType(contentType as typeof Registry.PROMETHEUS_CONTENT_TYPE);
  for (const family of families) registry.registerMetric(proxy(family) as never);
  return registry.metrics();
}
