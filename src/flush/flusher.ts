// The library's own timers come from node:timers, not the globals: an app's fake timers (Jest's
// useFakeTimers) must not stop a collect or a flush.
import { setInterval, clearInterval, setImmediate } from 'node:timers';
import PQueue from 'p-queue';
import { PromClientRedisError, RedisOperationError } from '../errors.js';
import type { ResolvedConfig } from '../config.js';
import { seqFieldOf, type ProcessIdentity } from '../identity.js';
import type { Logger } from '../log.js';
import type { RedisCommand, RedisStorageClient, Reply } from '../redis/client.js';
import type { RedisStorageDict } from '../store/storage-dict.js';
import { drainFamily, flushArgs, flushKeys, metaPairs, split } from './batch.js';
import { FamilyReplies } from './replies.js';
import { FamilyStream } from './stream.js';
import { Pacer } from '../pacer.js';
import { FLAG_RESET, type FamilyBatch, type MetricFamily } from '../store/family.js';
import type { SelfStats } from '../stats.js';
import { EMPTY_LIST } from '../redis/packed-list.js';

/** One family's part of a round: its batches and the positions of its commands. */
interface FamilyWork {
  readonly family: MetricFamily;
  readonly batches: FamilyBatch[];
  readonly commands: number[];
  /** Pruned process ids whose seq fields this round removes. */
  pruned: readonly string[];
  /** This round refreshes the family's TTL and index entry. */
  refresh: boolean;
  /** Set when the family is sent while it drains: then it sends all of `batches`, in order. */
  stream: FamilyStream | undefined;
}

/** What a round (or a flush of several rounds) ended with. */
interface Outcome {
  commands: number;
  failures: number;
  error: Error | undefined;
}

interface Round {
  /** Settles once every command of the round has its reply. */
  readonly done: Promise<Outcome>;
  /** Families this round left alone because an earlier round's commands for them were in flight. */
  readonly deferred: ReadonlySet<MetricFamily>;
  /** Families whose new deltas waited because this round re-sent their unacknowledged batches. */
  readonly held: ReadonlySet<MetricFamily>;
}

/**
 * Writes the shadow store to Redis on an interval: an `unref()`ed timer, errors counted and
 * reported but never thrown from the timer. A batch stays in its family's outbox until
 * acknowledged and is re-sent unchanged, so a lost reply never double counts.
 *
 * A round drains and sends; it does not wait for the replies. Each family's commands (one Redis
 * Cluster slot, so one node) are acknowledged when that node answers, and a family whose commands
 * are still in flight is left out of later rounds until they settle (its new deltas wait in the
 * store). So a dead master or a slot stuck in migration delays its own families only: the others,
 * and the heartbeat, go on every interval. One round drains at a time (p-queue).
 */
export class Flusher {
  readonly #queue = new PQueue({ concurrency: 1 });
  #queued: Promise<Round> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #seq = 0;
  /** The first refresh is due a third of the TTL after start: the flush script sets the TTL itself. */
  #lastTtlRefreshMs = Date.now();
  /** Families whose TTL refresh (and re-index) is due but were in flight when it was. */
  readonly #ttlDue = new Set<MetricFamily>();
  /** Commands in flight, by family: settle with the family's first error. */
  readonly #inFlight = new Map<MetricFamily, Promise<Error | undefined>>();
  #beat: Promise<void> | undefined;
  /** Process ids the heartbeat pruned, still to be removed from each family's seq hash. */
  readonly #pruneDue = new Map<MetricFamily, string[]>();
  readonly #replies: FamilyReplies;
  #isStopped = false;
  #isSoon = false;
  #hasBeaten = false;
  #isMarkedRestoring = false;

