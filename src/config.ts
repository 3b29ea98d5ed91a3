import { ConfigError, describe } from './errors.js';
import type { ProcessIdentityOptions } from './identity.js';
import { redact } from './log.js';

/**
 * Options of a RedisStorageManager. Each one overrides its environment variable; unset ones fall
 * back to the environment, then to the default.
 */
export interface RedisStorageOptions {
  /** Store metrics in Redis. Off: the same API works in this process only. @default false (`REDIS_ENABLED`) */
  enabled?: boolean;
  /** `redis://` or `rediss://` URL; wins over host/port/db/password. (`REDIS_URL`) */
  url?: string;
  /** @default 'localhost' (`REDIS_HOST`) */
  host?: string;
  /** @default 6379 (`REDIS_PORT`) */
  port?: number;
  /** @default 0 (`REDIS_DB`) */
  db?: number;
  /** ACL user. (`REDIS_USERNAME`) */
  username?: string;
  /** (`REDIS_PASSWORD`) */
  password?: string;
  /** Connect with TLS. @default false (`REDIS_SSL`) */
  ssl?: boolean;
  /** PEM file of the CA that signed the server's certificate; needs TLS on (`ssl` or `rediss://`). (`REDIS_SSL_CA`) */
  sslCaFile?: string;
  /** PEM client certificate file for mutual TLS. (`REDIS_SSL_CERT`) */
  sslCertFile?: string;
  /** PEM client key file for mutual TLS. (`REDIS_SSL_KEY`) */
  sslKeyFile?: string;
  /** Verify the server's certificate. Turning it off is logged loudly. @default true (`REDIS_SSL_VERIFY`) */
  sslVerify?: boolean;
  /** Redis Cluster startup nodes `host:port,...`. (`REDIS_CLUSTER_NODES`) */
  clusterNodes?: readonly string[];
  /** Sentinels `host:port,...`. (`REDIS_SENTINELS`) */
  sentinels?: readonly string[];
  /** Name of the master the sentinels watch. @default 'mymaster' (`REDIS_SENTINEL_NAME`) */
  sentinelName?: string;
  /** (`REDIS_SENTINEL_PASSWORD`) */
  sentinelPassword?: string;
  /** First part of every key. May contain `:`, not `{` or `}`. @default 'prometheus' (`REDIS_KEY_PREFIX`) */
  keyPrefix?: string;
  /** A dead process's per-process keys expire this long after its last heartbeat. @default 300 (`REDIS_TTL_SECONDS`) */
  ttlSeconds?: number;
  /** How often the shadow store is flushed. @default 1000 (`REDIS_FLUSH_INTERVAL_MS`) */
  flushIntervalMs?: number;
  /** This process counts as live (for the `live*` modes of every reader) while its last heartbeat is this recent; stored with the heartbeat. @default 3 × flushIntervalMs (`REDIS_LIVE_TIMEOUT_MS`) */
  liveTimeoutMs?: number;
  /** A flush not answered within this time fails and is retried. @default 5000 (`REDIS_FLUSH_TIMEOUT_MS`) */
  flushTimeoutMs?: number;
  /** A collect (both round trips) not answered within this time rejects with a TimeoutError. @default 5000 (`REDIS_COLLECT_TIMEOUT_MS`) */
  collectTimeoutMs?: number;
  /** `shutdown()` (and the exit hooks) give up on the final flush after this long. @default 5000 (`REDIS_SHUTDOWN_TIMEOUT_MS`) */
  shutdownTimeoutMs?: number;
  /**
   * Flush on `beforeExit`, and on SIGTERM/SIGINT when the app has no listener of its own for them
   * (then re-raise the signal). @default true (`REDIS_EXIT_HOOKS`)
   */
  exitHooks?: boolean;
  /**
   * Longest run of synchronous flush or collect work before yielding to the event loop: lower keeps
   * the loop more responsive with very many series, higher flushes them a little faster.
   * @default 4 (`REDIS_SLICE_MS`)
   */
  sliceMs?: number;
  /** Most label sets a metric keeps; new ones past it are dropped and counted. @default 10000 (`REDIS_MAX_SERIES_PER_METRIC`) */
  maxSeriesPerMetric?: number;
  /**
   * Most metric families: this process flushes at most this many to Redis (each one is 3 to 5 keys
   * that outlive the process and work at every scrape; families made past it work in this process
   * but are not flushed, counted in `prom_client_redis_families_dropped_total`, with one warning
   * naming the first; the package's own `prom_client_redis_*` metrics are not counted), and one
   * collect reads at most this many (this process's own first, then the index in hash order; the
   * rest are skipped, kind `too-many-families`). @default 2000 (`REDIS_MAX_FAMILIES`)
   */
  maxFamilies?: number;
  /**
   * Most classic buckets of a histogram: `new Histogram()` with more is refused, and a histogram
   * family (or series) read from Redis with more bounds is skipped (kind `too-many-buckets`).
   * @default 1000 (`REDIS_MAX_HISTOGRAM_BUCKETS`)
   */
  maxHistogramBuckets?: number;
  // Bounds of a collect's work. Anything under the prefix may have been written by a buggy or hostile
  // process: what exceeds them is skipped and counted in `prom_client_redis_bad_data_total`.
  /** Largest decompressed size of one summary HDR blob read from Redis; a larger one is skipped (kind `hdr-too-big`). @default 524288 (`REDIS_MAX_HDR_BYTES`) */
  maxHdrBytes?: number;
  /** Most percentiles a summary family read from Redis may have; a family with more is skipped (kind `too-many-percentiles`). @default 100 (`REDIS_MAX_PERCENTILES`) */
  maxPercentilesPerFamily?: number;
  /** Most processes whose per-process hashes a gauge or summary family reads (the most recently heard first); the rest are skipped (kind `too-many-processes`). @default 10000 (`REDIS_MAX_PROCESSES`) */
  maxProcessesPerFamily?: number;
  /** After each flush, wait for this many replicas to acknowledge it (`WAIT`). @default 0 (`REDIS_WAIT_REPLICAS`) */
  waitReplicas?: number;
  /** Timeout of that `WAIT`. @default 1000 (`REDIS_WAIT_TIMEOUT_MS`) */
  waitTimeoutMs?: number;
  /** Override this process's identity (tests, unusual deployments). */
  identity?: ProcessIdentityOptions;
}

