// Synchronous micro-benchmark loop: calibrate, warm up, several timed rounds, report the median
// round. A loop returns a number that is folded into a sink published on globalThis, so the
// optimiser cannot prove the work unused and drop it.
export type Loop = (iterations: number) => number;

export interface NsPerOpOptions {
  /** @default 300 */
  readonly warmupMs?: number;
  /** @default 100 */
  readonly roundMs?: number;
  /** @default 7 */
  readonly rounds?: number;
}

let sink = 0;

function timeLoop(loop: Loop, iterations: number): number {
  const start = process.hrtime.bigint();
  sink += loop(iterations);
  return Number(process.hrtime.bigint() - start);
}

export function nsPerOp(loop: Loop, options: NsPerOpOptions = {}): { median: number; rounds: number[] } {
  const warmupMs = options.warmupMs ?? 300;
  const roundMs = options.roundMs ?? 100;
  const roundCount = options.rounds ?? 7;

  // Calibrate: grow the batch until one call takes at least 10 ms.
  let iterations = 1000;
  let elapsedNs = timeLoop(loop, iterations);
  while (elapsedNs < 10e6 && iterations < 1e9) {
    iterations *= 4;
    elapsedNs = timeLoop(loop, iterations);
  }
  const perRound = Math.max(1000, Math.round((iterations * roundMs * 1e6) / elapsedNs));

  const warmupEnd = Date.now() + warmupMs;
  while (Date.now() < warmupEnd) timeLoop(loop, Math.max(1000, perRound >> 2));

  const rounds: number[] = [];
  for (let i = 0; i < roundCount; i++) rounds.push(timeLoop(loop, perRound) / perRound);
  (globalThis as { __perfSink?: number }).__perfSink = sink;
  const sorted = [...rounds].sort((a, b) => a - b);
  return { median: sorted[sorted.length >> 1] as number, rounds };
}

/**
 * nsPerOp for several loops at once, their rounds interleaved (round 1 of every loop, then round 2,
 * ...), so that a busy spell of a shared machine hits every loop alike instead of whichever ran
 * then. Each loop is calibrated and warmed up first.
 */
export function nsPerOpInterleaved(loops: ReadonlyMap<string, Loop>, options: NsPerOpOptions = {}): Map<string, { median: number; rounds: number[] }> {
  const warmupMs = options.warmupMs ?? 300;
  const roundMs = options.roundMs ?? 100;
  const roundCount = options.rounds ?? 7;
  const perRound = new Map<string, number>();
  for (const [name, loop] of loops) {
    let iterations = 1000;
    let elapsedNs = timeLoop(loop, iterations);
    while (elapsedNs < 10e6 && iterations < 1e9) {
      iterations *= 4;
      elapsedNs = timeLoop(loop, iterations);
    }
    const n = Math.max(1000, Math.round((iterations * roundMs * 1e6) / elapsedNs));
    perRound.set(name, n);
    const warmupEnd = Date.now() + warmupMs;
    while (Date.now() < warmupEnd) timeLoop(loop, Math.max(1000, n >> 2));
  }
  const rounds = new Map<string, number[]>([...loops.keys()].map((name) => [name, []]));
  for (let i = 0; i < roundCount; i++) {
    for (const [name, loop] of loops) {
      const n = perRound.get(name) as number;
      rounds.get(name)!.push(timeLoop(loop, n) / n);
    }
  }
  (globalThis as { __perfSink?: number }).__perfSink = sink;
  const out = new Map<string, { median: number; rounds: number[] }>();
  for (const [name, r] of rounds) {
    const sorted = [...r].sort((a, b) => a - b);
    out.set(name, { median: sorted[sorted.length >> 1] as number, rounds: r });
  }
  return out;
}
