// The library's own timers come from node:timers, not the globals: an app's fake timers (Jest's
// useFakeTimers) must not stop a collect or a flush.
import { setImmediate } from 'node:timers';
/**
 * Yields to the event loop when the current slice of synchronous work has run for `sliceMs`, so
 * that draining or merging 100,000 series never blocks the loop for long (see perf/EVENT-LOOP.md).
 * With a deadline, a slice that starts past it rejects with the error `expired()` makes: a collect
 * that timed out stops its work instead of running on in the background.
 */
export class Pacer {
  #sliceStart = performance.now();
  #count = 0;
  /** Set by expire(): the deadline's timer fired, which may come a little before performance.now() reaches `deadline`. */
  #isExpired = false;

  constructor(
    readonly sliceMs = 4,
    readonly checkEvery = 128,
    readonly deadline = Infinity,
    readonly expired: () => Error = () => new Error('deadline passed'),
  ) {}

  /** Marks the deadline as passed now (the owner's timeout fired): the next check, step or resume rejects. */
  expire(): void {
    this.#isExpired = true;
  }

  #isPast(now: number): boolean {
    return this.#isExpired || now >= this.deadline;
  }

  /** Call once per unit of work; `await` the result when it is not undefined. */
  step(): Promise<void> | undefined {
    if (++this.#count % this.checkEvery !== 0) return undefined;
    return this.due();
  }

  /**
   * Throws the deadline's error when it has passed: for the points where a collect resumes after
   * waiting on something else than the pacer (a Redis reply, a callback), so that a collect that
   * timed out meanwhile does no more work.
   */
  check(): void {
    if (this.#isPast(performance.now())) throw this.expired();
  }

  /**
   * A pacer that slices work as this one does but has no deadline (work worth finishing anyway):
   * only expire() stops it, with the error `stopped` makes.
   */
  unbounded(stopped?: () => Error): Pacer {
    return new Pacer(this.sliceMs, this.checkEvery, Infinity, stopped);
  }

  /** Yields now if the slice has run its time (for units of work too big to count). */
  due(): Promise<void> | undefined {
    const now = performance.now();
    if (this.#isPast(now)) return Promise.reject(this.expired());
    if (now - this.#sliceStart < this.sliceMs) return undefined;
    return new Promise<void>((resolve, reject) =>
      setImmediate(() => {
        this.#sliceStart = performance.now();
        if (this.#isPast(this.#sliceStart)) reject(this.expired());
        else resolve();
      }),
    );
  }
}
