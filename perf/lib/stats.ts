// Small numeric helpers shared by every section: medians, HDR latency histograms, CPU deltas.
import * as hdr from 'hdr-histogram-js';
import { monitorEventLoopDelay } from 'node:perf_hooks';

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** A latency histogram recording nanoseconds, 3 significant digits, up to one minute. */
export function latencyHistogram(): hdr.Histogram {
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60e9,
    numberOfSignificantValueDigits: 3,
    useWebAssembly: false,
  });
}

export interface LatencySummary {
  readonly count: number;
  readonly p50Us: number;
  readonly p99Us: number;
}

export function summarize(histogram: hdr.Histogram): LatencySummary {
  return {
    count: histogram.totalCount,
    p50Us: histogram.getValueAtPercentile(50) / 1000,
    p99Us: histogram.getValueAtPercentile(99) / 1000,
  };
}

/** Client CPU (user + system) spent in this process while `fn` ran, in microseconds. */
export async function cpuMicros<T>(fn: () => Promise<T>): Promise<{ result: T; cpuUs: number; wallMs: number }> {
  const cpuStart = process.cpuUsage();
  const wallStart = process.hrtime.bigint();
  const result = await fn();
  const wallMs = Number(process.hrtime.bigint() - wallStart) / 1e6;
  const cpu = process.cpuUsage(cpuStart);
  return { result, cpuUs: cpu.user + cpu.system, wallMs };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface LoopFigures {
  readonly wallMs: number;
  readonly cpuUs: number;
  /** p99 and max event-loop delay while `fn` ran, ms (perf_hooks.monitorEventLoopDelay, 1 ms resolution). */
  readonly loopP99Ms: number;
  readonly loopMaxMs: number;
}

export async function underLoopMonitor(fn: () => Promise<unknown>): Promise<LoopFigures> {
  const monitor = monitorEventLoopDelay({ resolution: 1 });
  monitor.enable();
  const { cpuUs, wallMs } = await cpuMicros(fn);
  monitor.disable();
  // With no sample (fn shorter than the resolution) the histogram reports 0 / NaN: treat as 0.
  const p99 = monitor.count > 0 ? monitor.percentile(99) / 1e6 : 0;
  const max = monitor.count > 0 ? monitor.max / 1e6 : 0;
  return { wallMs, cpuUs, loopP99Ms: p99, loopMaxMs: max };
}
