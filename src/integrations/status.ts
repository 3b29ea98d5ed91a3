import { resolveConfig, type ResolvedConfig } from '../config.js';
import { makeIdentity } from '../identity.js';
import { createLogger, redact } from '../log.js';
import { RedisStorageClient } from '../redis/client.js';
import { RedisMultiProcessCollector } from '../collect/collector.js';
import { RedisStorageDict } from '../store/storage-dict.js';
import { SelfStats } from '../stats.js';
import { AuthError, TlsError } from '../errors.js';
import { readRedisUsage } from './redis-usage.js';

type Env = Readonly<Record<string, string | undefined>>;

/** What the report reads: a connection and a collector, and nothing that writes (no flusher, no heartbeat). */
export interface StatusSource {
  readonly config: ResolvedConfig;
  readonly client: RedisStorageClient;
  readonly collector: RedisMultiProcessCollector;
}

/**
 * `prom-client-redis status`: the report, read-only, from the environment, within
 * `collectTimeoutMs` all told (connecting included). Redis down answers at its first connection
 * error: a status command should say so, not wait for it.
 */
export async function runStatus(env: Env = process.env): Promise<{ ok: boolean; text: string }> {
  // On whatever REDIS_ENABLED says, but a misspelt one is refused, as everywhere else.
  resolveConfig({}, env);
  const config = resolveConfig({ enabled: true }, env);
  const logger = createLogger(env);
  const client = new RedisStorageClient(config, logger);
  const collector = new RedisMultiProcessCollector({
    dict: new RedisStorageDict(config.maxSeriesPerMetric),
    client,
    config,
    identity: makeIdentity(config.identity),
    logger,
    stats: new SelfStats(),
    callbacks: () => [],
  });
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<{ ok: boolean; text: string }>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, text: `${header(config)}\nconnection     no answer within ${config.collectTimeoutMs} ms (REDIS_COLLECT_TIMEOUT_MS)` }), config.collectTimeoutMs);
  });
  try {
    return await Promise.race([statusReport({ config, client, collector }), expired]);
  } finally {
    clearTimeout(timer);
    client.disconnect();
  }
}

function header(config: ResolvedConfig): string {
  const where = config.clusterNodes.length > 0 ? `cluster ${config.clusterNodes.join(',')}`
    : config.sentinels.length > 0 ? `sentinel ${config.sentinelName} via ${config.sentinels.join(',')}`
      : config.url !== undefined ? redact(config.url) : `redis://${config.host}:${config.port}/${config.db}`;
  return `redis          ${where}, key prefix "${config.keyPrefix}"`;
}

/** Resolves once connected; rejects at the first connection error, explained by the client. */
function firstConnection(client: RedisStorageClient, isCluster: boolean): Promise<void> {
  if (client.isConnected()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (): void => {
      client.redis.off('ready', onReady).off('error', onError).off('node error', onError);
    };
    const onReady = (): void => {
      done();
      resolve();
    };
    const onError = (error: Error): void => {
      // A Cluster retries its other nodes: only a node's TLS or credentials error is final there.
      const known = client.lastError ?? error;
      if (isCluster && !(known instanceof TlsError || known instanceof AuthError)) return;
      done();
      reject(known);
    };
    client.redis.on('ready', onReady).on('error', onError).on('node error', onError);
  });
}

/**
 * What Redis holds under the prefix, and the self-monitoring figures every process has flushed,
 * in a few human lines.
 */
export async function statusReport({ config, client, collector }: StatusSource): Promise<{ ok: boolean; text: string }> {
  const lines = [header(config)];
  try {
    await firstConnection(client, config.clusterNodes.length > 0);
  } catch (error) {
    lines.push(`connection     DOWN: ${(error as Error).message}`);
    return { ok: false, text: lines.join('\n') };
  }
  const started = performance.now();
  const usage = await readRedisUsage(client, config.collectTimeoutMs);
  lines.push(`connection     up (usage read in ${(performance.now() - started).toFixed(1)} ms)`);
  lines.push(`families       ${usage.families}`);
  lines.push(`processes      ${usage.processes} known, ${usage.processesLive} live${usage.processesLive > 0 ? ` (oldest heartbeat ${seconds(usage.oldestLiveHeartbeatAgeMs / 1000)} ago)` : ''}`);
  lines.push(`keys           ${usage.keys} (estimated from the index)`);
  lines.push(`memory         ${bytes(usage.memoryBytes)}`);

  const families = new Map((await collector.collect()).map((f) => [f.name, f]));
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

