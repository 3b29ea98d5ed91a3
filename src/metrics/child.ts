import type { LabelValues } from '../store/definition.js';
import type { SeriesStore } from '../store/series.js';
import type { RedisValue } from '../store/values.js';

/**
 * What `labels(...)` returns: bound to one label set, it updates its value directly. The series is
 * made at the first update (prom-client shows no series for a bare `labels()` call), and made again
 * after a `remove()` or `reset()` of it.
 */
export abstract class SeriesChild<V extends RedisValue> {
  #value: V | undefined;
  readonly #labels: LabelValues | undefined;

  /** @internal */
  constructor(
    protected readonly series: SeriesStore<V>,
    labels: LabelValues | undefined,
  ) {
    this.#labels = labels;
  }

  /**
   * @internal The value last written is past the series limit: a caller that keeps children (the
   * request metrics) lets such a child go, so the next update asks the store again, as a plain
   * `inc(labels)` would (the drop counted again, the series made once there is room).
   */
  get isDropped(): boolean {
    return this.#value?.dropped === true;
  }

  /** The child's value, made (again) if needed. Hot path. */
  protected value(): V {
    let v = this.#value;
    if (v === undefined || v.removed) v = this.#value = this.series.valueFor(this.#labels);
    return v;
  }
}
