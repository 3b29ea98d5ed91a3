import { readFileSync } from 'node:fs';
import { Redis, Cluster } from 'ioredis';
import type { RedisOptions, ClusterOptions, ChainableCommander } from 'ioredis';
import type { ConnectionOptions } from 'node:tls';
import { ConfigError, PromClientRedisError, RedisOperationError, TimeoutError } from '../errors.js';
import { parseHostPort, type ResolvedConfig } from '../config.js';
import type { Logger } from '../log.js';
import { KeyBuilder } from './keys.js';
import { SCRIPTS } from './scripts.js';

/** One command of a batch; `key` routes it to its node in Redis Cluster. */
export interface RedisCommand {
  readonly name: string;
  readonly args: readonly (string | number)[];
  readonly key?: string;
}

export type Reply = { readonly error: Error | null; readonly value: unknown };

export type RedisConnection = Redis | Cluster;

/**
 * Owns (or borrows) the ioredis connection: standalone, Sentinel or Cluster, with TLS and ACL
 * users. Runs batches as one pipeline per Redis node and never queues commands while offline:
 * the shadow store is the buffer, not the client.
 */
export class RedisStorageClient {
  readonly redis: RedisConnection;
  readonly keys: KeyBuilder;
  readonly #ownsConnection: boolean;

  constructor(config: ResolvedConfig, logger: Logger, connection?: RedisConnection) {
    this.keys = new KeyBuilder(config.keyPrefix);
    this.#ownsConnection = connection === undefined;
    this.redis = connection ?? createConnection(config, logger);
    for (const [name, script] of Object.entries(SCRIPTS)) {
      if (!(name in this.redis)) this.redis.defineCommand(name, script);
    }
    // ioredis emits 'error' on every failed reconnect; without a listener Node would crash.
    this.redis.on('error', (error: Error) => logger.debug('redis.error', { message: error.message }));
    this.redis.on('ready', () => {
      logger.debug('redis.ready');
      this.#setRef();
    });
    this.redis.on('connect', () => this.#setRef());
    this.redis.on('reconnecting', () => {
      logger.debug('redis.reconnecting');
      // ioredis sets its reconnect timer right after this event; it must not hold the process either.
      process.nextTick(() => {
        const timer = (this.redis as unknown as { reconnectTimeout?: NodeJS.Timeout | null }).reconnectTimeout;
        timer?.unref();
      });
    });
  }

  /** The real state of the connection, not a flag set at start-up. */
  isConnected(): boolean {
    return this.redis.status === 'ready';
  }

  /**
   * Like prom-client, the library must never keep a process alive: sockets are unref()ed while
   * idle and ref()ed while a batch is in flight, so a flush started at exit still completes.
   */
  #inFlight = 0;

  #setRef(): void {
    const sockets = this.redis instanceof Cluster ? this.redis.nodes().map((n) => n.stream) : [this.redis.stream];
    for (const socket of sockets) {
      if (!socket) continue;
      if (this.#inFlight > 0) socket.ref();
      else socket.unref();
    }
  }

  isCluster(): boolean {
    return this.redis instanceof Cluster;
  }

  /**
   * Sends the commands, one pipeline per node, all nodes in parallel, and returns one reply per
   * command in order. Fails as a whole only when not connected or past the timeout.
   */
  async run(commands: readonly RedisCommand[], timeoutMs: number, what: string): Promise<Reply[]> {
    if (commands.length === 0) return [];
    if (!this.isConnected()) throw new RedisOperationError(`${what}: Redis is not connected (status ${this.redis.status})`);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TimeoutError(`${what}: Redis did not answer within ${timeoutMs} ms`)), timeoutMs);
      // The socket is ref()ed while a batch is in flight (see #setRef): that holds the process.
      timer.unref();
    });
    const replies: Reply[] = new Array(commands.length);
    this.#inFlight++;
    this.#setRef();
    try {
      const sent = this.#send(commands, replies, what);
      sent.catch(() => {});
      await Promise.race([sent, timeout]);
    } catch (error) {
      // ioredis' own errors (connection lost mid-pipeline, ...) get our code, the original as cause.
      if (error instanceof PromClientRedisError) throw error;
      throw new RedisOperationError(`${what}: ${(error as Error).message}`, { cause: error });
    } finally {
      clearTimeout(timer);
      this.#inFlight--;
      this.#setRef();
    }
    return replies;
  }

  async #send(commands: readonly RedisCommand[], replies: Reply[], what: string): Promise<void> {
    const runs: Promise<void>[] = [];
    // Encoding 100,000 series' worth of arguments at once would block the event loop: send each
    // node's commands as several pipelines, one slice per tick. They share the connection, so Redis
    // still runs them in order; a pipeline was never atomic anyway.
    for (const indexes of this.#groupByNode(commands)) {
      for (let start = 0; start < indexes.length; ) {
        const slice: number[] = [];
        let args = 0;
        while (start < indexes.length && (slice.length === 0 || args < ARGS_PER_PIPELINE)) {
          const i = indexes[start++]!;
          slice.push(i);
          args += commands[i]!.args.length;
        }
        const pipeline = this.redis.pipeline();
        for (const i of slice) addCommand(pipeline, commands[i]!);
        const run = pipeline.exec().then((results) => {
          slice.forEach((i, j) => {
            const r = results?.[j];
            replies[i] = r === undefined ? { error: new RedisOperationError(`${what}: no reply`), value: null } : { error: r[0], value: r[1] };
          });
        });
        run.catch(() => {});
        runs.push(run);
        if (start < indexes.length) await new Promise((resolve) => setImmediate(resolve));
      }
    }
    await Promise.all(runs);
  }

  /** QUIT (waits for the replies of commands in flight). A borrowed connection is left open. */
  async close(): Promise<void> {
    if (!this.#ownsConnection) return;
    try {
      await this.redis.quit();
    } catch {
      this.redis.disconnect();
    }
  }

  /** Drops an owned connection at once, without waiting for Redis, and stops reconnecting. */
  disconnect(): void {
    if (this.#ownsConnection && this.redis.status !== 'end') this.redis.disconnect();
  }

  #groupByNode(commands: readonly RedisCommand[]): number[][] {
    if (!(this.redis instanceof Cluster)) return [commands.map((_, i) => i)];
    const cluster = this.redis;
    const byNode = new Map<string, number[]>();
    commands.forEach((command, i) => {
      const node = command.key === undefined ? 'any' : (cluster.slots[slotOf(command.key)]?.[0] ?? 'any');
      let list = byNode.get(node);
      if (!list) byNode.set(node, (list = []));
      list.push(i);
    });
    // Keyless commands ride with any node's pipeline.
    const any = byNode.get('any');
    if (any && byNode.size > 1) {
      byNode.delete('any');
      byNode.values().next().value!.push(...any);
    }
    return [...byNode.values()];
  }
}

