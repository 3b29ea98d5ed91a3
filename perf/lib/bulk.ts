// The two ways to send many HINCRBYFLOAT updates in one round trip, shared by redis-per-call
// (where they are the figures) and flush (where they are the baselines).
import type { Redis } from 'ioredis';
import { cpuMicros, median } from './stats.js';

// KEYS[1] = hash; ARGV = field1, delta1, field2, delta2, ...; returns the number of pairs applied.
const BULK_HINCRBYFLOAT_LUA = `
for i = 1, #ARGV, 2 do
  redis.call('HINCRBYFLOAT', KEYS[1], ARGV[i], ARGV[i + 1])
end
return #ARGV / 2
`;

export interface BulkFigures {
  /** Median over rounds of updates per second. */
  readonly updatesPerSec: number;
  /** Median over rounds of client CPU per update, microseconds. */
  readonly cpuUsPerUpdate: number;
}

/** Field names as the library writes them: the JSON array of the label values. */
export function labelKeys(count: number): string[] {
  return Array.from({ length: count }, (_, i) => JSON.stringify([String(i)]));
}

async function rounds(count: number, batch: number, send: () => Promise<void>): Promise<BulkFigures> {
  const rates: number[] = [];
  const cpus: number[] = [];
  await send(); // warm-up (and script load)
  for (let r = 0; r < count; r++) {
    const { cpuUs, wallMs } = await cpuMicros(send);
    rates.push(batch / (wallMs / 1000));
    cpus.push(cpuUs / batch);
  }
  return { updatesPerSec: median(rates), cpuUsPerUpdate: median(cpus) };
}

/** One ioredis pipeline() of `batch` HINCRBYFLOAT per round; every reply is checked. */
export function pipelineRounds(redis: Redis, key: string, batch: number, count: number): Promise<BulkFigures> {
  const fields = labelKeys(batch);
  return rounds(count, batch, async () => {
    const pipeline = redis.pipeline();
    for (let i = 0; i < batch; i++) pipeline.hincrbyfloat(key, fields[i] as string, 1 + (i % 7) * 0.5);
    const replies = (await pipeline.exec()) ?? [];
    for (const [error] of replies) if (error) throw error;
  });
}

export function loadBulkScript(redis: Redis): Promise<string> {
  return redis.script('LOAD', BULK_HINCRBYFLOAT_LUA) as Promise<string>;
}

/** One EVALSHA applying fields[from..to) with deltas that vary a little; checks the count applied. */
export async function sendBulk(redis: Redis, sha: string, key: string, fields: readonly string[], from: number, to: number): Promise<void> {
  const args: string[] = new Array<string>((to - from) * 2);
  for (let i = from; i < to; i++) {
    args[2 * (i - from)] = fields[i] as string;
    args[2 * (i - from) + 1] = String(1 + (i % 7) * 0.5);
  }
  const applied = await redis.evalsha(sha, 1, key, ...args);
  if (applied !== to - from) throw new Error(`bulk script applied ${String(applied)} of ${to - from} pairs`);
}

/** One EVALSHA per round carrying `batch` field/delta pairs, arguments built per round. */
export async function evalshaRounds(redis: Redis, key: string, batch: number, count: number): Promise<BulkFigures> {
  const sha = await loadBulkScript(redis);
  const fields = labelKeys(batch);
  return rounds(count, batch, () => sendBulk(redis, sha, key, fields, 0, batch));
}
