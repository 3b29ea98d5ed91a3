// The event loop watched while some work runs: how long the work took, the CPU it used, and the
// loop's longest block measured two ways. Wall: monitorEventLoopDelay (1 ms resolution), which on a
// machine shared with other work also counts the time the OS gave the CPU to others. Own CPU: this
// process's CPU time between two turns of a 1 ms timer, capped by the wall time between them, less
// the 1 ms: the block our own work caused, whatever else the machine runs.
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

export interface LoopWatch {
  /** Wall time of the work, ms. */
  readonly ms: number;
  /** CPU time of this process during the work (user + system), ms. */
  readonly cpuMs: number;
  /** monitorEventLoopDelay over the work, ms (0 when it took no sample). */
  readonly wallMax: number;
  readonly wallP99: number;
  /** Own-CPU block between two timer turns, ms, sorted ascending. */
  readonly cpuBlocks: readonly number[];
  readonly cpuMax: number;
  readonly cpuP99: number;
}

export async function watchLoop(work: () => Promise<unknown>): Promise<LoopWatch> {
  const monitor = monitorEventLoopDelay({ resolution: 1 });
  const cpuBlocks: number[] = [];
  let lastWall = performance.now();
  let lastCpu = process.cpuUsage();
  const tick = setInterval(() => {
    const wall = performance.now();
    const cpu = process.cpuUsage();
    const cpuMs = (cpu.user - lastCpu.user + cpu.system - lastCpu.system) / 1000;
    cpuBlocks.push(Math.max(0, Math.min(wall - lastWall, cpuMs) - 1));
    lastWall = wall;
    lastCpu = cpu;
  }, 1);
  monitor.enable();
  // Both monitors take a first sample: a block at the very start of `work` would otherwise go unseen
  // by monitorEventLoopDelay (it has no earlier sample to measure from).
  await sleep(10);
  const started = performance.now();
  const cpu0 = process.cpuUsage();
  await work();
  const used = process.cpuUsage(cpu0);
  const ms = performance.now() - started;
  // One more turn of the timer: a block in the work's last tick is measured when it next fires.
  await sleep(3);
  monitor.disable();
  clearInterval(tick);
  cpuBlocks.sort((a, b) => a - b);
  const hasSamples = monitor.count > 0;
  return {
    ms,
    cpuMs: (used.user + used.system) / 1000,
    wallMax: hasSamples ? monitor.max / 1e6 : 0,
    wallP99: hasSamples ? monitor.percentile(99) / 1e6 : 0,
    cpuBlocks,
    cpuMax: cpuBlocks[cpuBlocks.length - 1] ?? 0,
    cpuP99: cpuBlocks[Math.min(cpuBlocks.length - 1, Math.floor(cpuBlocks.length * 0.99))] ?? 0,
  };
}
