import { flushErrorKind } from './redis/connection-errors.js';

/**
 * The backend's own numbers, kept in memory and exposed by the self-monitoring metrics and the
 * `status` command. Plain fields: reading them costs nothing.
 */
export class SelfStats {
  flushes = 0;
  flushFailures = 0;
  /** Failed flushes by the kind of their first error: `timeout`, `replication`, `cluster`, `connection`, `command`, `other` (see flushErrorKind). */
  readonly flushErrors = new Map<string, number>();
  lastFlushDurationMs = 0;
  lastSuccessfulFlushAtMs = 0;
  familiesLost = 0;
  /**
   * Keys of a family Redis no longer had when a flush came, by key: `seq` (the seq hash), `sums`
   * (the cluster hash, while the seq hash stayed), `meta`, `process` (this process's hash).
   */
  readonly keysLost = new Map<string, number>();
  collects = 0;
  collectFailures = 0;
  #lastCollectDurationMs = 0;
  /** Keys or fields in Redis under our prefix that could not be read (garbage), by kind. */
  readonly badData = new Map<string, number>();
  /** Processes live at the last collect. */
  processesLive = 0;
  /** @internal Set by the manager: reads the shadow store's count. */
  droppedSeriesOf: () => number = () => 0;

  /** @internal Set by the manager: reads the shadow store's count. */
  droppedFamiliesOf: () => number = () => 0;

  /** Label sets refused because their metric reached `maxSeriesPerMetric` (each refused update counts). */
  get droppedSeries(): number {
    return this.droppedSeriesOf();
  }

  /** Metric families made past `maxFamilies`: they work in their process but are not flushed. */
  get droppedFamilies(): number {
    return this.droppedFamiliesOf();
  }

  /** Everything in `badData`, all kinds together. */
  get badDataTotal(): number {
    let n = 0;
    for (const v of this.badData.values()) n += v;
    return n;
  }

  /** Hooks of the self-monitoring histograms (src/integrations/self-metrics.ts): called after each flush and collect. */
  onFlush: ((durationMs: number, failures: number) => void) | undefined;
  onCollect: ((durationMs: number) => void) | undefined;

  get lastCollectDurationMs(): number {
    return this.#lastCollectDurationMs;
  }

  /** Set by the collector once per successful collect. */
  set lastCollectDurationMs(durationMs: number) {
    this.#lastCollectDurationMs = durationMs;
    this.onCollect?.(durationMs);
  }

  /** A flush's replies are all in: `failures` of its commands failed, the first with `firstError`. */
  flushDone(durationMs: number, batches: number, failures: number, firstError?: Error): void {
    this.onFlush?.(durationMs, failures);
    this.flushes++;
    this.lastFlushDurationMs = durationMs;
    if (failures === 0) this.lastSuccessfulFlushAtMs = Date.now();
    else this.#failed(firstError);
    void batches;
  }

  /** A flush that could not be sent at all. */
  flushFailed(error: Error): void {
    this.flushes++;
    this.#failed(error);
  }

  #failed(error: Error | undefined): void {
    this.flushFailures++;
    const kind = error ? flushErrorKind(error) : 'other';
    this.flushErrors.set(kind, (this.flushErrors.get(kind) ?? 0) + 1);
  }

  familyLost(): void {
    this.familiesLost++;
  }

  keyLost(key: string): void {
    this.keysLost.set(key, (this.keysLost.get(key) ?? 0) + 1);
  }

  bad(kind: string, count = 1): void {
    this.badData.set(kind, (this.badData.get(kind) ?? 0) + count);
  }
}
