// The library's own timers come from node:timers, not the globals (an app's fake timers).
import { setTimeout, clearTimeout } from 'node:timers';
import { Cluster, type Redis } from 'ioredis';
import type { RedisConnection } from './connect.js';

/** What one Redis node says of its eviction settings. */
export interface EvictionPolicy {
  /** `host:port` of the node. */
  readonly node: string;
  /** `maxmemory-policy`, or undefined when the node would not say (then `error` says why). */
  readonly policy: string | undefined;
  /** `maxmemory` in bytes (0: no limit), when INFO said. */
  readonly maxmemoryBytes: number | undefined;
  readonly error?: string;
}

/**
 * Reads `maxmemory-policy` of the server, or of every master of a Cluster (each has its own). INFO
 * first: `+info` is in the minimal ACL line, and CONFIG GET would also hand a metrics user the
 * server's passwords; CONFIG GET when INFO is refused. Never rejects: a node that does not answer
 * within `timeoutMs` or refuses both is reported with its error.
 */
export async function readEvictionPolicies(redis: RedisConnection, timeoutMs: number): Promise<EvictionPolicy[]> {
  const nodes: Redis[] = redis instanceof Cluster ? redis.nodes('master') : [redis];
  return Promise.all(nodes.map((node) => readOne(node, timeoutMs)));
}

async function readOne(node: Redis, timeoutMs: number): Promise<EvictionPolicy> {
  const name = `${node.options.host ?? 'localhost'}:${node.options.port ?? 6379}`;
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    timer.unref();
  });
  const bounded = <T>(p: Promise<T>): Promise<T> => {
    p.catch(() => {});
    return Promise.race([p, expired]);
  };
  try {
    const info = await bounded(node.info('memory'));
    const policy = /^maxmemory_policy:(\S+)/m.exec(info)?.[1];
    const maxmemory = /^maxmemory:(\d+)/m.exec(info)?.[1];
    if (policy !== undefined) return { node: name, policy, maxmemoryBytes: maxmemory === undefined ? undefined : Number(maxmemory) };
    throw new Error('INFO memory has no maxmemory_policy');
  } catch (infoError) {
    try {
      const reply = (await bounded(node.call('config', 'get', 'maxmemory-policy'))) as string[];
      const policy = reply?.[1];
      if (typeof policy === 'string') return { node: name, policy, maxmemoryBytes: undefined };
      throw new Error('CONFIG GET maxmemory-policy gave no value');
    } catch (configError) {
      return { node: name, policy: undefined, maxmemoryBytes: undefined, error: `INFO: ${firstLine(infoError)}; CONFIG GET: ${firstLine(configError)}` };
    }
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The warning for nodes that may evict our keys, or could not be asked; undefined when every node
 * says `noeviction`. Redis then refuses writes when full (flushes fail, are counted as `command`
 * and kept) instead of dropping a family's sums or seq hash.
 */
export function evictionWarning(policies: readonly EvictionPolicy[]): string | undefined {
  const evicting = policies.filter((p) => p.policy !== undefined && p.policy !== 'noeviction');
  const unknown = policies.filter((p) => p.policy === undefined);
  const parts: string[] = [];
  if (evicting.length > 0) {
    const list = evicting.map((p) => `${p.node} has ${p.policy}${p.maxmemoryBytes === undefined ? '' : ` (maxmemory ${p.maxmemoryBytes === 0 ? 'not set' : `${p.maxmemoryBytes} bytes`})`}`).join(', ');
    parts.push(
      `Redis maxmemory-policy is not noeviction: ${list}. When full, Redis evicts keys, metric sums and seq hashes among them: each loss is detected at the family's next flush and repaired from the live processes' totals, but counts of processes that have ended are lost, and the family is incomplete until every process has re-sent it. Set maxmemory-policy noeviction`,
    );
  }
  if (unknown.length > 0) {
    parts.push(`could not read maxmemory-policy of ${unknown.map((p) => `${p.node} (${p.error})`).join(', ')}: make sure it is noeviction`);
  }
  return parts.length > 0 ? parts.join('; ') : undefined;
}

function firstLine(error: unknown): string {
  return String((error as Error)?.message ?? error).split('\n')[0]!.slice(0, 160);
}
