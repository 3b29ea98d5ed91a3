/**
 * What one collect read of the registries and the families' epochs, all in Redis time (ms).
 * Scores come from Redis and are hostile input: the caller passes only finite numbers.
 */
export interface RegistryView {
  readonly nowMs: number;
  /** `{prefix}:processes:{registry}`: processId → its last heartbeat. */
  readonly processes: ReadonlyMap<string, number>;
  /** `{prefix}:live:{registry}`: processId → its live deadline (last heartbeat + its own live timeout). */
  readonly live: ReadonlyMap<string, number>;
  /** `{prefix}:restoring:{registry}`: processId → since when it re-sends what Redis lost. */
  readonly restoring: ReadonlyMap<string, number>;
  /** Whether every family of the index was read (a full collect), not only some. */
  readonly readsAll: boolean;
  /**
   * Each family read: its epoch ('' when its seq hash is gone), when that epoch began (-1 unknown),
   * and whether it began from a loss (a writer's re-send after Redis lost the family).
   */
  readonly epochs: ReadonlyMap<string, { readonly epoch: string; readonly bornMs: number; readonly afterLoss: boolean }>;
}

export interface RestoreGateOptions {
  /**
   * This process's own live timeout: what a writer whose own cannot be read is given, and how long
   * a collector that starts after a loss waits for writers it cannot see (set it to the writers').
   */
  readonly fallbackLiveTimeoutMs: number;
  /** How long a live writer in the restoring registry holds collects back at most. @default 10000 */
  readonly restoreWaitMs?: number;
  /** Called when a writer is no longer waited for: what it held is lost. */
  readonly onGiveUp?: (processId: string, why: string) => void;
  /**
   * The id of the process this collector runs in (the launcher's collect thread has the primary's).
   * It is alive whatever its heartbeat in Redis says: a late beat is load, not death, so it is not
   * given up at its live timeout (it would be served without its part while it re-sends), only
   * after `restoreWaitMs`.
   */
  readonly selfId?: string;
}

/** A writer this collector knew to be live when Redis lost data, waited for until it is back and done. */
interface Awaited {
  /** It is back once the registry holds a heartbeat of it later than this. */
  afterMs: number;
  /** Not waited for past this (it died, or cannot reach Redis): what it held is lost. */
  readonly untilMs: number;
}

/** A writer seen live by the previous read. */
interface Known {
  readonly lastBeatMs: number;
  readonly liveTimeoutMs: number;
}

/**
 * Decides whether a collect may serve what it read, so that no answer shows a counter, bucket,
 * count or sum lower than an earlier one while nothing was lost (docs/design.md, Restoration).
 *
 * After Redis lost data (empty restart, failover to an empty replica, FLUSHALL) the families are
 * complete again only once every writer that held part of them has re-sent it. The restoring
 * registry names the writers doing so, but only from their first heartbeat after the loss: until
 * then Redis knows nothing of them (the live set went too). What this collector served came from
 * the writers live at its previous read, so it remembers those, and after a loss waits for each of
 * them to beat again and leave the restoring registry. A loss shows as a family whose epoch changed
 * or went (from the index too). The wait is bounded: a writer that does not
 * beat within its own live timeout of the collector seeing the loss is given up (what it held is
 * lost for real), and a live writer is not waited for once it has been restoring `restoreWaitMs`.
 */
export class RestoreGate {
  #known = new Map<string, Known>();
  readonly #awaited = new Map<string, Awaited>();
  readonly #epochs = new Map<string, string>();
  /** Until when a family this collector first saw restored may still miss writers it never knew. */
  #unknownUntilMs = -Infinity;
  #reads = 0;
  /**
   * Whether a first read that finds a family restored lately waits for writers it cannot see (see
   * check()). Set by the metrics server (launcher primary, `serve`): a process Prometheus scrapes
   * may have been restarted along with Redis. Off for a collector embedded in an app, whose first
   * reads come right after its own start, when a Redis restarted with it is routine in tests and
   * the app's /metrics is not yet scraped.
   */
  waitsForUnseenWriters = false;

  readonly #fallbackLiveTimeoutMs: number;
  readonly #restoreWaitMs: number;
  readonly #onGiveUp: (processId: string, why: string) => void;
  readonly #selfId: string | undefined;

  constructor(options: RestoreGateOptions) {
    this.#fallbackLiveTimeoutMs = options.fallbackLiveTimeoutMs;
    this.#restoreWaitMs = options.restoreWaitMs ?? RESTORE_WAIT_MS;
    this.#onGiveUp = options.onGiveUp ?? (() => {});
    this.#selfId = options.selfId;
  }

