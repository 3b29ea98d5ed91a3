// The library's own timers come from node:timers, not the globals: an app's fake timers (Jest's
// useFakeTimers) must not stop a collect or a flush.
import { setInterval, clearInterval } from 'node:timers';
import PQueue from 'p-queue';
import { PromClientRedisError, RedisOperationError } from '../errors.js';
import type { ResolvedConfig } from '../config.js';
import { seqFieldOf, type ProcessIdentity } from '../identity.js';
import type { Logger } from '../log.js';
import type { RedisCommand, RedisStorageClient, Reply } from '../redis/client.js';
import type { RedisStorageDict } from '../store/storage-dict.js';
import { drainFamily, flushArgs, flushKeys, metaPairs } from './batch.js';
import { Pacer } from '../pacer.js';
import { FLAG_META, FLAG_RESET, type FamilyBatch, type MetricFamily } from '../store/family.js';
import type { SelfStats } from '../stats.js';

/** Field/value pairs per Lua call: bounds the time one call holds Redis. */
const MAX_PAIRS_PER_CALL = 2000;

/**
 * Writes the shadow store to Redis on an interval: one flush in flight (p-queue), an `unref()`ed
 * timer, errors counted and reported but never thrown from the timer. A batch stays in its family's
 * outbox until acknowledged and is re-sent unchanged, so a lost reply never double counts.
 */
export class Flusher {
  readonly #queue = new PQueue({ concurrency: 1 });
  #queued: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #seq = 0;
  /** The first refresh is due a third of the TTL after start: the flush script sets the TTL itself. */
  #lastTtlRefreshMs = Date.now();
  /** Processes the heartbeat pruned: their fields are removed from every family's seq hash. */
  #pruned: string[] = [];
  readonly #indexed = new Set<MetricFamily>();
  /** Check every flushed family's epoch at the next flush: Redis may have lost data (set on reconnection, and when the heartbeat finds our registry entry gone). */
  #verify = false;
  #hasBeaten = false;
  #isStopped = false;
  /** Families whose keys hold garbage, warned about once. */
  readonly #warned = new WeakSet<MetricFamily>();

