import type { MetricType } from '../store/family.js';
import type { Exemplar } from '../store/values.js';
import { spansOf, type Buckets } from '../native/histogram.js';
import { ProtoWriter } from './proto-wire.js';
import type { HistogramExtras, Labels, SeriesSink } from './sink.js';

/** Prometheus' protobuf exposition: length-delimited io.prometheus.client.MetricFamily messages. */
export const PROTOBUF_CONTENT_TYPE = 'application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited';

// Field numbers of metrics.proto (io.prometheus.client).
const TYPE: Record<MetricType, number> = { counter: 0, gauge: 1, summary: 2, histogram: 4 };
const MF = { name: 1, help: 2, type: 3, metric: 4 } as const;
const METRIC = { label: 1, gauge: 2, counter: 3, summary: 4, histogram: 7 } as const;
const LABEL = { name: 1, value: 2 } as const;
const COUNTER = { value: 1, exemplar: 2, created: 3 } as const;
const SUMMARY = { count: 1, sum: 2, quantile: 3, created: 4 } as const;
const QUANTILE = { quantile: 1, value: 2 } as const;
const HISTOGRAM = {
  count: 1, sum: 2, bucket: 3, countFloat: 4, schema: 5, zeroThreshold: 6, zeroCount: 7, zeroCountFloat: 8,
  negativeSpan: 9, negativeDelta: 10, positiveSpan: 12, positiveDelta: 13, created: 15, exemplars: 16,
} as const;
const BUCKET = { count: 1, upperBound: 2, exemplar: 3, countFloat: 4 } as const;
const SPAN = { offset: 1, length: 2 } as const;
const EXEMPLAR = { label: 1, value: 2, timestamp: 3 } as const;
const TIMESTAMP = { seconds: 1, nanos: 2 } as const;

/**
 * Writes the protobuf exposition, one MetricFamily per family() call, one Metric per series as the
 * merge hands it over. Native histograms travel only here: their spans and bucket deltas next to
 * the classic buckets, which Prometheus reads when it scrapes classic histograms too. A family is
 * closed (its length written in front of it) when the next one starts or at finish().
 */
export class ProtobufWriter implements SeriesSink {
  readonly #out = new ProtoWriter();
  #family = -1;
  #type: MetricType = 'gauge';

  family(name: string, help: string, type: MetricType): void {
    this.#endFamily();
    this.#family = this.#out.begin(0);
    this.#type = type;
    this.#out.string(MF.name, name);
    this.#out.string(MF.help, help);
    // proto2 writes a set optional field even at its default: COUNTER is 0.
    this.#out.uint64(MF.type, TYPE[type]);
  }

  value(_field: string, labels: Labels, value: number, exemplar?: Exemplar, created?: number): void {
    const out = this.#out;
    const metric = this.#metric(labels);
    if (this.#type === 'counter') {
      const m = out.begin(METRIC.counter);
      out.double(COUNTER.value, value);
      if (exemplar) this.#exemplar(COUNTER.exemplar, exemplar);
      if (created !== undefined) this.#timestamp(COUNTER.created, created);
      out.end(m);
    } else {
      const m = out.begin(METRIC.gauge);
      out.double(1, value);
      out.end(m);
    }
    out.end(metric);
  }