export interface ResolvedConfig {
  readonly enabled: boolean;
  readonly url: string | undefined;
  readonly host: string;
  readonly port: number;
  readonly db: number;
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly ssl: boolean;
  readonly sslCaFile: string | undefined;
  readonly sslCertFile: string | undefined;
  readonly sslKeyFile: string | undefined;
  readonly sslVerify: boolean;
  readonly clusterNodes: readonly string[];
  readonly sentinels: readonly string[];
  readonly sentinelName: string;
  readonly sentinelPassword: string | undefined;
  readonly keyPrefix: string;
  readonly ttlSeconds: number;
  readonly flushIntervalMs: number;
  readonly liveTimeoutMs: number;
  readonly flushTimeoutMs: number;
  readonly collectTimeoutMs: number;
  readonly shutdownTimeoutMs: number;
  readonly exitHooks: boolean;
  readonly sliceMs: number;
  readonly maxSeriesPerMetric: number;
  readonly maxFamilies: number;
  readonly maxHistogramBuckets: number;
  readonly maxHdrBytes: number;
  readonly maxPercentilesPerFamily: number;
  readonly maxProcessesPerFamily: number;
  readonly waitReplicas: number;
  readonly waitTimeoutMs: number;
  readonly identity: ProcessIdentityOptions | undefined;
}

type Env = Readonly<Record<string, string | undefined>>;

