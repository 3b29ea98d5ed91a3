// The series a scrape or memory benchmark registers, the same for prom-client and the subject:
// `counters` counter series, `histograms` histogram series (default buckets) and `summaries`
// summary series (default percentiles), one label `id`.
export interface SeriesShape {
  readonly counters: number;
  readonly histograms: number;
  readonly summaries?: number;
}

export const COUNTER_NAME = 'perf_requests_total';
export const HISTOGRAM_NAME = 'perf_request_duration_seconds';
export const SUMMARY_NAME = 'perf_request_size_bytes';

interface Incrementable {
  inc(labels: { id: string }, value?: number): void;
}
interface Observable {
  observe(labels: { id: string }, value: number): void;
}

/** Gives every series a value: counters +1, each histogram and summary series three observations. */
export function fill(shape: SeriesShape, counter: Incrementable, histogram: Observable, summary?: Observable): void {
  for (let i = 0; i < shape.counters; i++) counter.inc({ id: String(i) }, 1);
  for (let i = 0; i < shape.histograms; i++) {
    const labels = { id: String(i) };
    histogram.observe(labels, 0.003);
    histogram.observe(labels, 0.04);
    histogram.observe(labels, 0.7);
  }
  for (let i = 0; i < (shape.summaries ?? 0); i++) {
    const labels = { id: String(i) };
    summary!.observe(labels, 120);
    summary!.observe(labels, 4_096);
    summary!.observe(labels, 70_000);
  }
}

/**
 * The shape as two arguments (the scripts' positional ones): counters, then histograms, with
 * `+summaries` after them when there are summaries (`0+2000`).
 */
export function shapeArgs(shape: SeriesShape): string[] {
  return [String(shape.counters), (shape.summaries ?? 0) > 0 ? `${shape.histograms}+${shape.summaries}` : String(shape.histograms)];
}

export function parseShape(args: readonly string[], at: number): SeriesShape {
  const [histograms = '0', summaries = '0'] = (args[at + 1] ?? '0').split('+');
  return { counters: Number(args[at]), histograms: Number(histograms), summaries: Number(summaries) };
}
