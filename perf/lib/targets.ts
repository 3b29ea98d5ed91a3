// The targets of issue 6, each read from a row of the latest results (a ratio against a baseline
// measured in the same run, or a figure against a fixed bound), and rendered at the top of
// perf/README.md with met / missed and, for a miss, why and what would close it.
import { formatNumber, formatRatio } from './format.js';
import { ratio, type Results, type Row } from './results.js';

interface Target {
  readonly id: string;
  readonly goal: string;
  readonly section: string;
  readonly figure: string;
  /** The row's baseline label; null for a row without one (its value is the figure). */
  readonly baseline: string | null;
  /** 'ratio': the row's ratio; 'value': the figure itself, in the row's unit. */
  readonly measure: 'ratio' | 'value';
  readonly op: '<=' | '>=' | '<' | '>';
  readonly bound: number;
  /** Printed when missed: the cause as measured, and what would close it. */
  readonly ifMissed: string;
}

const TARGETS: readonly Target[] = [
  {
    id: '1a', goal: 'Counter.inc(labels) ≤ 0.5× prom-client', section: 'hotpath',
    figure: 'subject Counter.inc(labels)', baseline: 'prom-client Counter.inc(labels)', measure: 'ratio', op: '<=', bound: 0.5,
    ifMissed: 'Both libraries\' rounds are interleaved. A hit is one Map.get per label plus a for-in count of the object\'s keys (~45 ns with 3 labels when the machine is quiet); its parts are three keyed reads of the label names (~15 ns), three Map lookups and the key count. What would close a miss: a child made once (a few ns), or a quieter machine.',
  },
  {
    id: '1b', goal: 'Histogram.observe(labels) ≤ 0.5× prom-client', section: 'hotpath',
    figure: 'subject Histogram.observe(labels)', baseline: 'prom-client Histogram.observe(labels)', measure: 'ratio', op: '<=', bound: 0.5,
    ifMissed: 'As 1a, plus a linear scan of the 11 default buckets.',
  },
  {
    id: '1c', goal: 'child.inc() (child made once) ≤ 0.15× prom-client', section: 'hotpath',
    figure: 'subject child.inc(), child made once', baseline: 'prom-client child.inc(), child made once', measure: 'ratio', op: '<=', bound: 0.15,
    ifMissed: 'A child adds to its value directly (a few ns); a miss would mean the loop was not optimised: profile the section.',
  },
  {
    id: '1d', goal: 'Summary.observe(labels) ≤ 0.2× prom-client', section: 'hotpath',
    figure: 'subject Summary.observe(labels)', baseline: 'prom-client Summary.observe(labels)', measure: 'ratio', op: '<=', bound: 0.2,
    ifMissed: 'Both libraries\' rounds are interleaved. Ours is ~65 ns when quiet: label index (~45 ns, as 1a) and recordHdr (~15 ns; hdr-histogram-js\'s own recordValue costs ~100 ns more at these values). What would close a miss: the same as 1a, or a child made once.',
  },
  {
    id: '1f', goal: 'native Histogram.observe(labels) ≤ 0.5× prom-client\'s classic observe', section: 'hotpath',
    figure: 'subject native Histogram.observe(labels)', baseline: 'prom-client Histogram.observe(labels)', measure: 'ratio', op: '<=', bound: 0.5,
    ifMissed: 'As 1a (the label index), plus the bucket index from the double\'s bits (one table lookup and one comparison) and one Map.get/Map.set of the bucket\'s delta. A miss would point at the Map: a dense array per octave would replace it.',
  },
  {
    id: '1e', goal: 'the slowest update (Summary.observe) ≥ 100× faster than an awaited Redis call', section: 'hotpath',
    figure: 'subject Summary.observe(labels)', baseline: 'awaited ioredis HINCRBYFLOAT, one per update', measure: 'ratio', op: '<=', bound: 0.01,
    ifMissed: 'The awaited call is ~10 µs on loopback here, so a miss means our slowest update measured above ~100 ns, i.e. a busy machine (see 1d).',
  },
  {
    id: '2a', goal: 'flush ≥ 400k dirty series/s (100k series)', section: 'flush',
    figure: 'subject flush() of 100k dirty series', baseline: 'redis-benchmark -P 64 HINCRBYFLOAT', measure: 'value', op: '>=', bound: 400_000,
    ifMissed: 'The flush is bound by redis-server (one HINCRBYFLOAT per series inside the script) on the same 2 cores as the client; compare with the bare EVALSHA row of the same run, which has the same bound.',
  },
  {
    id: '2b', goal: 'flush ≥ 55% of redis-benchmark -P 64 HINCRBYFLOAT (100k series)', section: 'flush',
    figure: 'subject flush() of 100k dirty series', baseline: 'redis-benchmark -P 64 HINCRBYFLOAT', measure: 'ratio', op: '>=', bound: 0.55,
    ifMissed: 'As 2a.',
  },
  {
    id: '2c', goal: 'flush ≤ 1 µs client CPU per dirty series (100k series)', section: 'flush',
    figure: 'subject flush() of 100k dirty series', baseline: 'bare EVALSHA chunks of 1000, 100k series', measure: 'value', op: '<=', bound: 1,
    ifMissed: 'Since the lists travel packed (one argument each), ioredis\' per-argument cost is gone; what is left is the drain (String() of each delta) and the join. Profile with node --cpu-prof.',
  },
  {
    id: '2d', goal: 'flush ≥ 400k dirty series/s (10k series)', section: 'flush',
    figure: 'subject flush() of 10k dirty series', baseline: 'redis-benchmark -P 64 HINCRBYFLOAT', measure: 'value', op: '>=', bound: 400_000,
    ifMissed: 'A 10k flush lasts ~15-25 ms, so one GC or a busy spell of the machine weighs on it; the 100k rows are the steadier figure.',
  },
  {
    id: '2e', goal: 'flush ≤ 1 µs client CPU per dirty series (10k series)', section: 'flush',
    figure: 'subject flush() of 10k dirty series', baseline: 'bare EVALSHA chunks of 1000, 10k series', measure: 'value', op: '<=', bound: 1,
    ifMissed: 'At 10k series the fixed cost of a flush (heartbeat, promise chain, a GC or a JIT tier-up on V8\'s threads, which process.cpuUsage counts) is spread over few series: it moved from 0.2 to 2.4 µs a series between runs while measuring. The 100k figure is the per-series cost.',
  },
  {
    id: '3a', goal: 'scrape, 8 processes × (1k counters + 100 histograms) ≤ 0.3× prom-client cluster', section: 'scrape',
    figure: 'subject metrics(), 8 processes, 1k counters + 100 histograms', baseline: 'prom-client clusterMetrics(), 8 workers, 1k counters + 100 histograms, interleaved', measure: 'ratio', op: '<=', bound: 0.3,
    ifMissed: 'Both sides serve side by side and their scrapes alternate, so this is not drift between runs. Summed metrics are read in two round trips whatever the process count; the time is one process merging and rendering through prom-client\'s Registry (~3 µs a line; ~5 ms for these ~2,400 lines when the machine is quiet), while prom-client\'s cluster spreads its work over the workers. What would close it: rendering without prom-client\'s per-sample objects (the faults branch has such a renderer; on its build this suite measured 0.25× here) and caching parsed label keys between scrapes.',
  },
  {
    id: '3b', goal: 'scrape, 8 processes × (10k counters + 100 histograms) ≤ 0.3× prom-client cluster', section: 'scrape',
    figure: 'subject metrics(), 8 processes, 10k counters + 100 histograms', baseline: 'prom-client clusterMetrics(), 8 workers, 10k counters + 100 histograms, interleaved', measure: 'ratio', op: '<=', bound: 0.3,
    ifMissed: 'As 3a, with ~11,400 lines (~25-30 ms warm: rendering, label parsing and GC). On the faults branch\'s build this suite measured 0.42× here, and 0.36× on perf and faults merged (41 ms against 113 ms): warm, both builds take ~24 ms for this scrape, so the margin is small and a cold or busy reader misses. What would close it: keeping the parsed labels (or the rendered label text) of each field between scrapes instead of JSON.parse and formatting 11,400 lines every time, and skipping the sort when the field set has not changed.',
  },
  {
    id: '3c', goal: 'summed-metric scrape at 64 processes ≤ 1.5× at 1 process', section: 'scrape',
    figure: 'subject metrics(), 64 simulated, 1k counters + 100 histograms', baseline: 'subject metrics(), 1 simulated, 1k counters + 100 histograms', measure: 'ratio', op: '<=', bound: 1.5,
    ifMissed: 'Counters and histograms are summed by Redis, so the read does not grow with processes; a miss would point at the per-process registry reads (ZRANGE of the processes) or noise.',
  },
  {
    id: '4', goal: 'event-loop p99 at 100k series < 20 ms (the flush section here; flush and both scrapes in the event-loop section below)', section: 'flush',
    figure: 'subject flush() of 100k dirty series', baseline: 'bare EVALSHA chunks of 1000, 100k series', measure: 'value', op: '<', bound: 20,
    ifMissed: 'The drain of 100k series runs in one tick here; the faults branch drains in slices of a few ms.',
  },
  {
    id: '5a', goal: 'HTTP app, 2 workers: req/s with our metrics ≥ 97% of no metrics (median of paired rounds)', section: 'e2e',
    figure: 'app with the subject ÷ app without metrics, paired by round', baseline: null, measure: 'value', op: '>=', bound: 0.97,
    ifMissed: 'A CPU profile of the loaded workers (node --cpu-prof, 6 s of autocannon) puts the request\'s metrics at ~4% of a worker\'s CPU (~0.4 µs of ~9 µs: the two clock reads of the timer ~70 ns, two label lookups ~80 ns, the rest inlined bookkeeping) against ~10% for prom-client\'s. With autocannon on the same 2 cores that is a ~2-3% throughput cost, so the target sits inside this machine\'s noise: per-round ratios swing ±10% and the runs of this section today gave 0.85 to 1.0. What would close it: a machine where the load generator does not share the cores, or labels(...) children made once per route (a few ns instead of ~40 ns per lookup).',
  },
  {
    id: '5b', goal: 'HTTP app: req/s with our metrics > prom-client cluster mode (median of paired rounds)', section: 'e2e',
    figure: 'app with the subject ÷ app with prom-client cluster mode, paired by round', baseline: null, measure: 'value', op: '>', bound: 1,
    ifMissed: 'Per request prom-client costs about twice our CPU (profiles: ~10% against ~4% of a worker), but one slow spell in a round moves a ratio by more than that difference; see the CPU per request rows and the per-round ratios.',
  },
  {
    id: '6a', goal: 'issue 14: app p99 on the launcher, kept-alive connections, with a 100k-series scrape every second ≤ 1.2× without (median of paired rounds)', section: 'scrape-latency',
    figure: 'app p99 with ÷ without scrapes, kept-alive connections, paired by round', baseline: null, measure: 'value', op: '<=', bound: 1.2,
    ifMissed: 'Kept-alive requests never pass through the primary, so what is left is CPU: each scrape costs the primary ~0.2-0.3 s of CPU (in its collect thread, at nice +10) and redis-server some more (see the CPU rows), on the 2 cores that the workers, the client and, on this shared machine, other suites use too; p99 without scrapes itself moved between 3 and 28 ms from run to run. Compare with the main-thread row of the same run. What would close it: a cheaper scrape (issue 14 target 2), Redis on another machine as in production, or a machine whose cores are not all busy.',
  },
  {
    id: '6b', goal: 'issue 14: app p99 on the launcher, a new connection per request, with a 100k-series scrape every second ≤ 1.2× without (median of paired rounds)', section: 'scrape-latency',
    figure: 'app p99 with ÷ without scrapes, a new connection per request, paired by round', baseline: null, measure: 'value', op: '<=', bound: 1.2,
    ifMissed: 'node:cluster\'s primary accepts each new connection and hands it to a worker: with the collect on its main thread that hand-off waited for the scrape (the main-thread row of the same run); with the collect thread the main thread only waits, and what is left is CPU, as 6a.',
  },
];

