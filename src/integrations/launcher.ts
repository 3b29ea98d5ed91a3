import cluster, { type Worker } from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import { resolve as resolvePath } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { Counter } from '../metrics/counter.js';
import { Gauge } from '../metrics/gauge.js';
import { RedisStorageManager, type RedisStorageManagerOptions } from '../manager.js';
import { ConfigError } from '../errors.js';
import { markOwnMetric } from '../exit-pending.js';
import { launcherSettings, MAX_WORKERS, NONCE_VARIABLE } from './env.js';
import { startMetricsServer, type MetricsServer } from './metrics-server.js';
import { CollectThread } from './collect-thread.js';
import { loadWebConfig } from './web-config.js';
import { selfMetricsFor } from './self-metrics.js';
import { reportFirstConnection } from './first-connection.js';
import { StartupOutput } from './startup-output.js';

export interface ClusterOptions {
  /** The app's entry script, run in every worker. */
  app: string;
  /** Arguments of the app. */
  args?: readonly string[];
  /** 1 to 1024. @default WEB_CONCURRENCY, else os.availableParallelism() */
  workers?: number;
  /** Port of the cluster-wide /metrics; 0 picks a free one. @default PROMETHEUS_METRICS_PORT, else 9092 */
  metricsPort?: number;
  /** @default PROMETHEUS_BIND_ADDRESS, else '0.0.0.0' */
  bindAddress?: string;
  /** exporter-toolkit web config file of /metrics (TLS, basic auth), checked before any worker starts. @default PROM_CLIENT_REDIS_WEB_CONFIG_FILE, else none */
  webConfigFile?: string;
  /** Connections /metrics accepts at once. @default PROM_CLIENT_REDIS_MAX_CONNECTIONS, else 64 */
  maxConnections?: number;
  /** How long a stopping worker may finish its requests. @default PROM_CLIENT_REDIS_DRAIN_TIMEOUT_MS, else 10000 */
  drainTimeoutMs?: number;
  /**
   * Collect, render and compress /metrics in a worker thread of the primary (its own Redis
   * connection, nice +10), so that the primary's main thread, which hands the app's new connections
   * to the workers, never waits for a scrape. Off, or with `storage.connection` given, the main
   * thread does it in slices of a few ms. @default PROM_CLIENT_REDIS_COLLECT_THREAD, else true
   */
  collectThread?: boolean;
  /** Options of the primary's storage manager (workers read the environment). @default Redis enabled unless REDIS_ENABLED=false */
  storage?: RedisStorageManagerOptions;
  /** Where the launcher's lines go. @default stdout, prefixed `[prom-client-redis]` */
  log?: (line: string) => void;
  /** Aborting it stops the launcher as stop() does; during start-up, no further worker is forked. */
  signal?: AbortSignal;
}

export interface ClusterHandle {
  /** `http://host:port/metrics` of the primary. */
  readonly metricsUrl: string;
  readonly storage: RedisStorageManager;
  /** Process ids of the workers running now, by worker slot (1..N). */
  workerPids(): Map<number, number>;
  /** Drains the workers (they make their final flushes), then stops the metrics server and the primary's storage. */
  stop(): Promise<void>;
  /**
   * Resolves with the reason when the launcher gives up: while no worker has ever listened, one
   * exited before listening MAX_START_TRIES times in a row (the app cannot start). Never rejects;
   * call stop() then.
   */
  readonly failed: Promise<Error>;
}

/** A worker that dies sooner than this after its start counts as crashing in a loop: back off. */
const STABLE_AFTER_MS = 5_000;
/** The launcher's own metrics, in the primary's storage. */
export const LAUNCHER_METRIC_NAMES = { restarts: 'launcher_worker_restarts_total', alive: 'launcher_workers_alive' } as const;
/** Tries of a worker slot that exits before it listens, while no worker has listened yet. */
export const MAX_START_TRIES = 3;

/**
 * The analog of the seed's PrometheusWorker: runs `app` in N node:cluster workers, each loaded
 * with worker-preload.js (request, process and self metrics, registry bridge), restarts the ones
 * that die, marks a dead worker not live at once, and serves the cluster-wide /metrics from the
 * primary, rendered in a worker thread (collect-thread.ts) so that the primary's main thread, which
 * hands the app's connections to the workers, never waits for a scrape. Call it in the primary only.
 */