/** Merges options over the environment over the defaults, validating every value. */
export function resolveConfig(options: RedisStorageOptions = {}, env: Env = process.env): ResolvedConfig {
  if (options === null || typeof options !== 'object') {
    throw new ConfigError(`Expected options to be an object, got ${describe(options)}`);
  }
  const flushIntervalMs = pick(options.flushIntervalMs, env, 'flushIntervalMs', 'REDIS_FLUSH_INTERVAL_MS', 1000, integer(1, 86_400_000));
  const config: ResolvedConfig = {
    enabled: pick(options.enabled, env, 'enabled', 'REDIS_ENABLED', false, boolean),
    url: pick(options.url, env, 'url', 'REDIS_URL', undefined, redisUrl),
    host: pick(options.host, env, 'host', 'REDIS_HOST', 'localhost', nonEmpty),
    port: pick(options.port, env, 'port', 'REDIS_PORT', 6379, integer(1, 65535)),
    db: pick(options.db, env, 'db', 'REDIS_DB', 0, integer(0, 1_000_000)),
    username: pick(options.username, env, 'username', 'REDIS_USERNAME', undefined, nonEmpty),
    password: pick(options.password, env, 'password', 'REDIS_PASSWORD', undefined, anyString),
    ssl: pick(options.ssl, env, 'ssl', 'REDIS_SSL', false, boolean),
    sslCaFile: pick(options.sslCaFile, env, 'sslCaFile', 'REDIS_SSL_CA', undefined, nonEmpty),
    sslCertFile: pick(options.sslCertFile, env, 'sslCertFile', 'REDIS_SSL_CERT', undefined, nonEmpty),
    sslKeyFile: pick(options.sslKeyFile, env, 'sslKeyFile', 'REDIS_SSL_KEY', undefined, nonEmpty),
    sslVerify: pick(options.sslVerify, env, 'sslVerify', 'REDIS_SSL_VERIFY', true, boolean),
    clusterNodes: pick(options.clusterNodes, env, 'clusterNodes', 'REDIS_CLUSTER_NODES', [], hostPortList),
    sentinels: pick(options.sentinels, env, 'sentinels', 'REDIS_SENTINELS', [], hostPortList),
    sentinelName: pick(options.sentinelName, env, 'sentinelName', 'REDIS_SENTINEL_NAME', 'mymaster', nonEmpty),
    sentinelPassword: pick(options.sentinelPassword, env, 'sentinelPassword', 'REDIS_SENTINEL_PASSWORD', undefined, anyString),
    keyPrefix: pick(options.keyPrefix, env, 'keyPrefix', 'REDIS_KEY_PREFIX', 'prometheus', keyPrefix),
    ttlSeconds: pick(options.ttlSeconds, env, 'ttlSeconds', 'REDIS_TTL_SECONDS', 300, integer(1, 31_536_000)),
    flushIntervalMs,
    liveTimeoutMs: pick(options.liveTimeoutMs, env, 'liveTimeoutMs', 'REDIS_LIVE_TIMEOUT_MS', 3 * flushIntervalMs, integer(1, 86_400_000)),
    flushTimeoutMs: pick(options.flushTimeoutMs, env, 'flushTimeoutMs', 'REDIS_FLUSH_TIMEOUT_MS', 5000, integer(1, 3_600_000)),
    collectTimeoutMs: pick(options.collectTimeoutMs, env, 'collectTimeoutMs', 'REDIS_COLLECT_TIMEOUT_MS', 5000, integer(1, 3_600_000)),
    sliceMs: pick(options.sliceMs, env, 'sliceMs', 'REDIS_SLICE_MS', 4, integer(1, 1000)),
    shutdownTimeoutMs: pick(options.shutdownTimeoutMs, env, 'shutdownTimeoutMs', 'REDIS_SHUTDOWN_TIMEOUT_MS', 5000, integer(1, 3_600_000)),
    exitHooks: pick(options.exitHooks, env, 'exitHooks', 'REDIS_EXIT_HOOKS', true, boolean),
    maxSeriesPerMetric: pick(options.maxSeriesPerMetric, env, 'maxSeriesPerMetric', 'REDIS_MAX_SERIES_PER_METRIC', 10_000, integer(1, 100_000_000)),
    maxFamilies: pick(options.maxFamilies, env, 'maxFamilies', 'REDIS_MAX_FAMILIES', 2000, integer(1, 1_000_000)),
    maxHistogramBuckets: pick(options.maxHistogramBuckets, env, 'maxHistogramBuckets', 'REDIS_MAX_HISTOGRAM_BUCKETS', 1000, integer(1, 100_000)),
    maxHdrBytes: pick(options.maxHdrBytes, env, 'maxHdrBytes', 'REDIS_MAX_HDR_BYTES', 524_288, integer(1024, 1_073_741_824)),
    maxPercentilesPerFamily: pick(options.maxPercentilesPerFamily, env, 'maxPercentilesPerFamily', 'REDIS_MAX_PERCENTILES', 100, integer(1, 1_000_000)),
    maxProcessesPerFamily: pick(options.maxProcessesPerFamily, env, 'maxProcessesPerFamily', 'REDIS_MAX_PROCESSES', 10_000, integer(1, 10_000_000)),
    waitReplicas: pick(options.waitReplicas, env, 'waitReplicas', 'REDIS_WAIT_REPLICAS', 0, integer(0, 100)),
    waitTimeoutMs: pick(options.waitTimeoutMs, env, 'waitTimeoutMs', 'REDIS_WAIT_TIMEOUT_MS', 1000, integer(1, 3_600_000)),
    identity: options.identity,
  };
  if (config.waitReplicas > 0 && config.waitTimeoutMs >= config.flushTimeoutMs) {
    // A WAIT that outlasts the flush timeout would fail every flush it delays.
    throw new ConfigError(`REDIS_WAIT_TIMEOUT_MS (${config.waitTimeoutMs}) must be below REDIS_FLUSH_TIMEOUT_MS (${config.flushTimeoutMs}) when REDIS_WAIT_REPLICAS is set`);
  }
  if (config.clusterNodes.length > 0 && config.sentinels.length > 0) {
    throw new ConfigError('REDIS_CLUSTER_NODES and REDIS_SENTINELS are both set: choose Redis Cluster or Sentinel, not both');
  }
  checkTls(config);
  if (config.clusterNodes.length > 0 && config.db !== 0) {
    throw new ConfigError(`REDIS_DB (db) is ${config.db}, but Redis Cluster (REDIS_CLUSTER_NODES) has only database 0`);
  }
  return Object.freeze(config);
}

