// The library's own timers come from node:timers, not the globals: an app's fake timers (Jest's
// useFakeTimers) must not stop a collect or a flush.
import { setImmediate, setTimeout, clearTimeout } from 'node:timers';
import { Registry } from 'prom-client';
import type { ResolvedConfig } from '../config.js';
import { seqFieldOf, type ProcessIdentity } from '../identity.js';
import type { Logger } from '../log.js';
import type { RedisStorageClient } from '../redis/client.js';
import { RedisOperationError, RestoringError, TimeoutError } from '../errors.js';
import { Pacer } from '../pacer.js';
import type { MetricFamily } from '../store/family.js';
import type { RedisStorageDict } from '../store/storage-dict.js';
import type { SeriesStore } from '../store/series.js';
import type { Exemplar } from '../store/values.js';
import type { SelfStats } from '../stats.js';
import { ExpositionWriter } from './render.js';
import { ProtobufWriter } from './protobuf.js';
import { flatPairs, garbageOr, parseExemplar, processIds, zsetEntries, zsetScores } from './decode.js';
import { parseMeta, printedNames } from './meta.js';
import { BadDataReporter } from './bad-data.js';
import { byCodeUnits, sortPaced } from './paced-sort.js';
import { GAUGE_MODES } from '../store/definition.js';
import { RestoreGate } from './restore-gate.js';
import { RoundingFloor } from './rounding-floor.js';
import { FamilyMerger, type SeriesOrder } from './merge.js';
import { emitOwnSeries } from './local.js';
import { ShapeBuilder, type MetricObjectWithValues } from './shape.js';
import type { SeriesSink } from './sink.js';
import { addLocalExemplars, addLocalCreated, addLocalSums, localProcessFields, metaOfFamily, type FamilySnapshot, type ProcessFields } from './snapshot.js';

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

/** What a families index entry may be: a family hash (familyHash()) and a type segment of our keys. */
const FAMILY_HASH = /^[0-9a-f]{16}$/;
const TYPE_MODES: ReadonlySet<string> = new Set(['counter', 'histogram', 'summary', ...GAUGE_MODES.map((m) => `gauge_${m}`)]);

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
 * With Redis disabled it serves this process's own metrics, exactly as prom-client would.
 */
export class RedisMultiProcessCollector {
  #contentType: string = Registry.PROMETHEUS_CONTENT_TYPE;
  /** metrics() and exposition() in progress, by format and deadline: concurrent scrapes share one read. */
  readonly #inflightText = new Map<string, Promise<string | Buffer>>();
  #inflightAll: Promise<MetricObjectWithValues[]> | undefined;
  /** The snapshot a wrapped registry is rendering: its metrics' get() calls read it, not Redis again. */
  #pinned: Map<string, MetricObjectWithValues> | undefined;
  readonly #wrapped = new WeakSet<Registry>();
  /** Counter series orders of the last full collect (see SeriesOrder). */
  #orders = new Map<string, SeriesOrder>();
  /** Single-family reads asked for in this turn of the event loop: they share one read. */
  #batch: { readonly families: Set<MetricFamily>; readonly done: Promise<Map<MetricFamily, FamilySnapshot>> } | undefined;
  /** Holds collects back while Redis is being restored after a loss (see RestoreGate). */
  readonly #gate: RestoreGate;
  /** Keeps float sums from going down by a rounding error (see RoundingFloor). */
  readonly #floor = new RoundingFloor();

  /** Counts what the collect skips, and warns once per kind. */
  readonly #bad: BadDataReporter;

