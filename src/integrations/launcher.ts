import cluster, { type Worker } from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { resolve as resolvePath } from 'node:path';
import { Counter } from '../metrics/counter.js';
import { Gauge } from '../metrics/gauge.js';
import { RedisStorageManager, type RedisStorageManagerOptions } from '../manager.js';
import { ConfigError } from '../errors.js';
import { markOwnMetric } from '../exit-pending.js';
import { launcherSettings, NONCE_VARIABLE } from './env.js';
import { startMetricsServer, type MetricsServer } from './metrics-server.js';
import { selfMetricsFor } from './self-metrics.js';


export interface ClusterOptions {
  /** The app's entry script, run in every worker. */
  app: string;
  /** Arguments of the app. */
  args?: readonly string[];
  /** @default WEB_CONCURRENCY, else os.availableParallelism() */
  workers?: number;
  /** Port of the cluster-wide /metrics; 0 picks a free one. @default PROMETHEUS_METRICS_PORT, else 9092 */
  metricsPort?: number;
  /** @default PROMETHEUS_BIND_ADDRESS, else '0.0.0.0' */
  bindAddress?: string;
  /** How long a stopping worker may finish its requests. @default PROM_CLIENT_REDIS_DRAIN_TIMEOUT_MS, else 10000 */
  drainTimeoutMs?: number;
  /** Options of the primary's storage manager (workers read the environment). @default Redis enabled unless REDIS_ENABLED=false */
  storage?: RedisStorageManagerOptions;
  /** Where the launcher's lines go. @default stdout, prefixed `[prom-client-redis]` */
  log?: (line: string) => void;
}

export interface ClusterHandle {
  /** `http://host:port/metrics` of the primary. */
  readonly metricsUrl: string;
  readonly storage: RedisStorageManager;
  /** Process ids of the workers running now, by worker slot (1..N). */
  workerPids(): Map<number, number>;
  /** Drains the workers (they make their final flushes), then stops the metrics server and the primary's storage. */
  stop(): Promise<void>;
}

/** A worker that dies sooner than this after its start counts as crashing in a loop: back off. */
const STABLE_AFTER_MS = 5_000;

/**
 * The analog of the seed's PrometheusWorker: runs `app` in N node:cluster workers, each loaded
 * with worker-preload.js (request, process and self metrics, registry bridge), restarts the ones
 * that die, marks a dead worker not live at once, and serves the cluster-wide /metrics from the
 * primary. Call it in the primary only.
 */
export async function runCluster(options: ClusterOptions): Promise<ClusterHandle> {
  if (!cluster.isPrimary) throw new ConfigError('runCluster() must be called in the cluster primary, not in a worker');
  if (typeof options?.app !== 'string' || options.app === '') throw new ConfigError('Expected option `app` to be the path of the app script');
  const settings = launcherSettings();
  const workers = options.workers ?? settings.workers;
  if (!Number.isInteger(workers) || workers < 1) throw new ConfigError(`Expected option \`workers\` to be an integer >= 1, got \`${workers}\``);
  const drainTimeoutMs = options.drainTimeoutMs ?? settings.drainTimeoutMs;
  const log = options.log ?? ((line: string) => process.stdout.write(`[prom-client-redis] ${line}\n`));
  // The launcher exists to merge workers through Redis: on unless turned off explicitly.
  const redisEnabled = process.env.REDIS_ENABLED === undefined || process.env.REDIS_ENABLED === '';
  const storage = new RedisStorageManager({ ...(redisEnabled ? { enabled: true } : {}), ...options.storage });
  if (!storage.isEnabled) log('warning: REDIS_ENABLED=false: /metrics shows the primary only, not the workers');
  const common = { storage, registers: [] };
  const restarts = new Counter({ name: 'launcher_worker_restarts_total', help: 'Workers restarted by the launcher after they exited unexpectedly.', ...common });
  const alive = new Gauge({ name: 'launcher_workers_alive', help: 'Workers running now, summed over live launchers.', multiprocessMode: 'livesum', ...common });
  markOwnMetric(storage, restarts.name);
  markOwnMetric(storage, alive.name);
  selfMetricsFor(storage);

  cluster.setupPrimary({
    exec: resolvePath(options.app),
    args: [...(options.args ?? [])],
    execArgv: [...process.execArgv, '--import', new URL('./worker-preload.js', import.meta.url).href],
  });

  const slots = new Map<number, { worker: Worker; processId: string; startedMs: number }>();
  const crashes = new Map<number, number>();
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
    worker.once('online', () => {
      isOnline = true;
      alive.inc();
      log(`worker ${slot} started (pid ${pid})`);
    });
    worker.on('listening', (address) => log(`worker ${slot} listening on ${address.address ?? '*'}:${address.port}`));
    worker.once('exit', (code, signal) => {
      const entry = slots.get(slot);
      if (entry?.worker === worker) slots.delete(slot);
      if (isOnline) alive.dec();
      void markDead(storage, `${hostname()}:${pid}:${nonce}`);
      if (stopping) return;
      const ranMs = Date.now() - (entry?.startedMs ?? 0);
      const n = ranMs < STABLE_AFTER_MS ? (crashes.get(slot) ?? 0) + 1 : 1;
      crashes.set(slot, n);
      const delayMs = Math.min(100 * 2 ** (n - 1), 10_000);
      log(`worker ${slot} exited (${signal ? `signal ${signal}` : `code ${code}`}); restarting in ${delayMs} ms`);
      restarts.inc();
      const timer = setTimeout(() => {
        timers.delete(timer);
        if (!stopping) fork(slot);
      }, delayMs);
      timers.add(timer);
    });
  };

  let server: MetricsServer;
  try {
    server = await startMetricsServer({ storage, port: options.metricsPort ?? settings.metricsPort, bindAddress: options.bindAddress ?? settings.bindAddress });
  } catch (error) {
    await storage.shutdown();
    throw error;
  }
  const metricsUrl = `${server.url}/metrics`;
  log(`metrics on ${metricsUrl}`);
  for (let slot = 1; slot <= workers; slot++) fork(slot);

  let stopped: Promise<void> | undefined;
  return {
    metricsUrl,
    storage,
    workerPids: () => new Map([...slots].map(([slot, e]) => [slot, e.worker.process.pid!])),
    stop() {
      stopped ??= (async () => {
        stopping = true;
        for (const t of timers) clearTimeout(t);
        const running = [...slots.values()].map((e) => e.worker);
        log(`stopping: draining ${running.length} workers`);
        await Promise.all(running.map((w) => stopWorker(w, drainTimeoutMs + 5_000)));
        await server.close();
        await storage.shutdown();
        log('stopped');
      })();
      return stopped;
    },
  };
}

/** SIGTERM (the worker drains and flushes), then SIGKILL if it is still there after `graceMs`. */
function stopWorker(worker: Worker, graceMs: number): Promise<void> {
  if (worker.isDead()) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => worker.process.kill('SIGKILL'), graceMs);
    worker.once('exit', () => {
      clearTimeout(timer);
      resolve();
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