/** Whether the connection uses TLS: `ssl`, or a `rediss://` URL. */
export function isTlsConfig(config: Pick<ResolvedConfig, 'ssl' | 'url'>): boolean {
  return config.ssl || (config.url?.startsWith('rediss:') ?? false);
}

function checkTls(config: ResolvedConfig): void {
  // A CA or client certificate says TLS was meant; connecting in plaintext instead would send the
  // password and every metric in the clear while the operator believes otherwise.
  const files = [
    ['REDIS_SSL_CA', 'sslCaFile', config.sslCaFile],
    ['REDIS_SSL_CERT', 'sslCertFile', config.sslCertFile],
    ['REDIS_SSL_KEY', 'sslKeyFile', config.sslKeyFile],
  ] as const;
  const set = files.filter(([, , file]) => file !== undefined);
  if (set.length > 0 && !isTlsConfig(config)) {
    const names = set.map(([env, option]) => `${env} (${option})`).join(', ');
    throw new ConfigError(`${names} ${set.length === 1 ? 'is' : 'are'} set but TLS is off: set REDIS_SSL=true (ssl) or use a rediss:// URL, or unset ${set.length === 1 ? 'it' : 'them'}; the connection would otherwise be plaintext`);
  }
  if ((config.sslCertFile === undefined) !== (config.sslKeyFile === undefined)) {
    throw new ConfigError('REDIS_SSL_CERT (sslCertFile) and REDIS_SSL_KEY (sslKeyFile) go together: a client certificate needs its key');
  }
}