  /**
   * Takes one read into account; returns why it must not be served (the writers waited for), or
   * undefined when it may be. Call it once per read, with the registries read before the families:
   * a loss between the two shows in the epochs.
   */
  check(view: RegistryView): string | undefined {
    const now = view.nowMs;
    const liveNow = (id: string) => id === this.#selfId || (view.live.get(id) ?? -Infinity) > now;
    const wait = (id: string, afterMs: number, known: Known) => {
      const a = this.#awaited.get(id);
      if (a) a.afterMs = Math.max(a.afterMs, afterMs);
      else this.#awaited.set(id, { afterMs, untilMs: now + (id === this.#selfId ? Math.max(known.liveTimeoutMs, this.#restoreWaitMs) : known.liveTimeoutMs) });
    };
    // A family read before and missing from a full read: the index went with it (FLUSHALL, an empty
    // restart before any writer has flushed again). Each writer of the previous read must beat after
    // this read. (A writer missing from the processes registry says nothing by itself: the registry
    // prunes a writer silent for its REDIS_TTL_SECONDS, which a reader does not know.)
    // (Forgotten once seen missing: the map holds no family Redis no longer has.)
    let lostSinceMs = -Infinity;
    if (view.readsAll) {
      for (const [family, epoch] of this.#epochs) {
        if (view.epochs.has(family)) continue;
        if (epoch !== '') lostSinceMs = now;
        this.#epochs.delete(family);
      }
    }
    // A family lost (epoch changed, or gone): each writer of the previous read must beat after it.
    // At this collector's first read, a family restored lately: it cannot know who held a part of
    // it (a writer that has not beaten since the loss is in no registry; those that have are in the
    // registries now), so it gives them its own live timeout to beat (and so to be marked restoring).
    const isFirst = this.#reads++ === 0 && this.waitsForUnseenWriters;
    for (const [family, { epoch, bornMs, afterLoss }] of view.epochs) {
      const before = this.#epochs.get(family);
      // Times read from Redis are clamped to now: a birth or a mark in the future (garbage, or
      // another clock) must not hold collects back for longer than the timeouts say.
      if (before !== undefined && before !== '' && before !== epoch) {
        lostSinceMs = Math.max(lostSinceMs, epoch !== '' && bornMs > 0 ? Math.min(bornMs, now) : now);
      } else if (isFirst && afterLoss && bornMs > 0) {
        this.#unknownUntilMs = Math.max(this.#unknownUntilMs, Math.min(bornMs, now) + this.#fallbackLiveTimeoutMs);
      }
      this.#epochs.set(family, epoch);
    }
    // Each writer of the previous read must beat after the latest loss (one pass, however many families changed).
    if (lostSinceMs > -Infinity) for (const [id, known] of this.#known) wait(id, lostSinceMs, known);
    const restoring = new Set<string>();
    for (const [id, sinceMs] of view.restoring) if (liveNow(id) && sinceMs <= now + 1000 && now - sinceMs < this.#restoreWaitMs) restoring.add(id);
    for (const [id, a] of this.#awaited) {
      const isBack = liveNow(id) && (view.processes.get(id) ?? -Infinity) > a.afterMs && !view.restoring.has(id);
      if (isBack) this.#awaited.delete(id);
      else if (now > a.untilMs && !restoring.has(id)) {
        this.#awaited.delete(id);
        this.#onGiveUp(id, liveNow(id) ? 'it is live but did not restore in time' : 'it did not beat within its live timeout');
      }
    }
    // Known next time: the writers live now, with their own live timeout (deadline - last beat).
    const next = new Map<string, Known>();
    for (const [id, deadlineMs] of view.live) {
      if (deadlineMs <= now) continue;
      const lastBeatMs = view.processes.get(id);
      const timeout = lastBeatMs === undefined ? this.#fallbackLiveTimeoutMs : deadlineMs - lastBeatMs;
      // At most the longest live timeout a writer may set (a deadline read from Redis may be garbage).
      next.set(id, { lastBeatMs: lastBeatMs ?? -Infinity, liveTimeoutMs: timeout > 0 ? Math.min(timeout, MAX_LIVE_TIMEOUT_MS) : this.#fallbackLiveTimeoutMs });
    }
    // A writer still waited for stays known: a loss found again must not restart its wait.
    for (const id of this.#awaited.keys()) if (!next.has(id)) next.set(id, this.#known.get(id) ?? { lastBeatMs: -Infinity, liveTimeoutMs: this.#fallbackLiveTimeoutMs });
    // So does a writer whose beat is late (a loaded machine, a GC pause) for a while: not live at this
    // read, it still holds a part of the sums, and a loss now must wait for it (or give it up, with
    // a warning) rather than serve the sums without it. A writer gone for good is forgotten after
    // KEEP_LATE_WRITERS live timeouts of silence.
    for (const [id, known] of this.#known) {
      if (next.has(id)) continue;
      const lastBeatMs = Math.max(known.lastBeatMs, view.processes.get(id) ?? -Infinity);
      if (now - lastBeatMs < known.liveTimeoutMs * KEEP_LATE_WRITERS) next.set(id, { lastBeatMs, liveTimeoutMs: known.liveTimeoutMs });
    }
    this.#known = next;

    const waiting = [...new Set([...this.#awaited.keys(), ...restoring])].sort();
    if (waiting.length === 0 && now < this.#unknownUntilMs) {
      return `Redis lost data lately and writers that have not beaten since are not known: not restored for ${Math.round(this.#unknownUntilMs - now)} ms more at most`;
    }
    if (waiting.length === 0) return undefined;
    const shown = waiting.slice(0, 5).join(', ') + (waiting.length > 5 ? `, and ${waiting.length - 5} more` : '');
    return `Redis lost data and ${waiting.length} writer${waiting.length === 1 ? ' has' : 's have'} not restored it yet (${shown})`;
  }
}

/** The largest REDIS_LIVE_TIMEOUT_MS a writer may have (config.ts): a longer one read from Redis is not believed. */
const MAX_LIVE_TIMEOUT_MS = 86_400_000;

/** A writer not live at a read stays known (waited for after a loss) until silent for this many of its live timeouts. */
const KEEP_LATE_WRITERS = 10;

/** A live writer restoring longer than this no longer holds collects back (10 s; see docs/design.md). */
export const RESTORE_WAIT_MS = 10_000;
