// The library's own timers come from node:timers, not the globals: an app's fake timers (Jest's
// useFakeTimers) must not stop a collect or a flush.
import { setTimeout, clearTimeout } from 'node:timers';
import { resolveConfig, type RedisStorageOptions, type ResolvedConfig } from './config.js';
import { makeIdentity, type ProcessIdentity } from './identity.js';
import { createLogger, type Logger } from './log.js';
import { RedisStorageClient, type RedisConnection } from './redis/client.js';
import { RedisStorageDict } from './store/storage-dict.js';
import { Flusher } from './flush/flusher.js';
import { RedisMultiProcessCollector } from './collect/collector.js';
import { SelfStats } from './stats.js';
import { ConfigError } from './errors.js';
import { registerExitHook, unregisterExitHook } from './exit-hooks.js';
import { hasUpdatesToKeep } from './exit-pending.js';
import { evictionWarning, readEvictionPolicies } from './redis/eviction-policy.js';

export interface RedisStorageManagerOptions extends RedisStorageOptions {
  /** Use this ioredis connection instead of opening one; `shutdown()` then leaves it open. */
  connection?: RedisConnection;
  /** Environment to read instead of `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
}

/**
 * The service layer of the seed: owns the configuration, the shadow store, the Redis client, the
 * flusher and the collector of one process. With `enabled: false` it runs the same API in memory.
 */
export class RedisStorageManager {
  readonly config: ResolvedConfig;
  readonly identity: ProcessIdentity;
  readonly dict: RedisStorageDict;
  readonly stats = new SelfStats();
  readonly logger: Logger;
  readonly client: RedisStorageClient | undefined;
  readonly #flusher: Flusher | undefined;
  readonly #collector: RedisMultiProcessCollector;
  readonly #callbacks = new Map<string, () => void | Promise<void>>();
  #shutdown: Promise<void> | undefined;
  #startupError: ConfigError | undefined;
  /** The server checks of the last connection (see checkRedisServer). */
  #serverCheck: Promise<readonly string[]> = Promise.resolve([]);
  #lastServerWarning: string | undefined;

  /**
   * @internal The process's manager, as getRedisStorageManager() makes it from the environment.
   * The first metric the app creates makes it, often while modules load: a bad REDIS_* value must
   * not crash the app there. It is refused all the same (warned about, naming the variable, and
   * kept as `lastError`), and the metrics work in this process only, as with REDIS_ENABLED=false.
   */
  static fromEnvironment(): RedisStorageManager {
    try {
      return new RedisStorageManager();
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      const manager = new RedisStorageManager({ enabled: false, env: {} });
      manager.#startupError = error;
      manager.logger.warn(`${error.message}; Redis is not used: the metrics stay in this process`, { code: error.code });
      return manager;
    }
  }

  constructor(options: RedisStorageManagerOptions = {}) {
    const { connection, env, ...rest } = options;
    this.config = resolveConfig(rest, env ?? process.env);
    if (this.config.identity) validateIdentity(this.config.identity);
    this.identity = makeIdentity(this.config.identity);
    this.logger = createLogger(env ?? process.env);
    // One warning per process, not per metric: an explosion usually hits several metrics at once.
    const onFirstDrop = (def: { name: string }) => {
      this.logger.warn(`metric \`${def.name}\` reached maxSeriesPerMetric (${this.config.maxSeriesPerMetric}); new label sets are dropped and counted (see SelfStats.droppedSeries)`);
    };
    const onFirstFamilyDrop = (def: { name: string }) => {
      this.logger.warn(`metric \`${def.name}\` is past maxFamilies (${this.config.maxFamilies} families in this process): it and any family made after it work in this process but are not flushed to Redis; counted in prom_client_redis_families_dropped_total (REDIS_MAX_FAMILIES)`);
    };
    this.dict = new RedisStorageDict(this.config.maxSeriesPerMetric, onFirstDrop, this.config.enabled, this.config.maxFamilies, onFirstFamilyDrop);
    this.stats.droppedSeriesOf = () => this.dict.droppedSeries;
    this.stats.droppedFamiliesOf = () => this.dict.droppedFamilies;
    if (this.config.enabled) {
      this.client = new RedisStorageClient(this.config, this.logger, connection);
      this.#flusher = new Flusher(this.dict, this.client, this.config, this.identity, this.logger, this.stats);
      this.#flusher.start();
      if (this.config.exitHooks) registerExitHook(this);
      // Checked at every (re)connection: a failover may lead to a server configured otherwise.
      const check = (): void => {
        this.#serverCheck = this.#checkServer();
      };
      this.client.redis.on('ready', check);
      if (this.client.isConnected()) check();
    }
    this.#collector = new RedisMultiProcessCollector({
      dict: this.dict,
      client: this.client,
      config: this.config,
      identity: this.identity,
      logger: this.logger,
      stats: this.stats,
      callbacks: () => [...this.#callbacks.values()],
    });
  }

  get isEnabled(): boolean {
    return this.config.enabled;
  }

  getCollector(): RedisMultiProcessCollector {
    return this.#collector;
  }

  /** The real state of the Redis connection (false when Redis is not enabled). */
  isConnected(): boolean {
    return this.client?.isConnected() ?? false;
  }

