// The library's own timers come from node:timers, not the globals: an app's fake timers (Jest's
// useFakeTimers) must not stop a collect or a flush.
import { setTimeout, clearTimeout } from 'node:timers';
import { Cluster } from 'ioredis';
import { AuthError, ConfigError, PromClientRedisError, RedisOperationError, TimeoutError, TlsError } from '../errors.js';
import type { ResolvedConfig } from '../config.js';
import type { Logger } from '../log.js';
import { createConnection, describeTarget, slotOf, type RedisConnection } from './connect.js';
import { explainConnectionError } from './connection-errors.js';
import { deliver, type RedisCommand, type Reply } from './dispatch.js';
import { KeyBuilder } from './keys.js';
import { SCRIPTS } from './scripts.js';

export type { RedisCommand, Reply, RedisConnection };
export { slotOf };

/**
 * Owns (or borrows) the ioredis connection: standalone, Sentinel or Cluster, with TLS and ACL
 * users. Runs batches as one pipeline per Redis node, each node on its own (see dispatch.ts), and
 * never queues commands while offline:
 * the shadow store is the buffer, not the client.
 */
export class RedisStorageClient {
  readonly redis: RedisConnection;
  readonly keys: KeyBuilder;
  readonly #ownsConnection: boolean;
  readonly #config: ResolvedConfig;
  readonly #logger: Logger;
  #lastError: Error | undefined;
  #lastWarned = '';
  #hasBeenReady = false;
  #isClosing = false;

