import type { RedisCommand, RedisStorageClient } from '../redis/client.js';
import { AuthError } from '../errors.js';

/** What our prefix holds in Redis, estimated without SCAN (which would walk the whole keyspace). */
export interface RedisUsage {
  readonly families: number;
  /** Processes in the registry (live or not, until pruned after REDIS_TTL_SECONDS). */
  readonly processes: number;
  /** Processes still within their own live timeout (see the live set in docs/design.md). */
  readonly processesLive: number;
  /** Milliseconds since the oldest heartbeat among live processes (0 when none). */
  readonly oldestLiveHeartbeatAgeMs: number;
  /** Index, registries, three keys per family (four but for gauges: the created hash), plus one per process for per-process families. */
  readonly keys: number;
  /** Sum of MEMORY USAGE of those keys; extrapolated when there are more than `maxMemoryProbes`. */
  readonly memoryBytes: number;
}

const PER_PROCESS = (typeMode: string): boolean => typeMode.startsWith('gauge') || typeMode === 'summary';

/**
 * Two pipelined round trips: the index, the registries and TIME; then MEMORY USAGE of the keys the
 * index says exist. Per-process keys of processes that wrote no value of a family are counted
 * although they do not exist, so `keys` is an upper bound.
 */
export async function readRedisUsage(client: RedisStorageClient, timeoutMs: number, maxMemoryProbes = 2000): Promise<RedisUsage> {
  const k = client.keys;
  const first = await client.run(
    [
      { name: 'hgetall', args: [k.families()], key: k.families() },
      { name: 'zrange', args: [k.processes(), 0, -1, 'WITHSCORES'], key: k.processes() },
      { name: 'zrange', args: [k.live(), 0, -1, 'WITHSCORES'], key: k.live() },
      { name: 'time', args: [] },
    ],
    timeoutMs,
    'usage',
  );
  for (const r of first) if (r.error) throw r.error;
  const index = Object.entries((first[0]!.value as Record<string, string> | null) ?? {});
  const registry = first[1]!.value as string[];
  const liveFlat = first[2]!.value as string[];
  const [sec, usec] = first[3]!.value as [string, string];
  const nowMs = Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
  // The registry's scores are last heartbeats; the live set's are each writer's own deadline.
  const lastBeat = new Map<string, number>();
  for (let i = 0; i + 1 < registry.length; i += 2) lastBeat.set(registry[i]!, Number(registry[i + 1]));
  const processes = [...lastBeat.keys()];
  let processesLive = 0;
  let oldest = nowMs;
  for (let i = 0; i + 1 < liveFlat.length; i += 2) {
    if (Number(liveFlat[i + 1]) >= nowMs) {
      processesLive++;
      oldest = Math.min(oldest, lastBeat.get(liveFlat[i]!) ?? nowMs);
    }
  }

  const keyNames: string[] = [k.families(), k.processes(), k.live()];
  for (const [hash, typeMode] of index) {
    keyNames.push(k.meta(typeMode, hash), k.cluster(typeMode, hash), k.seq(typeMode, hash));
    if (!typeMode.startsWith('gauge')) keyNames.push(k.created(typeMode, hash));
    if (PER_PROCESS(typeMode)) for (const p of processes) keyNames.push(k.process(typeMode, p, hash));
  }
  const probed = keyNames.slice(0, maxMemoryProbes);
  const commands: RedisCommand[] = probed.map((key) => ({ name: 'memory', args: ['USAGE', key], key }));
  const replies = await client.run(commands, timeoutMs, 'usage');
  let memory = 0;
  for (const r of replies) {
    // A user without MEMORY USAGE would read as 0 bytes, as if the prefix were empty.
    if (r.error instanceof AuthError) throw r.error;
    if (!r.error && typeof r.value === 'number') memory += r.value;
  }
  const memoryBytes = probed.length < keyNames.length ? Math.round((memory / probed.length) * keyNames.length) : memory;
  return {
    families: index.length,
    processes: processes.length,
    processesLive,
    oldestLiveHeartbeatAgeMs: processesLive > 0 ? nowMs - oldest : 0,
    keys: keyNames.length,
    memoryBytes,
  };
}