function findRow(results: Results, t: Target): Row | undefined {
  return results[t.section]?.rows.find((r) => r.figure.label === t.figure && (t.baseline === null ? r.baseline === null : r.baseline?.label === t.baseline));
}

const SYMBOL: Record<Target['op'], string> = { '<=': '≤', '>=': '≥', '<': '<', '>': '>' };

function holds(x: number, op: Target['op'], bound: number): boolean {
  return op === '<=' ? x <= bound : op === '>=' ? x >= bound : op === '<' ? x < bound : x > bound;
}

function valueOf(t: Target, row: Row): number | null {
  return t.measure === 'ratio' ? ratio(row) : row.figure.value;
}

/** Units of the rows read as values where one figure label has rows in several units. */
const UNIT_OF: Record<string, string> = { '2a': 'series/s', '2d': 'series/s', '2c': 'client CPU µs/series', '2e': 'client CPU µs/series', '4': 'ms event-loop p99' };

export function targetsSection(results: Results): string[] {
  const lines = [
    '## Targets',
    '',
    'Each target read from the latest figures below (same-run ratios, or a figure against a fixed bound).',
    '',
    '| # | target | measured | bound | status |',
    '|---|---|--:|--:|---|',
  ];
  const explanations: string[] = [];
  for (const t of TARGETS) {
    const unit = UNIT_OF[t.id];
    const row = results[t.section]?.rows.find(
      (r) => r.figure.label === t.figure && (t.baseline === null ? r.baseline === null : r.baseline?.label === t.baseline) && (unit === undefined || r.unit === unit),
    ) ?? (unit === undefined ? findRow(results, t) : undefined);
    const x = row === undefined ? null : valueOf(t, row);
    const shown = x === null ? 'not measured' : t.measure === 'ratio' ? formatRatio(x) : `${formatNumber(x)}${unit === undefined ? '×' : ` ${unit}`}`;
    const boundText = `${SYMBOL[t.op]} ${t.bound >= 1000 ? formatNumber(t.bound) : String(t.bound)}`;
    const bound = t.measure === 'ratio' || unit === undefined ? `${boundText}×` : `${boundText} ${unit}`;
    const met = x !== null && holds(x, t.op, t.bound);
    const status = x === null ? 'not measured' : met ? 'met' : '**missed**';
    lines.push(`| ${t.id} | ${t.goal} | ${shown} | ${bound} | ${status} |`);
    if (x === null) explanations.push(`- **${t.id} not measured**: the \`${t.section}\` section has no such figure yet (run it).`);
    else if (met) explanations.push(`- **${t.id} met**: ${shown} against ${bound}.`);
    else explanations.push(`- **${t.id} missed**: ${shown} against ${bound}. ${t.ifMissed}`);
  }
  lines.push('', ...explanations, '');
  lines.push(
    '- **6 (memory)** has no bound: bytes per series in the process and in Redis are in the `memory` section, next to prom-client\'s.',
    '',
  );
  return lines;
}
