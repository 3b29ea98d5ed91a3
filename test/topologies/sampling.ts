// Sampling Redis itself during a Cluster fault: each family's summed value read on the node that
// holds it, and the writer's heartbeat, every few ms; then the longest time between two advances.
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { familyHash } from '../../src/store/family.js';

export interface Sample {
  readonly atMs: number;
  /** `c<f>_total` by family (NaN when the read failed). */
  readonly values: ReadonlyMap<number, number>;
  /** Redis TIME minus the writer's last heartbeat. */
  readonly heartbeatAgeMs: number;
  /** The writer's stored live deadline minus Redis TIME (negative: not live). */
  readonly liveForMs: number;
}

export interface SamplerOptions {
  readonly prefix: string;
  readonly writerId: string;
  /** A connection to the node of the registry slot. */
  readonly registry: Redis;
  /** Where each watched family is read; `asking` sends ASKING first (a slot being imported). */
  readonly nodeOf: (f: number) => { redis: Redis; asking?: boolean };
  readonly families: readonly number[];
  readonly intervalMs?: number;
}

/** Samples until stop() is called; `samples` grows meanwhile. */
export class Sampler {
  readonly samples: Sample[] = [];
  #stop = false;
  readonly #done: Promise<void>;

  constructor(readonly options: SamplerOptions) {
    this.#done = this.#run();
    // A failure shows in stop(); until then it must not be an unhandled rejection.
    this.#done.catch(() => {});
  }

  async stop(): Promise<Sample[]> {
    this.#stop = true;
    await this.#done;
    return this.samples;
  }

  async #run(): Promise<void> {
    const { prefix, writerId, registry, nodeOf, families, intervalMs = 20 } = this.options;
    while (!this.#stop) {
      try {
        await this.#sample(prefix, writerId, registry, nodeOf, families);
      } catch (error) {
        // A connection closed under us: only the end of the test does that.
        if (!this.#stop) throw error;
      }
      await sleep(intervalMs);
    }
  }

  async #sample(prefix: string, writerId: string, registry: Redis, nodeOf: SamplerOptions['nodeOf'], families: readonly number[]): Promise<void> {
    {
      const values = new Map<number, number>();
      await Promise.all(families.map(async (f) => {
        const { redis, asking } = nodeOf(f);
        const key = `${prefix}:counter:cluster:metric:{${familyHash(`c${f}_total`)}}`;
        if (asking) {
          // ASKING holds for the next command on this connection, the HGET: one pipeline keeps them together.
          const reply = (await redis.pipeline().call('asking').hget(key, '[]').exec())?.[1];
          values.set(f, !reply || reply[0] ? Number.NaN : Number(reply[1]));
        } else {
          values.set(f, await redis.hget(key, '[]').then(Number, () => Number.NaN));
        }
      }));
      const [time, beat, deadline] = await Promise.all([registry.time(), registry.zscore(`${prefix}:processes:{registry}`, writerId), registry.zscore(`${prefix}:live:{registry}`, writerId)]);
      const nowMs = Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000);
      this.samples.push({ atMs: Date.now(), values, heartbeatAgeMs: nowMs - Number(beat), liveForMs: Number(deadline) - nowMs });
    }
  }
}

/**
 * The longest time family `f` went without an advance within [fromMs, toMs] (the window's ends
 * count as advances); throws if its value ever went down.
 */
export function longestGap(samples: readonly Sample[], f: number, fromMs: number, toMs: number): number {
  let last = samples.filter((s) => s.atMs < fromMs && !Number.isNaN(s.values.get(f))).at(-1)?.values.get(f) ?? -Infinity;
  let lastChange = fromMs;
  let longest = 0;
  for (const s of samples) {
    if (s.atMs < fromMs || s.atMs > toMs) continue;
    const v = s.values.get(f)!;
    if (Number.isNaN(v)) continue;
    if (v < last) throw new Error(`c${f}_total went down: ${last} -> ${v} at ${s.atMs - fromMs} ms`);
    if (v > last) {
      longest = Math.max(longest, s.atMs - lastChange);
      lastChange = s.atMs;
      last = v;
    }
  }
  return Math.max(longest, toMs - lastChange);
}

/** Samples in the window whose heartbeat is older than `liveTimeoutMs` or whose deadline has passed. */
export function staleHeartbeats(samples: readonly Sample[], fromMs: number, toMs: number, liveTimeoutMs: number): string[] {
  return samples
    .filter((s) => s.atMs >= fromMs && s.atMs <= toMs && (s.liveForMs < 0 || s.heartbeatAgeMs > liveTimeoutMs))
    .map((s) => `${s.atMs - fromMs} ms: heartbeat ${s.heartbeatAgeMs} ms old, live for ${s.liveForMs} ms`);
}
