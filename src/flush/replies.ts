// The library's own timers come from node:timers, not the globals (an app's fake timers).
import { setImmediate } from 'node:timers';
import { RedisOperationError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Reply } from '../redis/client.js';
import { FLAG_RESET, type FamilyBatch, type MetricFamily } from '../store/family.js';
import type { SelfStats } from '../stats.js';

/**
 * What the flusher learns from the replies of flush-family.lua, family by family: acknowledged
 * batches leave the outbox, a family Redis lost is re-sent whole, garbage is warned about once. It
 * also keeps which families are in the index and which still need their epoch checked.
 */
export class FamilyReplies {
  /** Check every flushed family's epoch at the next round (set on reconnection, a new Cluster node, a lost registry entry, and every third of the TTL). */
  verifyAll = false;
  /**
   * Redis may have lost data of this process (a reconnection, a new Cluster node, its registry
   * entry gone, a LOST answer): it is restoring until every check and re-send is acknowledged
   * (see isRestoring). Not set by the periodic check, which finds nothing lost as a rule.
   */
  suspectsLoss = false;
  readonly #checks = new WeakSet<FamilyBatch>();
  readonly #toVerify = new Set<MetricFamily>();
  readonly #indexed = new WeakSet<MetricFamily>();
  /** Families whose keys hold garbage, warned about once. */
  readonly #warned = new WeakSet<MetricFamily>();
  /** Acknowledged batches still in their family's outbox until the next turn of the event loop. */
  readonly #acked = new WeakSet<FamilyBatch>();
  /** Kinds of lost keys warned about (once each per process). */
  readonly #warnedLoss = new Set<string>();

  constructor(
    readonly stats: SelfStats,
    readonly logger: Logger,
  ) {}

