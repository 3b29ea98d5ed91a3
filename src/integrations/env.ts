import { availableParallelism } from 'node:os';
import { ConfigError } from '../errors.js';

type Env = Readonly<Record<string, string | undefined>>;

/** The most workers a launcher forks (`WEB_CONCURRENCY`, `--workers`, option `workers`). */
export const MAX_WORKERS = 1024;

/** Settings of the launcher and the exporter, as the seed names them, plus ours. */
export interface ServeSettings {
  /** `PROMETHEUS_METRICS_PORT` @default 9092 */
  readonly metricsPort: number;
  /** `PROMETHEUS_BIND_ADDRESS` @default '0.0.0.0' */
  readonly bindAddress: string;
  /** `PROM_CLIENT_REDIS_WEB_CONFIG_FILE`: exporter-toolkit web config (TLS, basic auth) of /metrics. @default none */
  readonly webConfigFile: string | undefined;
  /** `PROM_CLIENT_REDIS_MAX_CONNECTIONS`: connections /metrics accepts at once. @default 64 */
  readonly maxConnections: number;
}

export interface LauncherSettings extends ServeSettings {
  /** `WEB_CONCURRENCY` @default os.availableParallelism() */
  readonly workers: number;
  /** `PROM_CLIENT_REDIS_DRAIN_TIMEOUT_MS`: how long a stopping worker may finish its requests. @default 10000 */
  readonly drainTimeoutMs: number;
  /** `PROM_CLIENT_REDIS_BRIDGE`: mirror prom-client's global registry in the workers. @default true */
  readonly bridge: boolean;
  /** `PROM_CLIENT_REDIS_COLLECT_THREAD`: render /metrics in a worker thread of the primary. @default true */
  readonly collectThread: boolean;
}

export function serveSettings(env: Env = process.env): ServeSettings {
  return {
    metricsPort: integer(env, 'PROMETHEUS_METRICS_PORT', 9092, 0, 65535),
    bindAddress: env.PROMETHEUS_BIND_ADDRESS?.trim() || '0.0.0.0',
    webConfigFile: env.PROM_CLIENT_REDIS_WEB_CONFIG_FILE?.trim() || undefined,
    maxConnections: integer(env, 'PROM_CLIENT_REDIS_MAX_CONNECTIONS', 64, 1, 65_535),
  };
}

export function launcherSettings(env: Env = process.env): LauncherSettings {
  return {
    ...serveSettings(env),
    workers: integer(env, 'WEB_CONCURRENCY', Math.min(availableParallelism(), MAX_WORKERS), 1, MAX_WORKERS),
    drainTimeoutMs: integer(env, 'PROM_CLIENT_REDIS_DRAIN_TIMEOUT_MS', 10_000, 0, 3_600_000),
    bridge: boolean(env, 'PROM_CLIENT_REDIS_BRIDGE', true),
    collectThread: boolean(env, 'PROM_CLIENT_REDIS_COLLECT_THREAD', true),
  };
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = /^\s*\d+\s*$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(`Invalid environment variable ${name}: expected an integer from ${min} to ${max}, got \`${raw}\``);
  }
  return n;
}

function boolean(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  if (['true', '1', 'yes', 'on'].includes(raw)) return true;
  if (['false', '0', 'no', 'off'].includes(raw)) return false;
  throw new ConfigError(`Invalid environment variable ${name}: expected true or false (or 1/0, yes/no, on/off), got \`${env[name]}\``);
}

/** Set by the launcher for each worker: its identity nonce, so the primary knows the worker's processId. */
export const NONCE_VARIABLE = 'PROM_CLIENT_REDIS_NONCE';