/** Parses one raw value; throws a plain message that `pick` prefixes with the option and variable names. */
type Parser<T> = (raw: unknown, fromEnv: boolean) => T;

function pick<T, D extends T | undefined>(option: T | undefined, env: Env, optionName: string, envName: string, fallback: D, parse: Parser<T>): T | D {
  if (option !== undefined) {
    try {
      return parse(option, false);
    } catch (error) {
      throw new ConfigError(`Invalid option \`${optionName}\`: ${(error as Error).message}`);
    }
  }
  const raw = env[envName];
  if (raw === undefined || raw === '') return fallback;
  try {
    return parse(raw, true);
  } catch (error) {
    // Never echo a secret back.
    const shown = /PASSWORD/.test(envName) ? '(hidden)' : (error as Error).message;
    throw new ConfigError(`Invalid environment variable ${envName}: ${shown}`);
  }
}

function boolean(raw: unknown, fromEnv: boolean): boolean {
  if (typeof raw === 'boolean') return raw;
  if (fromEnv && typeof raw === 'string') {
    const v = raw.trim().toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(v)) return true;
    if (['false', '0', 'no', 'off'].includes(v)) return false;
  }
  throw new Error(`expected true or false${fromEnv ? ' (or 1/0, yes/no, on/off)' : ''}, got ${describe(raw)}`);
}

function integer(min: number, max: number): Parser<number> {
  return (raw, fromEnv) => {
    const n = fromEnv && typeof raw === 'string' && /^\s*-?\d+\s*$/.test(raw) ? Number(raw) : raw;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
      throw new Error(`expected an integer from ${min} to ${max}, got ${describe(raw)}`);
    }
    return n;
  };
}

function anyString(raw: unknown): string {
  if (typeof raw !== 'string') throw new Error(`expected a string, got ${typeof raw}`);
  return raw;
}

function nonEmpty(raw: unknown): string {
  if (typeof raw !== 'string' || raw.trim() === '') throw new Error(`expected a non-empty string, got ${describe(raw)}`);
  return raw;
}

function keyPrefix(raw: unknown): string {
  const s = nonEmpty(raw);
  if (/[{}\s]/.test(s)) throw new Error(`expected no braces or white space (they would break Redis Cluster hash tags), got ${describe(raw)}`);
  return s;
}

function redisUrl(raw: unknown): string {
  const s = nonEmpty(raw);
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    throw new Error(`expected a redis:// or rediss:// URL, got a string that is not a URL`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new Error(`expected a redis:// or rediss:// URL, got protocol \`${url.protocol}\``);
  }
  // ioredis would send `SELECT NaN` for anything else, and fail long after start-up.
  // As ioredis reads it: the path, else `?db=`.
  const fromPath = url.pathname.length > 1;
  const db = fromPath ? url.pathname.slice(1) : (url.searchParams.get('db') ?? '0');
  if (!/^\d{1,7}$/.test(db) || Number(db) > 1_000_000) {
    const where = fromPath ? 'path' : '?db=';
    throw new Error(`expected the ${where} to be a database number from 0 to 1000000 (redis://host:6379/0), got \`${db}\` in \`${redact(s)}\``);
  }
  return s;
}

function hostPortList(raw: unknown, fromEnv: boolean): readonly string[] {
  const items = fromEnv && typeof raw === 'string' ? raw.split(',').map((s) => s.trim()).filter(Boolean) : raw;
  if (!Array.isArray(items) || items.length === 0) throw new Error(`expected host:port,host:port, got ${describe(raw)}`);
  for (const item of items) {
    const m = typeof item === 'string' ? /^(.+):(\d+)$/.exec(item) : null;
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new Error(`expected host:port, got ${describe(item)}`);
  }
  return Object.freeze([...items] as string[]);
}

/** Parses `host:port` (already validated by the config). */
export function parseHostPort(item: string): { host: string; port: number } {
  const i = item.lastIndexOf(':');
  return { host: item.slice(0, i), port: Number(item.slice(i + 1)) };
}