  constructor(
    readonly dict: RedisStorageDict,
    readonly client: RedisStorageClient,
    readonly config: ResolvedConfig,
    readonly identity: ProcessIdentity,
    readonly logger: Logger,
    readonly stats: SelfStats,
  ) {
    // A new connection may lead to a server that lost our data (restart without persistence,
    // failover to an empty replica); families nobody updates would never learn it by themselves.
    let isFirst = true;
    client.redis.on('ready', () => {
      if (isFirst) {
        isFirst = false;
        return;
      }
      this.#verify = true;
      if (!this.#isStopped) this.flush().catch(() => {});
    });
    // A Redis Cluster client stays `ready` while one shard fails over (maybe to an empty replica);
    // it reports the new master as a new node.
    if (client.isCluster()) client.redis.on('+node', () => (this.#verify = true));
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      // Before the first connection the flush would only wait for it: the first `ready` flushes.
      if (!this.client.hasBeenReady) return;
      this.flush().catch(() => {
        // Counted and logged by #flushOnce; the data stays for the next tick.
      });
    }, this.config.flushIntervalMs);
    this.#timer.unref();
  }

  stop(): void {
    this.#isStopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Forces a flush; calls made while one waits to start share it. */
  flush(mode: 'beat' | 'exit' = 'beat'): Promise<void> {
    if (mode === 'beat' && this.#queued) return this.#queued;
    let started = false;
    let run: Promise<void> | undefined;
    // p-queue may start the task synchronously, before `run` is assigned.
    run = this.#queue.add(async () => {
      started = true;
      if (run !== undefined && this.#queued === run) this.#queued = undefined;
      await this.#flushOnce(mode);
    }) as Promise<void>;
    // A flush that has started has drained already: later callers need the next one.
    if (mode === 'beat' && !started) this.#queued = run;
    return run;
  }

  async idle(): Promise<void> {
    await this.#queue.onIdle();
  }

  /** Batches not yet acknowledged, by family (for the collector's read-your-writes). */
  pendingOf(family: MetricFamily): readonly FamilyBatch[] {
    return family.pending;
  }

  async #flushOnce(mode: 'beat' | 'exit'): Promise<void> {
    const started = performance.now();
    const keys = this.client.keys;
    const id = this.identity.id;
    const seqField = seqFieldOf(this.identity);
    const nowMs = Date.now();
    const commands: RedisCommand[] = [];
    const batches: FamilyBatch[] = [];

    // Families with unacknowledged batches re-send them first, unchanged; their new deltas wait.
    const dirty = this.dict.takeDirtyFamilies();
    const retrying = new Set<MetricFamily>();
    for (const family of this.dict.families.values()) {
      if (family.pending.length > 0) {
        retrying.add(family);
        batches.push(...family.pending);
      }
    }
    const pacer = new Pacer(this.config.sliceMs);
    const sent = new Set<MetricFamily>(retrying);
    for (const family of dirty) {
      if (retrying.has(family) || this.dict.families.get(family.def.name) !== family) {
        if (retrying.has(family)) this.dict.onFamilyDirty(family);
        continue;
      }
      const reset = family.needsReset;
      family.needsReset = false;
      const allPerProcess = family.resendAll;
      family.resendAll = false;
      const batch = await drainFamily(family, 0, nowMs, { reset, meta: !family.metaSent, allPerProcess }, pacer);
      for (const chunk of split(batch, () => ++this.#seq)) {
        family.pending.push(chunk);
        batches.push(chunk);
      }
      sent.add(family);
    }
    // An empty batch runs the epoch check of the script for a family with nothing to send.
    const verify = this.#verify;
    this.#verify = false;
    if (verify) {
      for (const family of this.dict.families.values()) {
        if (sent.has(family) || family.knownEpoch === '') continue;
        const check: FamilyBatch = { family, seq: ++this.#seq, flags: 0, clientNowMs: nowMs, sums: [], sets: [], dels: [], exemplars: [] };
        family.pending.push(check);
        batches.push(check);
      }
    }

    commands.push({ name: 'pcrHeartbeat', args: [keys.processes(), keys.live(), id, this.config.ttlSeconds * 1000, mode], key: keys.processes() });
    // The family of each index HSET, by command position: its reply marks the family indexed.
    const indexing = new Map<number, MetricFamily>();
    const index = (f: MetricFamily): void => {
      indexing.set(commands.length, f);
      commands.push({ name: 'hset', args: [keys.families(), f.hash, f.typeMode], key: keys.families() });
    };
    for (const batch of batches) {
      const f = batch.family;
      if (!this.#indexed.has(f) || (batch.flags & FLAG_RESET) !== 0) index(f);
      const named = flushKeys(batch, keys, id);
      commands.push({
        name: 'pcrFlushFamily',
        args: [named.keys.length, ...named.keys, named.roles, ...flushArgs(batch, seqField, this.config.ttlSeconds, metaPairs(f))],
        key: named.keys[0],
      });
    }
    const pruned = this.#pruned;
    this.#pruned = [];
    if (pruned.length > 0) {
      for (const f of this.dict.families.values()) {
        commands.push({ name: 'pcrPruneSeq', args: [keys.seq(f.typeMode, f.hash), ...pruned], key: keys.seq(f.typeMode, f.hash) });
      }
    }
    // Idle per-process hashes of a live process must not expire: refresh them well within the TTL.
    if (nowMs - this.#lastTtlRefreshMs >= (this.config.ttlSeconds * 1000) / 3) {
      this.#lastTtlRefreshMs = nowMs;
      // And check every family's epoch at the next flush: a safety net for a loss no event told of
      // (one Cluster node restarted empty behind the same address).
      this.#verify = true;
      for (const f of this.dict.families.values()) {
        // Also re-index, in case the node holding the index lost it.
        if (this.#indexed.has(f)) index(f);
        if ((f.def.type === 'gauge' || f.def.type === 'summary') && f.knownEpoch !== '') {
          commands.push({ name: 'expire', args: [keys.process(f.typeMode, id, f.hash), this.config.ttlSeconds], key: keys.seq(f.typeMode, f.hash) });
        }
      }
    }

    let replies: Reply[];
    try {
      replies = await this.client.run(commands, this.config.flushTimeoutMs, 'flush', this.config.waitReplicas);
    } catch (error) {
      // A flush that never saw a connection is a deploy starting, not a fault to alert on.
      if (this.client.hasBeenReady) this.stats.flushFailed(error as Error);
      if (pruned.length > 0) this.#pruned.push(...pruned);
      if (verify) this.#verify = true;
      this.logger.debug('flush.failed', { message: (error as Error).message, batches: batches.length });
      throw error;
    }

    let failures = 0;
    let firstError: Error | undefined;
    let ci = 0;
    for (const command of commands) {
      const reply = replies[ci]!;
      const indexed = indexing.get(ci++);
      if (command.name === 'pcrHeartbeat') {
        if (reply.error) {
          failures++;
          firstError ??= reply.error;
        } else {
          const [, wasKnown, ...dead] = reply.value as [string, number, ...string[]];
          this.#pruned.push(...dead);
          // Our registry entry vanished: the node may have lost the families too. Check them now.
          if (this.#hasBeaten && wasKnown === 0 && mode === 'beat') this.#verify = true;
          this.#hasBeaten = true;
        }
      } else if (indexed !== undefined && !reply.error) {
        this.#indexed.add(indexed);
      }
    }
    // Family replies, in batch order.
    ci = 0;
    let bi = 0;
    for (const command of commands) {
      const reply = replies[ci++]!;
      if (command.name !== 'pcrFlushFamily') continue;
      const batch = batches[bi++]!;
      if (reply.error) {
        failures++;
        firstError ??= reply.error;
        continue;
      }
      const [status, epochOrKey, repaired] = reply.value as [number, string, number];
      if (status === -2) {
        // Garbage where one of the family's keys should be: nothing was applied. The batch waits
        // (and the family's newer deltas behind it) until someone removes the garbage.
        failures++;
        this.stats.bad('flush-key');
        firstError ??= new RedisOperationError(`flush: key \`${epochOrKey}\` holds something else than a hash: family \`${batch.family.def.name}\` waits until it is removed`);
        if (!this.#warned.has(batch.family)) {
          this.#warned.add(batch.family);
          this.logger.warn(`key \`${epochOrKey}\` holds something else than a hash: updates of \`${batch.family.def.name}\` are kept in memory until it is removed`);
        }
        continue;
      }
      if (repaired > 0) this.stats.bad('repaired', repaired);
      this.#acknowledge(batch, [status, epochOrKey]);
    }
    this.stats.flushDone(performance.now() - started, batches.length, failures);
    this.logger.debug('flush', { batches: batches.length, failures, ms: Math.round(performance.now() - started) });
    // Data Redis lost goes back at once, not one interval later.
    if (mode === 'beat' && !this.#isStopped && (this.#verify || batches.some((b) => b.family.needsReset))) {
      this.flush().catch(() => {});
    }
    if (firstError) {
      // Errors the client already explained (AuthError, ReplicationError, ...) keep their code.
      if (firstError instanceof PromClientRedisError) throw firstError;
      throw new RedisOperationError(`flush: ${failures} of ${commands.length} commands failed, first: ${firstError.message}`, { cause: firstError });
    }
  }

  #acknowledge(batch: FamilyBatch, [status, epoch]: [number, string]): void {
    const f = batch.family;
    if (status === -1) {
      // Redis lost the family: drop what is unacknowledged and re-send everything, flagged reset.
      f.pending = [];
      f.needsReset = true;
      f.knownEpoch = '';
      f.metaSent = false;
      this.#indexed.delete(f);
      this.stats.familyLost();
      f.markDirty();
      return;
    }
    const i = f.pending.indexOf(batch);
    if (i !== -1) f.pending.splice(i, 1);
    f.knownEpoch = epoch;
    f.metaSent = true;
    if (status === 2) {
      f.resendAll = true;
      f.markDirty();
    }
  }
}

/** Splits a batch into Lua calls of at most MAX_PAIRS_PER_CALL pairs, each with its own seq. */
function split(batch: FamilyBatch, nextSeq: () => number): FamilyBatch[] {
  const pairs = (batch.sums.length + batch.sets.length) / 2;
  if (pairs <= MAX_PAIRS_PER_CALL) return [{ ...batch, seq: nextSeq() }];
  const out: FamilyBatch[] = [];
  const n = MAX_PAIRS_PER_CALL * 2;
  for (let i = 0; i < batch.sums.length; i += n) out.push({ ...batch, sums: batch.sums.slice(i, i + n), sets: [], dels: [], exemplars: [], seq: 0 });
  for (let i = 0; i < batch.sets.length; i += n) out.push({ ...batch, sums: [], sets: batch.sets.slice(i, i + n), dels: [], exemplars: [], seq: 0 });
  // The deletions go first, before any set (a series removed and made again keeps its new value).
  out[0] = { ...out[0]!, dels: batch.dels, exemplars: batch.exemplars };
  return out.map((b, i) => ({ ...b, seq: nextSeq(), flags: i === 0 ? b.flags : b.flags & ~FLAG_META }));
}
