// The library's own timers come from node:timers, not the globals: an app's fake timers (Jest's
// useFakeTimers) must not stop a collect or a flush.
import { setTimeout, clearTimeout, setImmediate } from 'node:timers';
import { Cluster } from 'ioredis';
import type { ChainableCommander } from 'ioredis';
import { AuthError, ConfigError, PromClientRedisError, RedisOperationError, TimeoutError, TlsError } from '../errors.js';
import type { ResolvedConfig } from '../config.js';
import type { Logger } from '../log.js';
import { createConnection, describeTarget, slotOf, type RedisConnection } from './connect.js';
import { explainCommandError, explainConnectionError, isRedirection, waitShortfall } from './connection-errors.js';
import { KeyBuilder } from './keys.js';
import { SCRIPTS } from './scripts.js';

/** One command of a batch; `key` routes it to its node in Redis Cluster. */
export interface RedisCommand {
  readonly name: string;
  readonly args: readonly (string | number)[];
  readonly key?: string;
}

export type Reply = { readonly error: Error | null; readonly value: unknown };

export type { RedisConnection };
export { slotOf };

/**
 * Owns (or borrows) the ioredis connection: standalone, Sentinel or Cluster, with TLS and ACL
 * users. Runs batches as one pipeline per Redis node and never queues commands while offline:
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
   * command in order. Fails as a whole only when not connected or past the timeout.
   *
   * With `waitReplicas`, each node's pipeline ends in `WAIT n timeout` on the same connection, and
   * every reply of a node whose WAIT saw fewer replicas becomes a ReplicationError: the caller
   * treats the flush as failed and re-sends it (a no-op for Redis if it was applied, by the seq).
   * In a Cluster, commands redirected during a slot move or a failover (MOVED, ASK, TRYAGAIN,
   * CLUSTERDOWN, a closed node connection) were not applied, or are idempotent: they are sent
   * again with a fresh slot table while time remains.
   */
  async run(commands: readonly RedisCommand[], timeoutMs: number, what: string, waitReplicas = 0): Promise<Reply[]> {
    if (commands.length === 0) return [];
    const deadline = Date.now() + timeoutMs;
    if (!this.isConnected()) {
      // Right after start, the first connection is still being made: wait for it (within the
      // timeout) rather than fail every first scrape and flush of a process. Later, a connection
      // that is down fails at once: the caller keeps its data and a scrape answers 503 quickly.
      if (this.#hasBeenReady) throw this.notConnected(what);
      await this.waitUntilReady(timeoutMs, what).catch((error: unknown) => {
        // A configuration fault (TLS, credentials, database): said as for a connection that is down.
        throw isFatal(error as Error) ? this.notConnected(what) : error;
      });
    }
    const replies: Reply[] = new Array(commands.length);
    const attempts = async () => {
      let todo = commands.map((_, i) => i);
      for (let attempt = 1; ; attempt++) {
        await Promise.all(this.#groupByNode(commands, todo).map((group) => this.#runGroup(commands, group, replies, what, waitReplicas)));
        todo = todo.filter((i) => isRedirection(replies[i]!.error));
        if (todo.length === 0 || !(this.redis instanceof Cluster) || Date.now() >= deadline) return;
        if (attempt === 2) break;
        await refreshSlots(this.redis);
      }
      // Still redirected: a slot is being migrated (ASK, TRYAGAIN), which a pipeline cannot follow.
      // One by one, ioredis follows ASK with ASKING and waits out TRYAGAIN itself.
      await Promise.all(todo.map((i) => this.#runAlone(commands[i]!, i, replies, what, waitReplicas)));
    };
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      const left = Math.max(1, deadline - Date.now());
      timer = setTimeout(() => reject(new TimeoutError(`${what}: Redis did not answer within ${timeoutMs} ms`)), left);
      // The socket is ref()ed while a batch is in flight (see #setRef): that holds the process.
      timer.unref();
    });
    this.#inFlight++;
    this.#setRef();
    try {
      const sent = attempts();
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
    // Rights granted since: the ACL error no longer describes the connection.
    if (this.#lastError instanceof AuthError && this.isConnected() && !replies.some((r) => r.error instanceof AuthError)) this.#lastError = undefined;
    return replies;
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

  async #runGroup(commands: readonly RedisCommand[], group: readonly number[], replies: Reply[], what: string, waitReplicas: number): Promise<void> {
    // Encoding 100,000 series' worth of arguments at once would block the event loop: a node's
    // commands go as several pipelines, one slice per tick. They share the node's connection, so
    // Redis runs them in order (a pipeline was never atomic anyway), and the WAIT that ends the last
    // one covers the writes of all of them.
    const results: Array<[Error | null, unknown]> = new Array(group.length + (waitReplicas > 0 ? 1 : 0));
    const execs: Promise<void>[] = [];
    for (let start = 0; start < group.length; ) {
      const from = start;
      let args = 0;
      while (start < group.length && (start === from || args < ARGS_PER_PIPELINE)) args += commands[group[start++]!]!.args.length;
      const isLast = start === group.length;
      const pipeline = this.redis.pipeline();
      for (let j = from; j < start; j++) addCommand(pipeline, commands[group[j]!]!);
      if (isLast && waitReplicas > 0) pipeline.call('wait', waitReplicas, this.#config.waitTimeoutMs);
      const count = start - from + (isLast && waitReplicas > 0 ? 1 : 0);
      execs.push(
        pipeline.exec().then(
          (r) => {
            for (let j = 0; j < count; j++) results[from + j] = r?.[j] ?? [new RedisOperationError(`${what}: no reply`), null];
          },
          // ioredis refuses a whole Cluster pipeline whose keys its slot table places on two nodes
          // (a stale table mid-failover): the other pipelines' replies still count.
          (error: Error) => {
            for (let j = 0; j < count; j++) results[from + j] = [error, null];
          },
        ),
      );
      if (!isLast) await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.all(execs);
    let shortfall: Error | undefined;
    if (waitReplicas > 0) {
      const [waitError, acknowledged] = results[group.length] ?? [new RedisOperationError(`${what}: no reply to WAIT`), 0];
      if (waitError) shortfall = explainCommandError(waitError, this.#config, what) ?? waitError;
      else if (Number(acknowledged) < waitReplicas) shortfall = waitShortfall(acknowledged, waitReplicas, this.#config.waitTimeoutMs);
    }
    group.forEach((i, j) => {
      const r = results[j];
      let error = r === undefined ? new RedisOperationError(`${what}: no reply`) : r[0];
      if (error) error = explainCommandError(error, this.#config, what) ?? error;
      else if (shortfall) error = shortfall;
      if (error instanceof AuthError) this.#report(error);
      replies[i] = error ? { error, value: null } : { error: null, value: r![1] };
    });
  }

  async #runAlone(command: RedisCommand, i: number, replies: Reply[], what: string, waitReplicas: number): Promise<void> {
    try {
      const fn = (this.redis as unknown as Record<string, unknown>)[command.name];
      const value = typeof fn === 'function' && command.name.replace(/Buffer$/, '') in SCRIPTS
        ? await (fn as (...a: unknown[]) => Promise<unknown>).apply(this.redis, command.args as unknown[])
        : await this.redis.call(command.name, ...command.args);
      // Its WAIT would go to another connection than the write: let the next flush re-send it
      // (a no-op by the seq) in a pipeline whose WAIT covers this write.
      replies[i] = waitReplicas > 0 ? { error: waitShortfall('unknown', waitReplicas, this.#config.waitTimeoutMs), value: null } : { error: null, value };
    } catch (error) {
      const e = error as Error;
      replies[i] = { error: explainCommandError(e, this.#config, what) ?? e, value: null };
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

  /**
   * Groups command indexes by the nodes ioredis would send them to. The group is the slot's whole
   * node list (master first), as ioredis itself checks a Cluster pipeline: grouping by master alone
   * would mix slots whose lists differ after a MOVED and have the pipeline refused.
   */
  #groupByNode(commands: readonly RedisCommand[], indexes: readonly number[]): number[][] {
    if (!(this.redis instanceof Cluster)) return [[...indexes]];
    const cluster = this.redis;
    const byNode = new Map<string, number[]>();
    for (const i of indexes) {
      const key = commands[i]!.key;
      const node = key === undefined ? 'any' : (cluster.slots[slotOf(key)]?.join(';') ?? 'any');
      let list = byNode.get(node);
      if (!list) byNode.set(node, (list = []));
      list.push(i);
    }
    // Keyless commands (TIME) ride with any node's pipeline.
    const any = byNode.get('any');
    if (any && byNode.size > 1) {
      byNode.delete('any');
      byNode.values().next().value!.push(...any);
    }
    return [...byNode.values()];
  }
}

/** Errors that waiting longer would not fix: the configuration is wrong. */
function isFatal(error: Error | undefined): error is Error {
  return error instanceof TlsError || error instanceof AuthError || error instanceof ConfigError;
}

/** Arguments per pipeline: a few milliseconds of encoding. */
const ARGS_PER_PIPELINE = 20_000;

function refreshSlots(cluster: Cluster): Promise<void> {
  return new Promise((resolve) => cluster.refreshSlotsCache(() => resolve()));
}

function addCommand(pipeline: ChainableCommander, command: RedisCommand): void {
  const fn = (pipeline as unknown as Record<string, unknown>)[command.name];
  // `<script>Buffer` is ioredis' variant of a script command that leaves bulk replies as Buffers.
  if (typeof fn === 'function' && command.name.replace(/Buffer$/, '') in SCRIPTS) {
    (fn as (...a: unknown[]) => unknown).apply(pipeline, command.args as unknown[]);
  } else {
    pipeline.call(command.name, ...command.args);
  }
}