  histogram(_field: string, labels: Labels, les: readonly string[], cumulative: ArrayLike<number>, sum: number, count: number, exemplars?: ReadonlyArray<Exemplar | undefined>, extras?: HistogramExtras): void {
    const out = this.#out;
    const metric = this.#metric(labels);
    const h = out.begin(METRIC.histogram);
    this.#count(HISTOGRAM.count, HISTOGRAM.countFloat, count);
    out.double(HISTOGRAM.sum, sum);
    // The +Inf bucket is implied by sample_count: written only to carry its exemplar (as client_golang).
    for (let i = 0; i < les.length; i++) {
      const isInf = les[i] === '+Inf';
      const exemplar = exemplars?.[i];
      if (isInf && exemplar === undefined) continue;
      const b = out.begin(HISTOGRAM.bucket);
      this.#count(BUCKET.count, BUCKET.countFloat, cumulative[i]!);
      out.double(BUCKET.upperBound, isInf ? Infinity : Number(les[i]));
      if (exemplar) this.#exemplar(BUCKET.exemplar, exemplar);
      out.end(b);
    }
    if (extras?.created !== undefined) this.#timestamp(HISTOGRAM.created, extras.created);
    const native = extras?.native;
    if (native) {
      out.sint(HISTOGRAM.schema, native.schema);
      out.double(HISTOGRAM.zeroThreshold, native.zeroThreshold);
      this.#count(HISTOGRAM.zeroCount, HISTOGRAM.zeroCountFloat, native.zeroCount);
      this.#side(HISTOGRAM.negativeSpan, HISTOGRAM.negativeDelta, native.negative);
      const empty = native.zeroThreshold === 0 && native.zeroCount === 0 && native.positive.size === 0 && native.negative.size === 0;
      // metrics.proto: an empty native histogram with a zero threshold of 0 needs a no-op span, or
      // it would read as a classic one.
      if (empty) {
        const s = out.begin(HISTOGRAM.positiveSpan);
        out.sint(SPAN.offset, 0);
        out.uint64(SPAN.length, 0);
        out.end(s);
      } else this.#side(HISTOGRAM.positiveSpan, HISTOGRAM.positiveDelta, native.positive);
      // Native histogram exemplars (they must have a timestamp; ours always do).
      for (const e of exemplars ?? []) if (e) this.#exemplar(HISTOGRAM.exemplars, e);
    }
    out.end(h);
    out.end(metric);
  }

  summary(_field: string, labels: Labels, quantiles: readonly number[], values: ArrayLike<number>, sum: number, count: number, created?: number): void {
    const out = this.#out;
    const metric = this.#metric(labels);
    const s = out.begin(METRIC.summary);
    out.uint64(SUMMARY.count, Number.isFinite(count) && count > 0 ? Math.round(count) : 0);
    out.double(SUMMARY.sum, sum);
    for (let i = 0; i < quantiles.length; i++) {
      const q = out.begin(SUMMARY.quantile);
      out.double(QUANTILE.quantile, quantiles[i]!);
      out.double(QUANTILE.value, values[i]!);
      out.end(q);
    }
    if (created !== undefined) this.#timestamp(SUMMARY.created, created);
    out.end(s);
    out.end(metric);
  }

  /** The whole exposition. */
  finish(): Buffer {
    this.#endFamily();
    return this.#out.finish();
  }

  #endFamily(): void {
    if (this.#family >= 0) this.#out.end(this.#family);
    this.#family = -1;
  }

  /** Opens a Metric with its labels; the caller ends it. */
  #metric(labels: Labels): number {
    const out = this.#out;
    const m = out.begin(MF.metric);
    for (const name in labels) {
      const l = out.begin(METRIC.label);
      out.string(LABEL.name, name);
      out.string(LABEL.value, String(labels[name]));
      out.end(l);
    }
    return m;
  }

  /** A count as uint64, or in its `_float` field when it is not a whole number >= 0 (data from Redis may not be). */
  #count(field: number, floatField: number, x: number): void {
    if (Number.isSafeInteger(x) && x >= 0) this.#out.uint64(field, x);
    else this.#out.double(floatField, x);
  }

  #side(spanField: number, deltaField: number, buckets: Buckets): void {
    const out = this.#out;
    const { spans, deltas } = spansOf(buckets);
    for (const span of spans) {
      const s = out.begin(spanField);
      out.sint(SPAN.offset, span.offset);
      out.uint64(SPAN.length, span.length);
      out.end(s);
    }
    for (const d of deltas) out.sint(deltaField, d);
  }

  #exemplar(field: number, e: Exemplar): void {
    const out = this.#out;
    const m = out.begin(field);
    for (const name in e.labelSet) {
      const l = out.begin(EXEMPLAR.label);
      out.string(LABEL.name, name);
      out.string(LABEL.value, String(e.labelSet[name]));
      out.end(l);
    }
    out.double(EXEMPLAR.value, e.value);
    this.#timestamp(EXEMPLAR.timestamp, e.timestamp);
    out.end(m);
  }

  /** A google.protobuf.Timestamp from seconds since the epoch (milliseconds kept exactly). */
  #timestamp(field: number, seconds: number): void {
    const out = this.#out;
    const ms = Math.round(seconds * 1000);
    const whole = Math.floor(ms / 1000);
    const m = out.begin(field);
    out.int64(TIMESTAMP.seconds, whole);
    const nanos = (ms - whole * 1000) * 1_000_000;
    if (nanos !== 0) out.uint64(TIMESTAMP.nanos, nanos);
    out.end(m);
  }
}