  constructor(readonly parts: CollectorParts) {
    this.#bad = new BadDataReporter(parts.stats, parts.logger);
    this.#gate = new RestoreGate({
      fallbackLiveTimeoutMs: parts.config.liveTimeoutMs,
      onGiveUp: (processId, why) => parts.logger.warn(`collect: no longer waiting for process ${processId} to restore what Redis lost (${why}): its part of the totals is lost`),
    });
  }

  /**
   * @internal Makes this collector's first read wait for writers it cannot see after a loss (see
   * RestoreGate.waitsForUnseenWriters): the metrics server sets it before its first scrape.
   */
  waitForUnseenWriters(): void {
    this.#gate.waitsForUnseenWriters = true;
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
    const timeoutMs = Math.min(this.parts.config.collectTimeoutMs, options.timeoutMs ?? Infinity);
    const key = `${kind}|${timeoutMs}`;
    let body = this.#inflightText.get(key);
    if (!body) {
      body = this.#bounded(async (pacer) => {
        const writer = kind === 'protobuf' ? new ProtobufWriter() : new ExpositionWriter(kind === 'openmetrics' ? Registry.OPENMETRICS_CONTENT_TYPE : Registry.PROMETHEUS_CONTENT_TYPE);
        // Text 0.0.4 has no `_created`: its scrapes skip the created hashes.
        await this.#collectAll(pacer, writer, kind !== 'text');
        return writer.finish();
      }, timeoutMs).finally(() => this.#inflightText.delete(key));
      this.#inflightText.set(key, body);
    }
    return body;
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
          const read = await this.#readRedis(this.parts.client!, pacer, [...families]);
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
      const { snapshots, live } = await this.#readRedis(client, pacer, undefined, withCreated);
      this.#lastLive = live;
      const orders = { last: this.#orders, next: new Map<string, SeriesOrder>() };
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

  /** Waits for the first connection (within the collect's time), then reads. */
  async #readRedis(client: RedisStorageClient, pacer: Pacer, only?: readonly MetricFamily[], withCreated = false): Promise<{ snapshots: FamilySnapshot[]; live: Set<string> }> {
    const { dict, identity, config } = this.parts;
    const bad = this.#bad;
    // (Right after start, client.run() waits for the first connection within this time.)
    const left = () => Math.max(1, Math.round(pacer.deadline - performance.now()));
    const keys = client.keys;
    const localNowMs = Date.now();
    const [index, all, liveSet, time, restoringSet] = await client.run(
      [
        only ? { name: 'time', args: [] } : { name: 'hgetall', args: [keys.families()], key: keys.families() },
        { name: 'zrange', args: [keys.processes(), 0, -1, 'WITHSCORES'], key: keys.processes() },
        { name: 'zrange', args: [keys.live(), 0, -1, 'WITHSCORES'], key: keys.live() },
        { name: 'time', args: [] },
        { name: 'zrange', args: [keys.restoring(), 0, -1, 'WITHSCORES'], key: keys.restoring() },
      ],
      left(),
      'collect',
    );
    pacer.check();
    if (time!.error) throw new RedisOperationError(`collect: ${time!.error.message}`, { cause: time!.error });
    const [sec, usec] = time!.value as [string, string];
    const redisNowMs = Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
    const clockOffsetMs = redisNowMs - Math.round((localNowMs + Date.now()) / 2);
    const allFlat = garbageOr(all!, bad);
    const liveFlat = garbageOr(liveSet!, bad);
    const everyone = processIds(zsetEntries(allFlat, -Infinity), config.maxProcessesPerFamily, bad);
    // Each score is its writer's own deadline (last heartbeat + that writer's REDIS_LIVE_TIMEOUT_MS).
    const live = new Set(processIds(zsetEntries(liveFlat, redisNowMs), config.maxProcessesPerFamily, bad));
    live.add(identity.id);

    // Families: the index, plus this process's own (maybe not flushed yet).
    const reads = new Map<string, FamilyRead>();
    const localByHash = new Map<string, MetricFamily>();
    for (const f of only ?? dict.families.values()) if (!f.isOverLimit) localByHash.set(`${f.hash}|${f.typeMode}`, f);
    const addRead = (hash: string, typeMode: string) => {
      const id = `${hash}|${typeMode}`;
      if (reads.has(id)) return;
      const local = localByHash.get(id);
      const perProcess = typeMode.startsWith('gauge') || typeMode === 'summary';
      const ids = !perProcess ? [] : (typeMode.startsWith('gauge_live') ? [...live] : everyone).filter((p) => !(local && p === identity.id));
      reads.set(id, { hash, typeMode, local, processIds: ids });
    };
    // This process's own families first: they are read whatever the index holds.
    for (const f of localByHash.values()) addRead(f.hash, f.typeMode);
    // Whether this read saw every family of the index (a family left out past maxFamilies is no loss).
    let readsAll = !only;
    if (!only) {
      // ioredis turns an HGETALL reply into an object.
      const indexValue = garbageOr(index!, bad);
      const entries = (indexValue !== null && typeof indexValue === 'object' ? indexValue : {}) as Record<string, string>;
      // An entry becomes key names: a hash with braces or a type we do not write is no family of ours.
      // (for...in, not Object.entries: no 50,000 pairs built in one block for a hostile index.)
      let ids: string[] = [];
      for (const hash in entries) {
        const typeMode = entries[hash]!;
        if (FAMILY_HASH.test(hash) && TYPE_MODES.has(typeMode)) ids.push(`${hash}|${typeMode}`);
        else bad.bad('index');
        const pause = pacer.step();
        if (pause) await pause;
      }
      // Past maxFamilies, the same ones at every scrape: the first by hash.
      if (ids.length + reads.size > config.maxFamilies) ids = await sortPaced(ids, byCodeUnits, pacer);
      let skipped = 0;
      for (const id of ids) {
        if (reads.has(id)) continue;
        if (reads.size >= config.maxFamilies) skipped++;
        else addRead(id.slice(0, 16), id.slice(17));
      }
      if (skipped > 0) {
        bad.bad('too-many-families', skipped);
        readsAll = false;
      }
    }

    const list = [...reads.values()];
    const seqField = seqFieldOf(identity);
    // Built a slice at a time: with 10,000 processes in the registry, each gauge family names 10,000 keys.
    const commands: Array<{ name: string; args: Array<string | number>; key: string }> = [];
    for (const r of list) {
      const ks = [keys.meta(r.typeMode, r.hash), keys.cluster(r.typeMode, r.hash), keys.seq(r.typeMode, r.hash), keys.exemplar(r.typeMode, r.hash), keys.created(r.typeMode, r.hash), ...r.processIds.map((p) => keys.process(r.typeMode, p, r.hash))];
      // The Buffer variant: ioredis would otherwise turn every bulk string of a 100,000-field reply
      // into a string in one synchronous pass; flatPairs() does it a slice at a time instead.
      // With the family's epoch, its birth and whether it began from a loss (the last three values), for the restore gate.
      commands.push({ name: 'pcrReadFamilyBuffer', args: [ks.length, ...ks, seqField, withCreated ? '1' : '0', '1'], key: ks[0]! });
      const pause = pacer.step();
      if (pause) await pause;
    }
    const replies = await client.run(commands, left(), 'collect');
    pacer.check();
    // A family Redis could not read fails the collect: serving it from local data alone would look
    // like a counter reset. (Garbage inside a family is handled by the script and skipped below.)
    const failed = replies.findIndex((reply) => reply.error);
    if (failed !== -1) {
      throw new RedisOperationError(`collect: reading family ${list[failed]!.hash} failed: ${replies[failed]!.error!.message}`, { cause: replies[failed]!.error });
    }
    const epochs = new Map<string, { epoch: string; bornMs: number; afterLoss: boolean }>();
    for (let i = 0; i < list.length; i++) {
      const value = replies[i]!.value as unknown[];
      const [epoch, born, afterLoss] = value.slice(-3);
      const bornMs = Number(born);
      epochs.set(`${list[i]!.hash}|${list[i]!.typeMode}`, {
        epoch: Buffer.isBuffer(epoch) ? epoch.toString('latin1') : typeof epoch === 'string' ? epoch : '',
        bornMs: Number.isFinite(bornMs) ? bornMs : -1,
        afterLoss: afterLoss === 1,
      });
    }
    const restoringFlat = garbageOr(restoringSet!, bad);
    const held = this.#gate.check({ readsAll, nowMs: redisNowMs, processes: zsetScores(allFlat), live: zsetScores(liveFlat), restoring: zsetScores(restoringFlat), epochs });
    if (held) throw new RestoringError(`collect: ${held}`);
    // This process's own state is read in the same tick as the replies, against the seq Redis
    // reported: a batch in flight is then counted exactly once. The rest may take several ticks.
    const locals = list.map((r, i) => {
      if (!r.local) return undefined;
      const sums = new Map<string, number>();
      addLocalSums(r.local, Number((replies[i]!.value as unknown[])[2]), sums);
      const exemplars = new Map<string, Exemplar>();
      addLocalExemplars(r.local, exemplars);
      return { sums, exemplars, fields: localProcessFields(r.local, clockOffsetMs) };
    });
    const snapshots: FamilySnapshot[] = [];
    for (let i = 0; i < list.length; i++) {
      const r = list[i]!;
      const [metaFlat, clusterFlat, , exemplarFlat, createdFlat, ...procs] = (replies[i]!.value as unknown[]).slice(0, -3) as [unknown, unknown, number, unknown, unknown, ...unknown[]];
      const meta = r.local ? metaOfFamily(r.local) : parseMeta(metaFlat, r.hash, r.typeMode, config);
      const paused = pacer.due();
      if (paused) await paused;
      if (typeof meta === 'string') {
        bad.bad(meta);
        continue;
      }
      const sums = new Map<string, number>();
      for (const [f, v] of flatPairs(clusterFlat, bad)) {
        const x = Number(v);
        if (v === '' || Number.isNaN(x)) bad.bad('value');
        else sums.set(f, x);
        const pause = pacer.step();
        if (pause) await pause;
      }
      const exemplars = new Map<string, Exemplar>();
      for (const [f, v] of flatPairs(exemplarFlat, bad)) {
        const e = parseExemplar(v);
        if (e) exemplars.set(f, e);
        else bad.bad('exemplar');
      }
      const created = new Map<string, number>();
      if (withCreated) for (const [f, v] of flatPairs(createdFlat, bad)) {
        const ms = Number(v);
        if (v !== '' && Number.isSafeInteger(ms) && ms >= 0) created.set(f, ms);
        else bad.bad('created');
        const pause = pacer.step();
        if (pause) await pause;
      }
      const processes = new Map<string, ProcessFields>();
      for (let j = 0; j < r.processIds.length; j++) {
        const fields = new Map<string, string>();
        for (const [f, v] of flatPairs(procs[j], bad)) {
          fields.set(f, v);
          const pause = pacer.step();
          if (pause) await pause;
        }
        if (fields.size > 0) processes.set(r.processIds[j]!, fields);
      }
      const local = locals[i];
      if (local) {
        for (const [f, x] of local.sums) sums.set(f, (sums.get(f) ?? 0) + x);
        for (const [f, e] of local.exemplars) {
          const known = exemplars.get(f);
          if (!known || e.timestamp >= known.timestamp) exemplars.set(f, e);
        }
        processes.set(identity.id, local.fields);
        if (withCreated) addLocalCreated(r.local!, clockOffsetMs, created);
      }
      this.#floor.apply(`${r.hash}|${r.typeMode}`, sums);
      snapshots.push({ meta, sums, processes, exemplars, created, local: r.local });
    }
    return { snapshots, live };
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