  constructor(config: ResolvedConfig, logger: Logger, connection?: RedisConnection) {
    this.keys = new KeyBuilder(config.keyPrefix);
    this.#config = config;
    this.#logger = logger;
    this.#ownsConnection = connection === undefined;
    // Where, never with whom: the URL is echoed with its password masked.
    logger.debug('redis.connect', { target: describeTarget(config) });
    const hasPassword = config.password !== undefined || config.sentinelPassword !== undefined || /^rediss?:\/\/[^/]*:[^/]*@/.test(config.url ?? '');
    if (connection === undefined && hasPassword && /ioredis|^\*$/.test(process.env.DEBUG ?? '')) {
      // The debug package's output is ioredis', not ours: it writes every command, AUTH included.
      logger.warn('DEBUG enables ioredis debug output, which prints the AUTH command with the Redis password: do not keep these logs');
    }
    this.redis = connection ?? createConnection(config, logger);
    for (const [name, script] of Object.entries(SCRIPTS)) {
      if (!(name in this.redis)) this.redis.defineCommand(name, script);
    }
    // ioredis emits 'error' on every failed reconnect; without a listener Node would crash.
    this.redis.on('error', (error: Error) => this.#onConnectionError(error));
    // A Cluster reports a node's own failure (TLS, AUTH) here, and only a summary as 'error'.
    this.redis.on('node error', (error: Error) => this.#onConnectionError(error));
    this.redis.on('ready', () => {
      if (this.#isClosing) return;
      this.#lastError = undefined;
      this.#hasBeenReady = true;
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
   * (Sockets of Cluster nodes connected later are unref()ed at their next batch.)
   */
  #inFlight = 0;

  #setRef(): void {
    // A borrowed connection is the caller's: whether it holds the process open is theirs to say.
    if (!this.#ownsConnection) return;
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

  /** Why the connection is not ready, when Redis said so: TLS, credentials, ACL (each with its own `code`). */
  get lastError(): Error | undefined {
    return this.#lastError;
  }

  /**
   * Sends the commands, one pipeline per node, all nodes in parallel, and returns one reply per
   * command in order once every node has answered. Fails as a whole only when not connected or
   * past the timeout. See send() for the replies node by node.
   */
  async run(commands: readonly RedisCommand[], timeoutMs: number, what: string, waitReplicas = 0): Promise<Reply[]> {
    const replies: Reply[] = new Array(commands.length);
    const failed = await this.#dispatch(commands, timeoutMs, what, waitReplicas, (i, reply) => (replies[i] = reply));
    if (failed) throw failed;
    return replies;
  }

  /**
   * Sends the commands like run(), but returns one promise per command, settled as soon as the
   * command's node has answered (or failed): a dead Cluster master or a slot stuck in migration
   * delays its own commands only. The promises never reject: a command that fails, is not sent
   * (not connected) or is not answered within `timeoutMs` (counted from now, for each node on its
   * own) settles with its error.
   *
   * With `waitReplicas`, each node's pipeline ends in `WAIT n timeout` on the same connection, and
   * every reply of a node whose WAIT saw fewer replicas becomes a ReplicationError: the caller
   * treats those commands as failed and re-sends them (a no-op for Redis if applied, by the seq).
   */
  send(commands: readonly RedisCommand[], timeoutMs: number, what: string, waitReplicas = 0): Promise<Reply>[] {
    const settlers: Array<(reply: Reply) => void> = new Array(commands.length);
    const promises = commands.map((_, i) => new Promise<Reply>((resolve) => (settlers[i] = resolve)));
    void this.#dispatch(commands, timeoutMs, what, waitReplicas, (i, reply) => settlers[i]!(reply));
    return promises;
  }

  /**
   * Delivers the commands (see dispatch.ts) and calls `onReply` once per command. Resolves with the
   * error that failed the batch as a whole (not connected, past the deadline), if any; never rejects.
   */
  async #dispatch(commands: readonly RedisCommand[], timeoutMs: number, what: string, waitReplicas: number, onReply: (i: number, reply: Reply) => void): Promise<Error | undefined> {
    if (commands.length === 0) return undefined;
    const deadline = Date.now() + timeoutMs;
    const open = new Set(commands.map((_, i) => i));
    let isRefused = false;
    const settle = (i: number, reply: Reply): void => {
      if (!open.delete(i)) return;
      if (reply.error instanceof AuthError) isRefused = true;
      onReply(i, reply);
    };
    const failAll = (error: Error): Error => {
      for (const i of [...open]) settle(i, { error, value: null });
      return error;
    };
    if (!this.isConnected()) {
      // Right after start, the first connection is still being made: wait for it (within the
      // timeout) rather than fail every first scrape and flush of a process. Later, a connection
      // that is down fails at once: the caller keeps its data and a scrape answers 503 quickly.
      if (this.#hasBeenReady) return failAll(this.notConnected(what));
      try {
        await this.waitUntilReady(timeoutMs, what);
      } catch (error) {
        // A configuration fault (TLS, credentials, database): said as for a connection that is down.
        return failAll(isFatal(error as Error) ? this.notConnected(what) : (error as Error));
      }
    }
    let timedOut: TimeoutError | undefined;
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        timedOut = new TimeoutError(`${what}: Redis did not answer within ${timeoutMs} ms`);
        failAll(timedOut);
        resolve();
      }, Math.max(1, deadline - Date.now()));
      // The socket is ref()ed while a batch is in flight (see #setRef): that holds the process.
      timer.unref();
    });
    this.#inFlight++;
    this.#setRef();
    try {
      const delivered = deliver(commands, [...open], {
        redis: this.redis,
        config: this.#config,
        what,
        waitReplicas,
        deadline,
        settle,
        onAuthError: (error) => this.#report(error),
        refreshSlots: () => this.#refreshSlots(),
      }).catch((error: unknown) => {
        // ioredis' own errors (connection lost mid-pipeline, ...) get our code, the original as cause.
        const e = error as Error;
        failAll(e instanceof PromClientRedisError ? e : new RedisOperationError(`${what}: ${e.message}`, { cause: e }));
      });
      await Promise.race([delivered, expired]);
    } finally {
      clearTimeout(timer);
      this.#inFlight--;
      this.#setRef();
    }
    // Rights granted since: the ACL error no longer describes the connection.
    if (this.#lastError instanceof AuthError && this.isConnected() && !isRefused) this.#lastError = undefined;
    return timedOut;
  }

  #refreshing: Promise<void> | undefined;

  /** One slot-table refresh shared by every node that asks while it runs. */
  #refreshSlots(): Promise<void> {
    const cluster = this.redis;
    if (!(cluster instanceof Cluster)) return Promise.resolve();
    this.#refreshing ??= new Promise<void>((resolve) => cluster.refreshSlotsCache(() => resolve())).finally(() => {
      this.#refreshing = undefined;
    });
    return this.#refreshing;
  }

  /** True once the connection has been ready at least once. */
  get hasBeenReady(): boolean {
    return this.#hasBeenReady;
  }

  /**
   * Resolves once the connection is ready. Rejects after `timeoutMs` (RedisOperationError naming
   * the status and the last error), or at once on a TLS or credentials error: waiting longer would
   * not fix the configuration.
   */
  async waitUntilReady(timeoutMs: number, what = ''): Promise<void> {
    if (this.isConnected()) return;
    const known = this.#lastError;
    if (isFatal(known)) throw known;
    if (this.redis.status === 'end') throw this.notConnected(what);
    await new Promise<void>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.redis.off('ready', onReady).off('error', onError).off('node error', onError).off('end', onEnd);
      };
      const timer = setTimeout(() => {
        done();
        const why = this.#lastError ? `: ${this.#lastError.message}` : '';
        reject(new RedisOperationError(`${what ? `${what}: ` : ''}Redis not connected after ${timeoutMs} ms (status ${this.redis.status})${why}`));
      }, timeoutMs);
      const onReady = () => {
        done();
        resolve();
      };
      // The client's own listener ran first and explained the error.
      const onError = () => {
        const error = this.#lastError;
        if (isFatal(error)) {
          done();
          reject(error);
        }
      };
      const onEnd = () => {
        done();
        reject(this.notConnected(what));
      };
      this.redis.on('ready', onReady).on('error', onError).on('node error', onError).on('end', onEnd);
    });
  }

  /** "Redis is not connected (status …): <the last reason known>", for `what`. */
  notConnected(what: string): RedisOperationError {
    const why = this.#lastError ? `: ${this.#lastError.message}` : '';
    return new RedisOperationError(`${what ? `${what}: ` : ''}Redis is not connected (status ${this.redis.status})${why}`);
  }

  /** QUIT (waits for the replies of commands in flight). A borrowed connection is left open. */
  async close(): Promise<void> {
    if (!this.#ownsConnection) return;
    this.#isClosing = true;
    // QUIT on a connection that is not ready would wait for commandTimeout (a TLS connection the
    // server already dropped, say): there is nothing to say goodbye to.
    if (!this.isConnected()) {
      this.redis.disconnect();
      return;
    }
    try {
      await this.redis.quit();
    } catch {
      this.redis.disconnect();
    }
  }

  /** Drops an owned connection at once, without waiting for Redis, and stops reconnecting. */
  disconnect(): void {
    if (this.#ownsConnection && this.redis.status !== 'end') {
      this.#isClosing = true;
      this.redis.disconnect();
    }
  }

  #onConnectionError(error: Error): void {
    // Our own close() cuts a connection short (a TLS handshake in progress): not news.
    if (this.#isClosing) {
      this.#logger.debug('redis.error', { message: error.message, closing: true });
      return;
    }
    // A Cluster's "Failed to refresh slots cache." carries the node's own reason.
    const cause = (error as { lastNodeError?: Error }).lastNodeError;
    const explained = explainConnectionError(error, this.#config, this.#hasBeenReady) ?? (cause && explainConnectionError(cause, this.#config, this.#hasBeenReady));
    if (explained) this.#report(explained);
    // A database the server lacks: ioredis would go on on database 0. Retrying cannot fix it.
    if (explained instanceof ConfigError && this.#ownsConnection) {
      this.#isClosing = true;
      this.redis.disconnect();
      // disconnect() only half-closes: the ready check's reply could still arrive and make it `ready`.
      if (!(this.redis instanceof Cluster)) this.redis.stream?.destroy();
    }
    // A vague follow-up ("Connection is closed.") must not hide the reason given just before.
    else if (!(this.#lastError instanceof PromClientRedisError)) this.#lastError = error;
    this.#logger.debug('redis.error', { message: (explained ?? error).message });
  }

  /** Configuration faults are warned about once (per distinct message), debug or not. */
  #report(error: Error): void {
    this.#lastError = error;
    if (error.message === this.#lastWarned) return;
    this.#lastWarned = error.message;
    this.#logger.warn(error.message, { code: (error as { code?: string }).code });
  }
}

/** Errors that waiting longer would not fix: the configuration is wrong. */
function isFatal(error: Error | undefined): error is Error {
  return error instanceof TlsError || error instanceof AuthError || error instanceof ConfigError;
}