  constructor(
    readonly dict: RedisStorageDict,
    readonly client: RedisStorageClient,
    readonly config: ResolvedConfig,
    readonly identity: ProcessIdentity,
    readonly logger: Logger,
    readonly stats: SelfStats,
  ) {
    this.#replies = new FamilyReplies(stats, logger);
    // A new connection may lead to a server that lost our data (restart without persistence,
    // failover to an empty replica); families nobody updates would never learn it by themselves.
    let isFirst = true;
    client.redis.on('ready', () => {
      if (isFirst) {
        isFirst = false;
        return;
      }
      this.#replies.verifyAll = true;
      this.#replies.suspectsLoss = true;
      this.#soon();
    });
    // A Redis Cluster client stays `ready` while one shard fails over (maybe to an empty replica)
    // or a master restarts empty behind its address: it reports the node as a new one. Checked once
    // the node answers: ioredis re-adds a dead master at every slot refresh, and it never does.
    if (client.isCluster()) {
      client.redis.on('+node', (node: { once(event: 'ready', listener: () => void): void }) =>
        node.once('ready', () => {
          this.#replies.verifyAll = true;
          this.#replies.suspectsLoss = true;
        }),
      );
    }
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      // Before the first connection the flush would only wait for it: the first `ready` flushes.
      if (this.client.hasBeenReady) this.#tick();
    }, this.config.flushIntervalMs);
    this.#timer.unref();
  }

  stop(): void {
    this.#isStopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /**
   * Forces a flush: resolves once everything updated before the call is acknowledged by Redis, or
   * rejects with the first error (the data is kept for the next flush). Calls made while a round
   * waits to start share it.
   */
  async flush(mode: 'beat' | 'exit' = 'beat'): Promise<void> {
    const outcome: Outcome = { commands: 0, failures: 0, error: undefined };
    // A family in flight when a round starts is sent by the round after its commands settle; one
    // whose unacknowledged batches a round re-sends has its new deltas drained by the round after
    // (once the re-sends are acknowledged). A family in flight, then re-sent, then drained: three.
    // One that Redis answered LOST is re-sent whole by the round after: one more.
    for (let pass = 0; pass < 4; pass++) {
      const round = await this.#enqueue(mode);
      add(outcome, await round.done);
      for (const f of round.deferred) {
        const error = await this.#inFlight.get(f);
        if (error) add(outcome, { commands: 1, failures: 1, error });
      }
      // After a failure the flush rejects: held deltas wait for the next one (a re-send that just
      // failed would fail again now).
      if (round.deferred.size === 0 && ((round.held.size === 0 && !this.#replies.hasResets(this.dict.families.values())) || outcome.error)) break;
    }
    // Acknowledged batches leave the outbox one turn later (see FamilyReplies): let them.
    await new Promise((resolve) => setImmediate(resolve));
    const error = outcome.error;
    if (!error) return;
    // Errors the client already explained (AuthError, ReplicationError, ...) keep their code.
    if (error instanceof PromClientRedisError) throw error;
    throw new RedisOperationError(`flush: ${outcome.failures} of ${outcome.commands} commands failed, first: ${error.message}`, { cause: error });
  }

  /** Resolves once no round is running and no command is in flight. */
  async idle(): Promise<void> {
    await this.#queue.onIdle();
    await Promise.all([...this.#inFlight.values(), this.#beat]);
  }

  /** Batches not yet acknowledged, by family (for the collector's read-your-writes). */
  pendingOf(family: MetricFamily): readonly FamilyBatch[] {
    return family.pending;
  }

  #tick(): void {
    this.#enqueue('beat').catch(() => {
      // Counted and logged when the round's replies settle; the data stays for the next tick.
    });
  }

  /** A round soon (once per turn of the event loop): data Redis lost goes back at once, not one interval later. */
  #soon(): void {
    if (this.#isSoon || this.#isStopped) return;
    this.#isSoon = true;
    setImmediate(() => {
      this.#isSoon = false;
      if (!this.#isStopped) this.#tick();
    });
  }

  #enqueue(mode: 'beat' | 'exit'): Promise<Round> {
    if (mode === 'beat' && this.#queued) return this.#queued;
    let started = false;
    let run: Promise<Round> | undefined;
    // p-queue may start the task synchronously, before `run` is assigned.
    run = this.#queue.add(async () => {
      started = true;
      if (run !== undefined && this.#queued === run) this.#queued = undefined;
      return this.#round(mode);
    }) as Promise<Round>;
    // A round that has started has drained already: later callers need the next one.
    if (mode === 'beat' && !started) this.#queued = run;
    return run;
  }

  async #round(mode: 'beat' | 'exit'): Promise<Round> {
    const started = performance.now();
    const keys = this.client.keys;
    const id = this.identity.id;
    const nowMs = Date.now();
    const work = new Map<MetricFamily, FamilyWork>();
    const deferred = new Set<MetricFamily>();
    const held = new Set<MetricFamily>();
    const workOf = (family: MetricFamily): FamilyWork => {
      let w = work.get(family);
      if (!w) work.set(family, (w = { family, batches: [], commands: [], pruned: [], refresh: false, stream: undefined }));
      return w;
    };

    // Families with unacknowledged batches re-send them first, unchanged; their new deltas wait.
    const dirty = this.dict.takeDirtyFamilies();
    for (const family of this.dict.families.values()) {
      const unacknowledged = this.#replies.unacknowledged(family);
      if (unacknowledged.length === 0) continue;
      if (this.#inFlight.has(family)) deferred.add(family);
      else workOf(family).batches.push(...unacknowledged);
    }
    const pacer = new Pacer(this.config.sliceMs);
    // Large families are sent while they are drained (see #streamer) where that keeps their batches
    // in order: one connection (not Cluster, whose redirections retry commands on their own), no
    // WAIT per part, and nothing for the heartbeat, the index or the meta hash to do first (a part
    // without the meta would report a missing meta hash as lost, once per part).
    const streams = !this.client.isCluster() && this.config.waitReplicas === 0 && this.#hasBeaten && !this.#replies.suspectsLoss;
    for (const family of dirty) {
      if (this.dict.families.get(family.def.name) !== family) continue;
      if (this.#inFlight.has(family) || work.has(family)) {
        this.dict.onFamilyDirty(family);
        if (this.#inFlight.has(family)) deferred.add(family);
        else held.add(family);
        continue;
      }
      const reset = family.needsReset;
      family.needsReset = false;
      const allPerProcess = family.resendAll;
      family.resendAll = false;
      const stream = streams && !reset && family.metaSent && family.knownEpoch !== '' && this.#replies.isIndexed(family) ? this.#streamer(workOf(family)) : undefined;
      const w = workOf(family);
      // Into the outbox in the tick the drain ends (see drainFamily's onDone).
      const keep = (batch: FamilyBatch): void => {
        for (const chunk of split(batch, () => ++this.#seq)) {
          // After the parts sent while it drained, or the chunk before it (FamilyBatch.after).
          const previous = w.batches.at(-1);
          const ordered = previous ? { ...chunk, after: previous.seq } : chunk;
          family.pending.push(ordered);
          w.batches.push(ordered);
        }
      };
      await drainFamily(family, 0, nowMs, { reset, meta: !family.metaSent, allPerProcess }, pacer, stream, keep);
    }
    // An empty batch runs the epoch check of the script for a family with nothing to send.
    for (const family of this.#replies.toVerify(this.dict.families.values())) {
      if (this.#inFlight.has(family)) continue;
      this.#replies.verified(family);
      if (work.has(family) || family.knownEpoch === '') continue;
      const check: FamilyBatch = { family, seq: ++this.#seq, flags: 0, clientNowMs: nowMs, sums: EMPTY_LIST, sets: EMPTY_LIST, dels: EMPTY_LIST, exemplars: EMPTY_LIST, created: EMPTY_LIST };
      this.#replies.markCheck(check);
      family.pending.push(check);
      workOf(family).batches.push(check);
    }
    // Idle per-process hashes of a live process must not expire: refresh them well within the TTL.
    if (nowMs - this.#lastTtlRefreshMs >= (this.config.ttlSeconds * 1000) / 3) {
      this.#lastTtlRefreshMs = nowMs;
      // And check every family's epoch at the next flush: a safety net for a loss no event told of
      // (one Cluster node restarted empty behind the same address).
      this.#replies.verifyAll = true;
      for (const f of this.dict.families.values()) this.#ttlDue.add(f);
    }

    const commands: RedisCommand[] = [];
    const sendsBeat = mode === 'exit' || this.#beat === undefined;
    const restoring = this.#replies.isRestoring(this.dict.families.values());
    if (sendsBeat) {
      commands.push({
        name: 'pcrHeartbeat',
        args: [keys.processes(), keys.live(), keys.restoring(), id, this.config.ttlSeconds * 1000, mode, this.config.liveTimeoutMs, restoring ? '1' : this.#isMarkedRestoring || !this.#hasBeaten ? '0' : '', this.#hasBeaten ? '1' : '0'],
        key: keys.processes(),
      });
    }
    const indexing = new Map<number, MetricFamily>();
    const push = (w: FamilyWork, command: RedisCommand): number => {
      w.commands.push(commands.length);
      commands.push(command);
      return commands.length - 1;
    };
    const index = (w: FamilyWork): void => {
      indexing.set(push(w, { name: 'hset', args: [keys.families(), w.family.hash, w.family.typeMode], key: keys.families() }), w.family);
    };
    for (const f of this.dict.families.values()) {
      // Past maxFamilies: nothing of it is in Redis, nothing to refresh or prune.
      if (f.isOverLimit) continue;
      const w = work.get(f) ?? (this.#inFlight.has(f) ? undefined : this.#extraWork(f, workOf));
      if (!w) continue;
      const refresh = (w.refresh = this.#ttlDue.delete(f));
      if (w.batches.some((b) => (b.flags & FLAG_RESET) !== 0) || (w.batches.length > 0 && !this.#replies.isIndexed(f)) || (refresh && this.#replies.isIndexed(f))) index(w);
      if (w.stream) w.stream.rest(w.batches.slice(w.stream.replies.length));
      else for (const batch of w.batches) push(w, this.#flushCommand(batch));
      w.pruned = this.#pruneDue.get(f) ?? [];
      if (w.pruned.length > 0) push(w, { name: 'pcrPruneSeq', args: [keys.seq(f.typeMode, f.hash), ...w.pruned], key: keys.seq(f.typeMode, f.hash) });
      if (refresh && (f.def.type === 'gauge' || f.def.type === 'summary') && f.knownEpoch !== '') {
        push(w, { name: 'expire', args: [keys.process(f.typeMode, id, f.hash), this.config.ttlSeconds], key: keys.seq(f.typeMode, f.hash) });
      }
      if (w.commands.length === 0 && !w.stream) work.delete(f);
    }

    const replies = this.client.send(commands, this.config.flushTimeoutMs, 'flush', this.config.waitReplicas);
    const settled: Promise<Outcome>[] = [];
    if (sendsBeat) {
      const beat = replies[0]!.then((reply) => this.#onHeartbeat(reply, mode, restoring));
      if (mode === 'beat') this.#beat = beat.then(() => void (this.#beat = undefined), () => void (this.#beat = undefined));
      settled.push(beat);
    }
    for (const w of work.values()) {
      const outcome = Promise.all([Promise.all(w.stream?.replies ?? []), Promise.all(w.commands.map((i) => replies[i]!))]).then(([streamed, r]) => this.#onFamily(w, streamed, r, commands, indexing));
      const error = outcome.then((o) => o.error);
      this.#inFlight.set(w.family, error);
      settled.push(outcome.finally(() => this.#inFlight.delete(w.family)));
    }
    const batchCount = [...work.values()].reduce((n, w) => n + w.batches.length, 0);
    const done = Promise.all(settled).then((outcomes) => {
      const total: Outcome = { commands: 0, failures: 0, error: undefined };
      for (const o of outcomes) add(total, o);
      // A flush that never saw a connection is a deploy starting, not a fault to alert on.
      if (total.failures === 0 || this.client.hasBeenReady) this.stats.flushDone(performance.now() - started, batchCount, total.failures, total.error);
      this.logger.debug(total.error ? 'flush.failed' : 'flush', { batches: batchCount, failures: total.failures, ms: Math.round(performance.now() - started), message: total.error?.message });
      // Data Redis lost goes back at once; and once it is back, the restoring mark goes at once too.
      if (mode === 'beat' && (this.#replies.hasResets(this.dict.families.values()) || (this.#isMarkedRestoring && !this.#replies.isRestoring(this.dict.families.values())))) this.#soon();
      return total;
    });
    return { done, deferred, held };
  }

  #flushCommand(batch: FamilyBatch): RedisCommand {
    const named = flushKeys(batch, this.client.keys, this.identity.id);
    const args = [named.keys.length, ...named.keys, named.roles, ...flushArgs(batch, seqFieldOf(this.identity), this.config.ttlSeconds, metaPairs(batch.family))];
    return { name: 'pcrFlushFamily', args, key: named.keys[0] };
  }

  /** Sends the family's parts as drainFamily hands them over (see FamilyStream). */
  #streamer(w: FamilyWork): (chunk: FamilyBatch) => Promise<void> | undefined {
    let previous = -1;
    return (chunk) => {
      // Made at the first part only: a family that hands over none goes in the round's one pipeline.
      const stream = (w.stream ??= new FamilyStream((batches) => this.client.send(batches.map((b) => this.#flushCommand(b)), this.config.flushTimeoutMs, 'flush')));
      const seq = ++this.#seq;
      // Every part after the first must follow its predecessor (FamilyBatch.after).
      const batch = { ...chunk, seq, ...(previous !== -1 ? { after: previous } : {}) };
      previous = seq;
      w.family.pending.push(batch);
      w.batches.push(batch);
      return stream.part(batch);
    };
  }

  /** Work for a family with no batch this round: an index or TTL refresh, a prune. */
  #extraWork(f: MetricFamily, workOf: (f: MetricFamily) => FamilyWork): FamilyWork | undefined {
    return this.#ttlDue.has(f) || (this.#pruneDue.get(f)?.length ?? 0) > 0 ? workOf(f) : undefined;
  }

  #onHeartbeat(reply: Reply, mode: 'beat' | 'exit', restoring: boolean): Outcome {
    if (reply.error) return { commands: 1, failures: 1, error: reply.error };
    const [, wasKnown, ...dead] = reply.value as [string, number, ...string[]];
    // What the restoring registry now says of this process (the script marks it itself when it finds it missing).
    this.#isMarkedRestoring = mode === 'beat' && (restoring || (wasKnown === 0 && this.#hasBeaten));
    if (dead.length > 0) {
      for (const f of this.dict.families.values()) {
        const due = this.#pruneDue.get(f);
        if (due) due.push(...dead);
        else this.#pruneDue.set(f, [...dead]);
      }
    }
    // Our registry entry vanished: the node may have lost the families too. Check them now.
    if (this.#hasBeaten && wasKnown === 0 && mode === 'beat') {
      this.#replies.verifyAll = true;
      this.#replies.suspectsLoss = true;
      this.#soon();
    }
    this.#hasBeaten = true;
    return { commands: 1, failures: 0, error: undefined };
  }

  #onFamily(w: FamilyWork, streamed: readonly Reply[], replies: readonly Reply[], commands: readonly RedisCommand[], indexing: ReadonlyMap<number, MetricFamily>): Outcome {
    const outcome: Outcome = { commands: streamed.length + w.commands.length, failures: 0, error: undefined };
    let bi = 0;
    for (const reply of streamed) {
      const error = this.#replies.onBatch(w.batches[bi++]!, reply);
      if (error) add(outcome, { commands: 0, failures: 1, error });
    }
    w.commands.forEach((ci, j) => {
      const reply = replies[j]!;
      const name = commands[ci]!.name;
      if (name === 'pcrFlushFamily') {
        const error = this.#replies.onBatch(w.batches[bi++]!, reply);
        if (error) add(outcome, { commands: 0, failures: 1, error });
      } else if (reply.error) {
        // An index, prune or TTL refresh that failed is sent again later; not a lost update.
        add(outcome, { commands: 0, failures: 1, error: reply.error });
      } else if (indexing.has(ci)) {
        this.#replies.markIndexed(w.family);
      } else if (name === 'pcrPruneSeq') {
        const due = this.#pruneDue.get(w.family);
        if (due) due.splice(0, w.pruned.length);
      }
    });
    // A refresh that failed is due again at the next round.
    if (outcome.error && w.refresh) this.#ttlDue.add(w.family);
    if (w.family.needsReset) this.#soon();
    return outcome;
  }
}

function add(total: Outcome, o: Outcome): void {
  total.commands += o.commands;
  total.failures += o.failures;
  total.error ??= o.error;
}
