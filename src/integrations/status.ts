import type { RedisStorageManager } from '../manager.js';
import { redact } from '../log.js';
import { readRedisUsage } from './redis-usage.js';

/**
 * The `prom-client-redis status` report: what Redis holds under the prefix, and the
 * self-monitoring figures every process has flushed, in a few human lines.
 */
export async function statusReport(storage: RedisStorageManager): Promise<{ ok: boolean; text: string }> {
  const { config } = storage;
  const where = config.clusterNodes.length > 0 ? `cluster ${config.clusterNodes.join(',')}`
    : config.sentinels.length > 0 ? `sentinel ${config.sentinelName} via ${config.sentinels.join(',')}`
      : config.url !== undefined ? redact(config.url) : `redis://${config.host}:${config.port}/${config.db}`;
  const lines = [`redis          ${where}, key prefix "${config.keyPrefix}"`];
  const client = storage.client;
  try {
    await storage.waitUntilConnected(config.collectTimeoutMs);
  } catch (error) {
    lines.push(`connection     DOWN: ${(error as Error).message}`);
    return { ok: false, text: lines.join('\n') };
  }
  const started = performance.now();
  const usage = await readRedisUsage(client!, config.collectTimeoutMs);
  lines.push(`connection     up (usage read in ${(performance.now() - started).toFixed(1)} ms)`);
  lines.push(`families       ${usage.families}`);
  lines.push(`processes      ${usage.processes} known, ${usage.processesLive} live${usage.processesLive > 0 ? ` (oldest heartbeat ${seconds(usage.oldestLiveHeartbeatAgeMs / 1000)} ago)` : ''}`);
  lines.push(`keys           ${usage.keys} (estimated from the index)`);
  lines.push(`memory         ${bytes(usage.memoryBytes)}`);

  const families = new Map((await storage.getCollector().collect()).map((f) => [f.name, f]));
  const total = (name: string, metricName = name): number | undefined => {
    const f = families.get(name);
    if (!f || f.values.length === 0) return undefined;
    return f.values.filter((v) => (v.metricName ?? f.name) === metricName).reduce((a, v) => a + v.value, 0);
  };
  const p = 'prom_client_redis_';
  const flushes = total(`${p}flush_duration_seconds`, `${p}flush_duration_seconds_count`);
  const flushSeconds = total(`${p}flush_duration_seconds`, `${p}flush_duration_seconds_sum`);
  if (flushes !== undefined && flushes > 0) lines.push(`flushes        ${flushes} ok, mean ${((flushSeconds! / flushes) * 1000).toFixed(2)} ms`);
  const errors = families.get(`${p}flush_errors_total`)?.values ?? [];
  lines.push(`flush errors   ${errors.length === 0 ? 'none' : errors.map((v) => `${v.labels.kind} ${v.value}`).join(', ')}`);
  const age = total(`${p}last_successful_flush_age_seconds`);
  if (age !== undefined) lines.push(`last flush     ${seconds(age)} ago (worst live process)`);
  lines.push(`series pending ${total(`${p}series_pending`) ?? 0}`);
  lines.push(`series dropped ${total(`${p}series_dropped_total`) ?? 0}`);
  const requests = total('http_requests_total');
  if (requests !== undefined) lines.push(`http requests  ${requests} (cluster-wide total)`);
  return { ok: true, text: lines.join('\n') };
}

function seconds(s: number): string {
  return s < 10 ? `${s.toFixed(1)} s` : `${Math.round(s)} s`;
}

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