export async function runCluster(options: ClusterOptions): Promise<ClusterHandle> {
  if (!cluster.isPrimary) throw new ConfigError('runCluster() must be called in the cluster primary, not in a worker');
  if (typeof options?.app !== 'string' || options.app === '') throw new ConfigError('Expected option `app` to be the path of the app script');
  const settings = launcherSettings();
  const workers = options.workers ?? settings.workers;
  if (!Number.isInteger(workers) || workers < 1 || workers > MAX_WORKERS) {
    throw new ConfigError(`Expected option \`workers\` to be an integer from 1 to ${MAX_WORKERS}, got \`${workers}\``);
  }
  if (options.collectThread !== undefined && typeof options.collectThread !== 'boolean') {
    throw new ConfigError(`Expected option \`collectThread\` to be a boolean, got \`${String(options.collectThread)}\` (${typeof options.collectThread})`);
  }
  const app = resolveAppScript(options.app);
  const drainTimeoutMs = options.drainTimeoutMs ?? settings.drainTimeoutMs;
  const log = options.log ?? ((line: string) => process.stdout.write(`[prom-client-redis] ${line}\n`));
  const webConfigFile = options.webConfigFile ?? settings.webConfigFile;
  // Before Redis and the workers: a bad file stops the start with nothing to undo.
  const webConfig = webConfigFile === undefined ? undefined : await loadWebConfig(webConfigFile);
  // The launcher exists to merge workers through Redis: on unless turned off explicitly.
  const redisEnabled = process.env.REDIS_ENABLED === undefined || process.env.REDIS_ENABLED === '';
  const storage = new RedisStorageManager({ ...(redisEnabled ? { enabled: true } : {}), ...options.storage });
  if (!storage.isEnabled) {
    // Name what the user wrote (`0`, `off`, an option), not a normalised `false`.
    const why = redisEnabled ? 'the storage option `enabled: false`' : `REDIS_ENABLED=${process.env.REDIS_ENABLED}`;
    log(`warning: Redis is off (${why}): /metrics shows the primary only, not the workers`);
  }
  else void reportFirstConnection(storage, (line) => log(`warning: ${line}`), 'the workers keep their metrics and flush them once it answers');
  const common = { storage, registers: [] };
  const restarts = new Counter({ name: LAUNCHER_METRIC_NAMES.restarts, help: 'Workers restarted by the launcher after they exited unexpectedly.', ...common });
  const alive = new Gauge({ name: LAUNCHER_METRIC_NAMES.alive, help: 'Workers running now, summed over live launchers.', multiprocessMode: 'livesum', ...common });
  markOwnMetric(storage, restarts.name);
  markOwnMetric(storage, alive.name);
  selfMetricsFor(storage);

  cluster.setupPrimary({
    exec: app,
    args: [...(options.args ?? [])],
    execArgv: [...process.execArgv, '--import', new URL('./worker-preload.js', import.meta.url).href],
    // stderr through the primary: the same start-up error of every try and every worker is shown once.
    stdio: ['inherit', 'inherit', 'pipe', 'ipc'],
  });
  const output = new StartupOutput(STABLE_AFTER_MS);
  let hasListened = false;
  let reportFailure: (error: Error) => void = () => {};
  const failed = new Promise<Error>((resolve) => (reportFailure = resolve));

  const slots = new Map<number, { worker: Worker; processId: string; startedMs: number }>();
  const crashes = new Map<number, number>();
  /** Exits before listening in a row, by slot, while no worker has listened yet. */
  const startFailures = new Map<number, number>();
  const timers = new Set<NodeJS.Timeout>();
  let stopping = false;

  const fork = (slot: number): void => {
    const nonce = randomBytes(4).toString('hex');
    const worker = cluster.fork({
      [NONCE_VARIABLE]: nonce,
      WORKER_SLOT: String(slot),
      ...(redisEnabled ? { REDIS_ENABLED: 'true' } : {}),
    });
    const pid = worker.process.pid!;
    slots.set(slot, { worker, processId: `${hostname()}:${pid}:${nonce}`, startedMs: Date.now() });
    let isOnline = false;
    let isListening = false;
    const stderr = output.track(worker.process.stderr!, process.stderr);
    worker.once('online', () => {
      isOnline = true;
      alive.inc();
      log(`worker ${slot} started (pid ${pid})`);
    });
    worker.on('listening', (address) => {
      if (!isListening) stderr.release();
      isListening = hasListened = true;
      startFailures.delete(slot);
      log(`worker ${slot} listening on ${address.address ?? '*'}:${address.port}`);
    });
    worker.once('exit', (code, signal) => {
      const entry = slots.get(slot);
      if (entry?.worker === worker) slots.delete(slot);
      if (isOnline) alive.dec();
      void markDead(storage, `${hostname()}:${pid}:${nonce}`);
      const how = signal ? `signal ${signal}` : `code ${code}`;
      if (stopping) {
        // After a give-up, the other workers fail the same way as they are stopped: shown once too.
        if (isListening) stderr.release();
        else void stderr.releaseUnlessSeen();
        return;
      }
      if (!isListening && !hasListened) {
        // The app has not come up yet: a few tries, its error shown once, then give up.
        const tries = (startFailures.get(slot) ?? 0) + 1;
        startFailures.set(slot, tries);
        const isLast = tries >= MAX_START_TRIES;
        if (isLast) stopping = true;
        const delayMs = 100 * 2 ** (tries - 1);
        void stderr.releaseUnlessSeen().then((isRepeat) => {
          const again = isRepeat ? ' again, as shown above' : '';
          if (!isLast) {
            log(`worker ${slot} exited before it listened${again} (${how}); try ${tries + 1} of ${MAX_START_TRIES} in ${delayMs} ms`);
            return;
          }
          log(`worker ${slot} exited before it listened${again} (${how}), ${tries} times in a row: giving up, the app does not start`);
          reportFailure(new ConfigError(`The app ${app} exited before it listened, ${tries} times in a row (${how})`));
        });
        if (!isLast) restartLater(slot, delayMs);
        return;
      }
      stderr.release();
      const ranMs = Date.now() - (entry?.startedMs ?? 0);
      const n = ranMs < STABLE_AFTER_MS ? (crashes.get(slot) ?? 0) + 1 : 1;
      crashes.set(slot, n);
      const delayMs = Math.min(100 * 2 ** (n - 1), 10_000);
      log(`worker ${slot} exited (${how}); restarting in ${delayMs} ms`);
      restartLater(slot, delayMs);
    });
  };
  const restartLater = (slot: number, delayMs: number): void => {
    restarts.inc();
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (!stopping) fork(slot);
    }, delayMs);
    timers.add(timer);
  };

  // A connection passed in cannot be shared with a thread: then the main thread renders, as `serve` does.
  const useThread = (options.collectThread ?? settings.collectThread) && storage.isEnabled && options.storage?.connection === undefined;
  const collectThread = useThread ? new CollectThread(storage) : undefined;
  let server: MetricsServer;
  try {
    server = await startMetricsServer({
      storage,
      port: options.metricsPort ?? settings.metricsPort,
      bindAddress: options.bindAddress ?? settings.bindAddress,
      maxConnections: options.maxConnections ?? settings.maxConnections,
      ...(webConfig ? { webConfig } : {}),
      ...(collectThread ? { render: collectThread.render } : {}),
    });
  } catch (error) {
    await collectThread?.close();
    await storage.shutdown();
    throw error;
  }
  const metricsUrl = `${server.url}/metrics`;
  log(`metrics on ${metricsUrl}`);

  let stopped: Promise<void> | undefined;
  const handle: ClusterHandle = {
    metricsUrl,
    storage,
    failed,
    workerPids: () => new Map([...slots].map(([slot, e]) => [slot, e.worker.process.pid!])),
    stop() {
      stopped ??= (async () => {
        stopping = true;
        for (const t of timers) clearTimeout(t);
        const running = [...slots.values()].map((e) => e.worker);
        log(`stopping: draining ${running.length} workers`);
        await Promise.all(running.map((w) => stopWorker(w, drainTimeoutMs + 5_000)));
        await server.close();
        await collectThread?.close();
        await storage.shutdown();
        log('stopped');
      })();
      return stopped;
    },
  };
  const onAbort = (): void => void handle.stop();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  // One fork per turn of the event loop: a signal that arrives meanwhile is handled between two.
  for (let slot = 1; slot <= workers && !stopping && !options.signal?.aborted; slot++) {
    fork(slot);
    await nextTurn();
  }
  if (options.signal?.aborted) onAbort();
  return handle;
}