  /** The families whose epoch is still to be checked (a family in flight waits for a later round). */
  toVerify(families: Iterable<MetricFamily>): MetricFamily[] {
    if (this.verifyAll) {
      this.verifyAll = false;
      for (const f of families) if (f.knownEpoch !== '') this.#toVerify.add(f);
    }
    return [...this.#toVerify];
  }

  /** An empty batch sent only to check the family's epoch. */
  markCheck(batch: FamilyBatch): void {
    this.#checks.add(batch);
  }

  /**
   * Whether this process is still restoring what Redis may have lost: a loss was suspected and a
   * check is due or unacknowledged, or a family is to be (or being) re-sent. Once not, the
   * suspicion ends; the heartbeat says which (the restoring registry of docs/design.md).
   */
  isRestoring(families: Iterable<MetricFamily>): boolean {
    if (!this.suspectsLoss) return false;
    let busy = this.verifyAll || this.#toVerify.size > 0;
    for (const f of families) {
      if (busy) break;
      busy = f.needsReset || this.unacknowledged(f).some((b) => (b.flags & FLAG_RESET) !== 0 || this.#checks.has(b));
    }
    if (!busy) this.suspectsLoss = false;
    return busy;
  }

  /** The family's check is part of this round (its batch, or an empty one). */
  verified(family: MetricFamily): void {
    this.#toVerify.delete(family);
  }

  isIndexed(family: MetricFamily): boolean {
    return this.#indexed.has(family);
  }

  markIndexed(family: MetricFamily): void {
    this.#indexed.add(family);
  }

  /** The batches of a family's outbox that still wait for Redis to acknowledge them. */
  unacknowledged(family: MetricFamily): FamilyBatch[] {
    return family.pending.filter((b) => !this.#acked.has(b));
  }

  /** Some family must be re-sent whole (Redis lost it). */
  hasResets(families: Iterable<MetricFamily>): boolean {
    for (const f of families) if (f.needsReset) return true;
    return false;
  }

  /** Applies one batch's reply; returns the error that kept it in the outbox, if any. */
  onBatch(batch: FamilyBatch, reply: Reply): Error | undefined {
    if (reply.error) return reply.error;
    const [status, epochOrKey, repaired, lost = ''] = reply.value as [number, string, number, string?];
    const f = batch.family;
    if (status === -2) {
      // Garbage where one of the family's keys should be: nothing was applied. The batch waits
      // (and the family's newer deltas behind it) until someone removes the garbage.
      this.stats.bad('flush-key');
      if (!this.#warned.has(f)) {
        this.#warned.add(f);
        this.logger.warn(`key \`${epochOrKey}\` holds something else than a hash: updates of \`${f.def.name}\` are kept in memory until it is removed`);
      }
      return new RedisOperationError(`flush: key \`${epochOrKey}\` holds something else than a hash: family \`${f.def.name}\` waits until it is removed`);
    }
    if (status === -3) {
      // A part sent while its family drained, whose predecessor was not applied: kept, re-sent after it.
      return new RedisOperationError(`flush: a part of \`${f.def.name}\` was not applied because the part before it was not; kept for the next flush`);
    }
    if (repaired > 0) this.stats.bad('repaired', repaired);
    if (status === -1) {
      this.suspectsLoss = true;
      if (lost !== '') this.#onKeysLost(f, lost, status);
      // Redis lost the family: drop what is unacknowledged and re-send everything, flagged reset.
      f.pending = [];
      f.needsReset = true;
      if (f.knownEpoch !== '') f.lostEpoch = f.knownEpoch;
      f.knownEpoch = '';
      f.metaSent = false;
      this.#indexed.delete(f);
      this.stats.familyLost();
      f.markDirty();
      return undefined;
    }
    this.#leaveOutbox(batch);
    f.knownEpoch = epochOrKey;
    f.metaSent = true;
    if (lost !== '') this.#onKeysLost(f, lost, status);
    if (status === 2) {
      f.resendAll = true;
      this.stats.keyLost('process');
      f.markDirty();
    }
    return undefined;
  }

  /**
   * Keys of the family that Redis no longer had (see `lost` in flush-family.lua), all counted. A
   * family lost whole (status -1, as after an empty restart) is re-sent as always; a part lost
   * while the rest stayed (sums, or a seq or meta hash repaired in place) means eviction or a
   * deletion, warned about once per kind.
   */
  #onKeysLost(f: MetricFamily, lost: string, status: number): void {
    const name = f.def.name;
    if (lost.includes('s')) {
      this.stats.keyLost('seq');
      if (status >= 0) this.#warnLoss('seq', `the seq hash of \`${name}\` was gone while its sums were not: made again in their epoch, no count lost`);
    }
    if (lost.includes('c')) {
      this.stats.keyLost('sums');
      this.#warnLoss('sums', `the sums of \`${name}\` were gone while its seq hash was not: every process re-sends its totals into a new epoch (the counts of processes that have ended are lost)`);
    }
    if (lost.includes('m')) {
      this.stats.keyLost('meta');
      // Gone with the rest of the family (status -1: an empty restart, FLUSHALL): nothing to warn of.
      if (status >= 0) this.#warnLoss('meta', `the meta hash of \`${name}\` was gone: written again`);
      f.metaSent = false;
      f.markDirty();
    }
  }

  #warnLoss(kind: string, what: string): void {
    if (this.#warnedLoss.has(kind)) return;
    this.#warnedLoss.add(kind);
    this.logger.warn(`Redis lost a key: ${what}. Redis evicts keys when full unless maxmemory-policy is noeviction (see README, Running Redis); counted in prom_client_redis_keys_lost_total{key="${kind}"}`);
  }

  /**
   * A collect reads this process's outbox in the same tick as its Redis replies and counts the
   * batches above the seq Redis reported: a flush reply parsed in the same socket read as the
   * collect's could otherwise take its batch out of the outbox a few microtasks before the collect
   * looks, and that batch would be counted nowhere. It leaves one turn of the event loop later.
   */
  #leaveOutbox(batch: FamilyBatch): void {
    this.#acked.add(batch);
    setImmediate(() => {
      const pending = batch.family.pending;
      const i = pending.indexOf(batch);
      if (i !== -1) pending.splice(i, 1);
    });
  }
}
