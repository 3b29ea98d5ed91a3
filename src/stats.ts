/**
 * The backend's own numbers, kept in memory and exposed by the self-monitoring metrics and the
 * `status` command. Plain fields: reading them costs nothing.
 */
export class SelfStats {
  flushes = 0;
  flushFailures = 0;
  /** Flush errors by kind: `timeout`, `connection`, `script`, `other`. */
  readonly flushErrors = new Map<string, number>();
  lastFlushDurationMs = 0;
  lastSuccessfulFlushAtMs = 0;
  familiesLost = 0;
  collects = 0;
  collectFailures = 0;
  #lastCollectDurationMs = 0;
  /** Keys or fields in Redis under our prefix that could not be read (garbage), by kind. */
  readonly badData = new Map<string, number>();
  /** Processes live at the last collect. */
  processesLive = 0;

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

  flushDone(durationMs: number, batches: number, failures: number): void {
    this.onFlush?.(durationMs, failures);
    this.flushes++;
    this.lastFlushDurationMs = durationMs;
    if (failures === 0) this.lastSuccessfulFlushAtMs = Date.now();
    else this.flushFailures++;
    void batches;
  }

  flushFailed(error: Error): void {
    this.flushes++;
    this.flushFailures++;
    const kind = error.name === 'TimeoutError' ? 'timeout' : /not connected|ECONNREFUSED|Connection|closed|ECONNRESET/i.test(error.message) ? 'connection' : 'other';
    this.flushErrors.set(kind, (this.flushErrors.get(kind) ?? 0) + 1);
  }

  familyLost(): void {
    this.familiesLost++;
  }

  bad(kind: string): void {
    this.badData.set(kind, (this.badData.get(kind) ?? 0) + 1);
  }
}