/** Arguments per pipeline: a few milliseconds of encoding. */
const ARGS_PER_PIPELINE = 20_000;

function addCommand(pipeline: ChainableCommander, command: RedisCommand): void {
  const fn = (pipeline as unknown as Record<string, unknown>)[command.name];
  // `<script>Buffer` is ioredis' variant of a script command that leaves bulk replies as Buffers.
  if (typeof fn === 'function' && command.name.replace(/Buffer$/, '') in SCRIPTS) {
    (fn as (...a: unknown[]) => unknown).apply(pipeline, command.args as unknown[]);
  } else {
    pipeline.call(command.name, ...command.args);
  }
}

function createConnection(config: ResolvedConfig, logger: Logger): RedisConnection {
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
    // URL credentials and db win over the separate settings, as in ioredis.
    const { username: _u, password: _p, db: _d, ...rest } = common;
    const url = new URL(config.url);
    return new Redis(config.url, {
      ...rest,
      ...(url.username || config.username === undefined ? {} : { username: config.username }),
      ...(url.password || config.password === undefined ? {} : { password: config.password }),
      ...(url.protocol === 'rediss:' && !tls ? { tls: {} } : {}),
    });
  }
  return new Redis({ ...common, host: config.host, port: config.port });
}

function tlsOptions(config: ResolvedConfig, logger: Logger): ConnectionOptions | undefined {
  const wanted = config.ssl || (config.url?.startsWith('rediss:') ?? false);
  if (!wanted) return undefined;
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