/**
 * The app script as `node app` would find it (an extension or a directory's index may be left out),
 * or a ConfigError naming the path: a worker that cannot load it would only crash in a loop.
 */
export function resolveAppScript(app: string): string {
  const path = resolvePath(app);
  try {
    return createRequire(import.meta.url).resolve(path);
  } catch {
    throw new ConfigError(`Cannot find the app script \`${app}\` (looked for ${path})`);
  }
}

/**
 * SIGTERM (the worker drains and flushes), then SIGKILL if it is still there after `graceMs`.
 * Resolves once it has exited and its stderr, which passes through this process, has been read to
 * the end (bounded): its last lines, a warning of lost updates say, must not die with the primary.
 */
function stopWorker(worker: Worker, graceMs: number): Promise<void> {
  if (worker.isDead()) return Promise.resolve();
  const stderr = worker.process.stderr;
  const outputRead = stderr ? new Promise<void>((resolve) => stderr.once('close', resolve)) : Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => worker.process.kill('SIGKILL'), graceMs);
    worker.once('exit', () => {
      clearTimeout(timer);
      const bound = setTimeout(resolve, 1_000);
      void outputRead.then(() => {
        clearTimeout(bound);
        resolve();
      });
    });
    worker.process.kill('SIGTERM');
  });
}

/**
 * A worker that exits cleanly leaves the live set itself; one that crashed cannot. Removing it
 * here makes live* gauges drop it at once instead of after REDIS_LIVE_TIMEOUT_MS.
 */
async function markDead(storage: RedisStorageManager, processId: string): Promise<void> {
  const client = storage.client;
  if (!client) return;
  const key = client.keys.live();
  try {
    const [reply] = await client.run([{ name: 'zrem', args: [key, processId], key }], storage.config.flushTimeoutMs, 'mark dead');
    if (reply?.error) throw reply.error;
    storage.logger.debug('launcher.marked_dead', { processId, removed: reply?.value });
  } catch (error) {
    // Then its heartbeat lapses after REDIS_LIVE_TIMEOUT_MS, the same end a little later.
    storage.logger.debug('launcher.mark_dead_failed', { processId, message: (error as Error).message });
  }
}
