import { clearTimeout, setTimeout } from 'node:timers';
import { Worker } from 'node:worker_threads';
import type { ExpositionKind } from '../collect/collector.js';
import { TimeoutError } from '../errors.js';
import type { RedisStorageManager } from '../manager.js';
import { renderHere, type Render, type ResponseBody } from './metrics-server.js';
import type { CollectReply, CollectRequest, CollectStats, CollectWorkerData } from './collect-worker.js';

/**
 * Niceness the collect thread adds to the primary's (at most 19). On Linux the nice value is per
 * thread, so only the scrape yields: on a machine whose cores the workers keep busy, the scheduler
 * runs the app's requests first (a nice-10 thread gets ~10% of a core against one busy nice-0
 * thread) and the scrape still finishes within seconds rather than starving, as it could at 19.
 * Where the cores are free it runs at full speed.
 */
export const COLLECT_THREAD_NICE = 10;

/** Past its deadline, the time a collect thread has to answer before it is deemed stuck and terminated. */
const STUCK_AFTER_MS = 1_000;

/** What a scrape of the metrics server gets: the body, compressed when asked and possible. */
export interface RenderedExposition {
  readonly body: ResponseBody;
  readonly gzipped: boolean;
}

/** Error of a collect that failed in the thread, with the code it had there (ERR_PCR_TIMEOUT, ...). */
class CollectThreadError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = 'CollectThreadError';
  }
}

/**
 * The launcher primary's cluster-wide collect, run in a worker thread with its own Redis connection.
 * The primary's main thread accepts the app's connections and hands them to the workers (node:cluster's
 * round-robin): a collect of 100,000 series there, even in 4 ms slices, multiplied the p99 of new
 * connections by 6-15, and a 96 MB exposition took it to ~1 s (perf/README.md, scrape-latency).
 * The primary's own metrics stay exact: before each scrape
 * the main thread runs its collect callbacks and flushes, so the thread reads them from Redis like
 * every worker's. If that flush fails (Redis refusing writes, say), the scrape is served on the main
 * thread as before, where the unflushed figures are added from memory.
 */
export class CollectThread {
  readonly #storage: RedisStorageManager;
  readonly #here: Render;
  #worker: Worker | undefined;
  /** Scrapes waiting for a thread's answer, by request id, with the thread they were sent to. */
  readonly #pending = new Map<number, { worker: Worker; resolve: (r: RenderedExposition) => void; reject: (e: Error) => void }>();
  #nextId = 0;
  #closed = false;
  /** Threads terminated for not answering in time: their exit is no reason to give up the thread. */
  readonly #stopped = new WeakSet<Worker>();

  constructor(storage: RedisStorageManager) {
    this.#storage = storage;
    this.#here = renderHere(storage);
  }

  /** The exposition of `kind`, gzipped when `gzip`; rejects as the collector does (503 then). A Render of the metrics server. */
  readonly render: Render = (kind, options) => this.#exposition(kind, options);