  /**
   * Why Redis is not reachable or refused us, when it said so: a TlsError (names REDIS_SSL_CA), an
   * AuthError (credentials or ACL rights), or the connection's own error. Cleared once the
   * connection is ready again.
   */
  get lastError(): Error | undefined {
    return this.client?.lastError ?? this.#startupError;
  }

  /**
   * Resolves once connected. Rejects after `timeoutMs`, or at once on a TLS, credentials or database
   * error (TlsError, AuthError, ConfigError): waiting longer would not fix the configuration.
   */
  async waitUntilConnected(timeoutMs = this.config.flushTimeoutMs): Promise<void> {
    const client = this.client;
    if (!client) throw this.#startupError ?? new ConfigError('Redis is not enabled (set REDIS_ENABLED=true or pass { enabled: true })');
    await client.waitUntilReady(timeoutMs);
  }

  /**
   * What the start-up checks of the Redis server found wrong (for now: a `maxmemory-policy` that
   * evicts keys, on any Cluster master, or one that could not be read), as /health says it;
   * waits for the check of the current connection. Each new finding is also warned about once.
   */
  checkRedisServer(): Promise<readonly string[]> {
    return this.#serverCheck;
  }

  async #checkServer(): Promise<readonly string[]> {
    const warning = evictionWarning(await readEvictionPolicies(this.client!.redis, this.config.collectTimeoutMs));
    // Loud, once per finding: eviction silently drops a family's sums until a flush notices.
    if (warning !== undefined && warning !== this.#lastServerWarning && !this.#shutdown) this.logger.warn(warning);
    this.#lastServerWarning = warning;
    return warning === undefined ? [] : [warning];
  }

  /** Forces a flush now. Rejects if Redis refused it; the data is kept for the next one. */
  async flush(): Promise<void> {
    if (this.#flusher) await this.#flusher.flush();
  }

  /**
   * Stops the timer, makes a final flush, marks this process not live, and closes the connection it
   * owns; all within `shutdownTimeoutMs`. Past it, what is not flushed is lost (and logged), so a
   * frozen Redis cannot hold a process that wants to exit. Never rejects.
   */
  shutdown(): Promise<void> {
    this.#shutdown ??= (async () => {
      unregisterExitHook(this);
      this.#collector.stop();
      const flusher = this.#flusher;
      const client = this.client;
      if (!flusher || !client) return;
      flusher.stop();
      // Redis down and only the package's own figures pending: nothing to wait for, no loss to warn of.
      if (!client.isConnected() && !hasUpdatesToKeep(this)) {
        client.disconnect();
        return;
      }
      const deadline = Date.now() + this.config.shutdownTimeoutMs;
      let timer: NodeJS.Timeout | undefined;
      // A referenced timer: it is what keeps a process ending on `beforeExit` alive until the flush is done.
      const expired = new Promise<'expired'>((resolve) => {
        timer = setTimeout(() => resolve('expired'), this.config.shutdownTimeoutMs);
      });
      try {
        const final = (async () => {
          // A short-lived process may end before its first connection is ready. The wait gets the
          // whole shutdown time: the timer above (same duration, started first) always fires first
          // and is the one that says the final flush was not done in time.
          if (!client.isConnected()) await this.waitUntilConnected(this.config.shutdownTimeoutMs);
          await flusher.flush('exit');
          return 'flushed' as const;
        })();
        final.catch(() => {});
        if ((await Promise.race([final, expired])) === 'expired') {
          this.logger.warn(`final flush not done within shutdownTimeoutMs (${this.config.shutdownTimeoutMs} ms): the updates not flushed are lost`);
        }
      } catch (error) {
        this.logger.warn(`final flush failed: ${(error as Error).message}`);
      } finally {
        const left = deadline - Date.now();
        if (left > 0) await Promise.race([client.close(), expired]);
        clearTimeout(timer);
        client.disconnect();
      }
    })();
    return this.#shutdown;
  }

  /**
   * @internal A callback of the manager itself (registry bridge, self-metrics), run before every
   * full collect; a metric's own `collect` is run by the metric (and by full collects while the
   * metric represents its name).
   */
  addCollectCallback(name: string, callback: () => void | Promise<void>): void {
    this.#callbacks.set(name, callback);
  }
}

function validateIdentity(identity: NonNullable<ResolvedConfig['identity']>): void {
  for (const [k, v] of Object.entries(identity)) {
    if (v !== undefined && (typeof v === 'string' ? /[{}\s]/.test(v) || v === '' : !Number.isInteger(v))) {
      throw new ConfigError(`Invalid option \`identity.${k}\`: expected a non-empty string without braces or white space (or an integer pid), got \`${String(v)}\``);
    }
  }
}

let processManager: RedisStorageManager | undefined;

/** The process's manager, made from the environment on first use; a bad setting there is warned about, not thrown (see fromEnvironment). */
export function getRedisStorageManager(): RedisStorageManager {
  processManager ??= RedisStorageManager.fromEnvironment();
  return processManager;
}

/** Replaces the process's manager (before any metric is created), e.g. to pass options instead of env. */
export function setRedisStorageManager(manager: RedisStorageManager): void {
  processManager = manager;
}
