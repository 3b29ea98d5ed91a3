import { Counter } from '../metrics/counter.js';
import { Gauge } from '../metrics/gauge.js';
import type { RedisStorageManager } from '../manager.js';
import { markOwnMetric } from '../exit-pending.js';

/**
 * Memory, CPU and uptime of each worker, sampled on the flush interval. Gauges keep one series per
 * live process (`liveall`, a `pid` label), so a dead worker's series leave the view at once; CPU
 * time is a counter summed cluster-wide, so `rate()` of it survives restarts.
 * Names avoid prom-client's collectDefaultMetrics() ones, which the registry bridge may mirror.
 */
export class ProcessMetrics {
  readonly memory: Gauge<'type'>;
  readonly cpu: Counter<'mode'>;
  readonly uptime: Gauge;
  #timer: NodeJS.Timeout | undefined;
  #lastCpu = process.cpuUsage();

  constructor(storage: RedisStorageManager) {
    const common = { storage, registers: [] };
    this.memory = new Gauge({ name: 'worker_memory_bytes', help: 'Memory of each live worker process, by type (rss, heap_used, heap_total, external).', labelNames: ['type'], multiprocessMode: 'liveall', ...common });
    this.cpu = new Counter({ name: 'worker_cpu_seconds_total', help: 'CPU time used by the worker processes, summed over all of them, by mode (user, system).', labelNames: ['mode'], ...common });
    this.uptime = new Gauge({ name: 'worker_uptime_seconds', help: 'Seconds since each live worker process started.', multiprocessMode: 'liveall', ...common });
    for (const m of [this.memory, this.cpu, this.uptime]) markOwnMetric(storage, m.name);
    this.sample();
  }

  start(intervalMs: number): void {
    this.#timer ??= setInterval(() => this.sample(), intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  sample(): void {
    const m = process.memoryUsage();
    this.memory.set({ type: 'rss' }, m.rss);
    this.memory.set({ type: 'heap_used' }, m.heapUsed);
    this.memory.set({ type: 'heap_total' }, m.heapTotal);
    this.memory.set({ type: 'external' }, m.external);
    const cpu = process.cpuUsage();
    this.cpu.inc({ mode: 'user' }, Math.max(0, cpu.user - this.#lastCpu.user) / 1e6);
    this.cpu.inc({ mode: 'system' }, Math.max(0, cpu.system - this.#lastCpu.system) / 1e6);
    this.#lastCpu = cpu;
    this.uptime.set(process.uptime());
  }
}