  async #exposition(kind: ExpositionKind, options: { timeoutMs: number | undefined; gzip: boolean }): Promise<RenderedExposition> {
    const storage = this.#storage;
    const collector = storage.getCollector();
    const budgetMs = Math.min(storage.config.collectTimeoutMs, options.timeoutMs ?? Infinity);
    const deadline = performance.now() + budgetMs;
    if (this.#closed || !storage.isConnected()) {
      // Not connected: the collect fails either way, and the main thread's collector says why.
      return this.#here(kind, { timeoutMs: budgetMs, gzip: options.gzip });
    }
    const failed = (error: Error): Error => {
      storage.stats.collectFailures++;
      return error;
    };
    const flushed = await withDeadline(
      (async () => {
        await collector.runCollectCallbacks();
        await storage.flush();
      })(),
      deadline,
      () => failed(new TimeoutError(`collect: not done within ${budgetMs} ms (flushing the primary's own metrics)`)),
    ).then(
      () => true,
      (error: Error) => {
        if (error instanceof TimeoutError) throw error;
        storage.logger.debug('metrics.own_flush_failed', { message: error.message });
        return false;
      },
    );
    const leftMs = Math.round(deadline - performance.now());
    if (leftMs < 1) throw failed(new TimeoutError(`collect: not done within ${budgetMs} ms`));
    // A flush answered LOST (Redis lost a family) leaves its re-send to the next round: until that is
    // applied, Redis lacks the primary's part, which the thread would serve as a lower total. The main
    // thread adds it from memory (takeLocalSums), so it serves those scrapes.
    const worker = flushed && !isRestoringFamilies(storage) ? this.#started() : undefined;
    if (!worker) return this.#here(kind, { timeoutMs: leftMs, gzip: options.gzip });
    return this.#ask(worker, { kind, timeoutMs: leftMs, gzip: options.gzip });
  }

  /** Stops the thread (its Redis connection closed); later scrapes run on the main thread. */
  async close(): Promise<void> {
    this.#closed = true;
    const worker = this.#worker;
    this.#worker = undefined;
    if (!worker) return;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.postMessage({ type: 'close' });
    const timer = setTimeout(() => void worker.terminate(), 2_000);
    await exited;
    clearTimeout(timer);
  }

  #ask(worker: Worker, request: Omit<CollectRequest, 'type' | 'id'>): Promise<RenderedExposition> {
    const id = this.#nextId++;
    return new Promise<RenderedExposition>((resolve, reject) => {
      // The thread's collect stops itself at its deadline, between two slices. One that does not
      // answer soon after is stuck in synchronous work: terminating the thread stops it.
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        this.#storage.stats.collectFailures++;
        reject(new TimeoutError(`collect: not done within ${request.timeoutMs} ms; the collect thread did not answer and was stopped`));
        if (this.#worker === worker) this.#worker = undefined;
        // Stopped for being slow, not broken: a first collect of a large cluster on a busy machine
        // may overrun its deadline, and the next scrape starts a new thread (see #started()).
        this.#stopped.add(worker);
        void worker.terminate();
      }, request.timeoutMs + STUCK_AFTER_MS);
      const settle = <T>(fn: (value: T) => void) => (value: T): void => {
        clearTimeout(timer);
        fn(value);
      };
      this.#pending.set(id, { worker, resolve: settle(resolve), reject: settle(reject) });
      worker.postMessage({ type: 'collect', id, ...request } satisfies CollectRequest);
    });
  }

  /** The running thread, started if need be; undefined if none can be (then the main thread serves, from now on). */
  #started(): Worker | undefined {
    // Closed (the server stops, or no thread could run): a scrape resuming after its flush runs here.
    if (this.#closed) return undefined;
    if (this.#worker) return this.#worker;
    const storage = this.#storage;
    const workerData: CollectWorkerData = { config: storage.config, identity: storage.identity, isDebug: storage.logger.isDebug, nice: COLLECT_THREAD_NICE };
    let worker: Worker;
    try {
      worker = new Worker(new URL('./collect-worker.js', import.meta.url), { workerData });
    } catch (error) {
      this.#closed = true;
      storage.logger.warn(`cannot start the collect thread (${(error as Error).message}): /metrics is collected on the main thread`);
      return undefined;
    }
    // The thread must not keep a stopping primary alive; the pending scrapes keep their sockets.
    worker.unref();
    // A thread that fails before its first answer (its module missing from a bundled deploy, an
    // error at load) would fail the same way at every scrape: the main thread serves from then on.
    let hasAnswered = false;
    worker.on('message', (reply: CollectReply) => {
      hasAnswered = true;
      this.#onReply(reply);
    });
    const fail = (error: Error): void => {
      if (this.#worker === worker) this.#worker = undefined;
      if (!hasAnswered && !this.#closed && !this.#stopped.has(worker)) {
        this.#closed = true;
        storage.logger.warn(`the collect thread failed before its first answer (${error.message}): /metrics is collected on the main thread from now on`);
      }
      // The next scrape starts a new thread. A stopped thread exits while the next one may already
      // have scrapes of its own: only this thread's are failed.
      for (const [id, p] of this.#pending) {
        if (p.worker !== worker) continue;
        this.#pending.delete(id);
        storage.stats.collectFailures++;
        p.reject(error);
      }
    };
    worker.on('error', (error) => {
      storage.logger.warn(`the collect thread failed: ${error.message}; the next scrape starts a new one`);
      fail(error);
    });
    worker.once('exit', (code) => fail(new CollectThreadError(`collect: the collect thread exited (code ${code})`, undefined)));
    this.#worker = worker;
    return worker;
  }

  #onReply(reply: CollectReply): void {
    if (reply.type === 'warn') {
      this.#storage.logger.warn(reply.message, reply.fields);
      return;
    }
    this.#feed(reply.stats);
    const pending = this.#pending.get(reply.id);
    if (!pending) return;
    this.#pending.delete(reply.id);
    if (reply.type === 'done') pending.resolve({ body: Buffer.from(reply.body), gzipped: reply.gzipped });
    else pending.reject(new CollectThreadError(reply.message, reply.code));
  }

  /** The thread's collects count in the primary's self-metrics, as if the primary had made them. */
  #feed(taken: CollectStats): void {
    const stats = this.#storage.stats;
    for (const ms of taken.durationsMs) {
      stats.collects++;
      stats.lastCollectDurationMs = ms;
    }
    stats.collectFailures += taken.failures;
    for (const [kind, n] of taken.badData) stats.bad(kind, n);
    if (taken.durationsMs.length > 0) stats.processesLive = taken.processesLive;
  }
}

/** Whether a family of the primary's store is to be (or is being) re-sent whole because Redis lost it. */
function isRestoringFamilies(storage: RedisStorageManager): boolean {
  for (const family of storage.dict.families.values()) if (family.isRestoring()) return true;
  return false;
}

function withDeadline<T>(work: Promise<T>, deadline: number, expired: () => Error): Promise<T> {
  work.catch(() => {});
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(expired()), Math.max(0, deadline - performance.now()));
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
