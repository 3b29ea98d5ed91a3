// The series a scrape or memory benchmark registers, the same for prom-client and the subject:
// `counters` counter series and `histograms` histogram series (default buckets), one label `id`.
export interface SeriesShape {
  readonly counters: number;
  readonly histograms: number;
}

export const COUNTER_NAME = 'perf_requests_total';
export const HISTOGRAM_NAME = 'perf_request_duration_seconds';

interface Incrementable {
  inc(labels: { id: string }, value?: number): void;
}
interface Observable {
  observe(labels: { id: string }, value: number): void;
}

/** Gives every series a value: counters +1, each histogram series three observations. */
export function fill(shape: SeriesShape, counter: Incrementable, histogram: Observable): void {
  for (let i = 0; i < shape.counters; i++) counter.inc({ id: String(i) }, 1);
  for (let i = 0; i < shape.histograms; i++) {
    const labels = { id: String(i) };
    histogram.observe(labels, 0.003);
    histogram.observe(labels, 0.04);
    histogram.observe(labels, 0.7);
  }
}

export function shapeArgs(shape: SeriesShape): string[] {
  return [String(shape.counters), String(shape.histograms)];
}

export function parseShape(args: readonly string[], at: number): SeriesShape {
  return { counters: Number(args[at]), histograms: Number(args[at + 1]) };
}
