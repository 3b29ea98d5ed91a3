import { readFileSync } from 'node:fs';
import { Redis, Cluster } from 'ioredis';
import type { RedisOptions, ClusterOptions } from 'ioredis';
import type { ConnectionOptions } from 'node:tls';
import { ConfigError } from '../errors.js';
import { isTlsConfig, parseHostPort, type ResolvedConfig } from '../config.js';
import { redact, type Logger } from '../log.js';

export type RedisConnection = Redis | Cluster;

/**
 * Builds the ioredis connection the configuration asks for: standalone (host/port or URL),
 * Sentinel or Cluster, with TLS and ACL credentials. No offline queue: the shadow store buffers.
 */
export function createConnection(config: ResolvedConfig, logger: Logger): RedisConnection {
  const tls = tlsOptions(config, logger);
  const common: RedisOptions = {
    username: config.username,
    password: config.password,
    db: config.db,
    lazyConnect: false,
    // The shadow store buffers while Redis is away; an offline queue would grow without bound.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: Math.max(config.flushTimeoutMs, config.collectTimeoutMs),
    // ioredis' 10 s would also be how long a TLS handshake with a plaintext server hangs before
    // anything says so.
    connectTimeout: Math.max(config.flushTimeoutMs, config.collectTimeoutMs),
    retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
    connectionName: 'prom-client-redis',
    ...(tls ? { tls } : {}),
  };
  if (config.clusterNodes.length > 0) {
    const options: ClusterOptions = {
      redisOptions: common,
      enableOfflineQueue: false,
      clusterRetryStrategy: (times: number) => Math.min(100 * times, 2000),
      slotsRefreshTimeout: 2000,
    };
    return new Cluster(config.clusterNodes.map(parseHostPort), options);
  }
  if (config.sentinels.length > 0) {
    return new Redis({
      ...common,
      sentinels: config.sentinels.map(parseHostPort),
      name: config.sentinelName,
      sentinelPassword: config.sentinelPassword,
      ...(tls ? { sentinelTLS: tls, enableTLSForSentinelMode: true } : {}),
    });
  }
  if (config.url !== undefined) {
    // URL credentials and db win over the separate settings, as in ioredis; the settings fill what the URL leaves out.
    const { username: _u, password: _p, db: _d, ...rest } = common;
    const url = new URL(config.url);
    return new Redis(config.url, {
      ...rest,
      ...(url.username || config.username === undefined ? {} : { username: config.username }),
      ...(url.password || config.password === undefined ? {} : { password: config.password }),
      // Without a database in the URL, REDIS_DB still counts: ignoring it would write to database 0.
      ...(url.pathname.length > 1 || url.searchParams.has('db') ? {} : { db: config.db }),
      ...(url.protocol === 'rediss:' && !tls ? { tls: {} } : {}),
    });
  }
  return new Redis({ ...common, host: config.host, port: config.port });
}

function tlsOptions(config: ResolvedConfig, logger: Logger): ConnectionOptions | undefined {
  if (!isTlsConfig(config)) return undefined;
  const read = (file: string | undefined, variable: string): Buffer | undefined => {
    if (file === undefined) return undefined;
    try {
      return readFileSync(file);
    } catch (error) {
      throw new ConfigError(`Cannot read ${variable} file \`${file}\`: ${(error as Error).message}`);
    }
  };
  if (!config.sslVerify) {
    logger.warn('TLS certificate verification is OFF (REDIS_SSL_VERIFY=false): the connection to Redis can be intercepted');
  }
  return {
    ca: read(config.sslCaFile, 'REDIS_SSL_CA'),
    cert: read(config.sslCertFile, 'REDIS_SSL_CERT'),
    key: read(config.sslKeyFile, 'REDIS_SSL_KEY'),
    rejectUnauthorized: config.sslVerify,
  };
}

// CRC16/XMODEM as Redis Cluster uses it, on the hash tag when there is one.
const CRC_TABLE = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let j = 0; j < 8; j++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
    t[i] = c;
  }
  return t;
})();

export function slotOf(key: string): number {
  let s = key;
  const open = key.indexOf('{');
  if (open !== -1) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) s = key.slice(open + 1, close);
  }
  const bytes = Buffer.from(s);
  let crc = 0;
  for (const b of bytes) crc = ((crc << 8) & 0xffff) ^ CRC_TABLE[((crc >> 8) ^ b) & 0xff]!;
  return crc % 16384;
}

/** `host:port`, the masked URL, or the node lists: what a log may say about the target. */
export function describeTarget(config: ResolvedConfig): string {
  const user = config.username === undefined ? '' : ` as user ${config.username}`;
  if (config.clusterNodes.length > 0) return `cluster ${config.clusterNodes.join(',')}${user}`;
  if (config.sentinels.length > 0) return `sentinels ${config.sentinels.join(',')} master ${config.sentinelName}${user}`;
  if (config.url !== undefined) return redact(config.url);
  return `${config.ssl ? 'rediss' : 'redis'}://${config.host}:${config.port}/${config.db}${user}`;
}
