// The e2e subject app: node:http behind a node:cluster primary with 2 workers. One Counter and one
// Histogram per request in the metric modes; the primary scrapes the merged view once a second.
// Mode `launcher`: the workers load the launcher's worker preload (`node --import`), as
// `prom-client-redis` runs an app: request metrics with no change to the app's code.
// Usage: node dist/perf/e2e-app.js <none|prom-client|subject|launcher> <port> [redisUrl keyPrefix]
// Prints `READY <pid>,<pid>,...` (primary and workers) once both workers listen; on SIGTERM prints RESULT {scrapes, scrapeErrors} and exits.
// Over IPC, {type: 'cpu'} is answered with {type: 'cpu', us}: the workers' process.cpuUsage()
// (user + system, µs) summed, which counts their CPU exactly (no 10 ms ticks as in /proc).
import cluster from 'node:cluster';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { AggregatorRegistry, Counter, Histogram } from 'prom-client';
import { printResult } from './lib/proc.js';
import { loadSubject, openManager } from './subject.js';

const WORKERS = 2;
const SCRAPE_EVERY_MS = 1000;
const [mode = 'none', port = '0', url = '', keyPrefix = 'perf-e2e'] = process.argv.slice(2);
if (!['none', 'prom-client', 'subject', 'launcher'].includes(mode)) {
  console.error(`Expected mode none, prom-client, subject or launcher, got \`${mode}\``);
  process.exit(2);
}

async function loadedSubject() {
  const { subject, status } = await loadSubject();
  if (subject === null) throw new Error(status);
  return subject;
}

async function primary(): Promise<void> {
  let scrape: (() => Promise<string>) | undefined;
  let shutdown = async () => {};
  if (mode === 'prom-client') {
    const aggregator = new AggregatorRegistry();
    scrape = () => aggregator.clusterMetrics();
  } else if (mode === 'subject' || mode === 'launcher') {
    const storage = await openManager(await loadedSubject(), { url, keyPrefix, flushIntervalMs: 3_600_000 });
    const collector = storage.getCollector();
    scrape = () => collector.metrics();
    shutdown = () => storage.shutdown();
  }

  let listening = 0;
  cluster.on('listening', () => {
    if (++listening < WORKERS) return;
    const pids = [process.pid, ...Object.values(cluster.workers ?? {}).map((w) => w?.process.pid)];
    process.stdout.write(`READY ${pids.join(',')}\n`);
  });
  cluster.on('exit', (worker, code) => {
    if (code !== 0 && !stopping) console.error(`worker ${worker.process.pid} exited with ${String(code)}`);
  });
  if (mode === 'launcher') {
    // What runCluster does for each worker: the preload, and the storage settings in the environment.
    const preload = fileURLToPath(new URL('../src/integrations/worker-preload.js', import.meta.url));
    cluster.setupPrimary({ execArgv: [...process.execArgv, '--import', preload] });
    Object.assign(process.env, { REDIS_ENABLED: 'true', REDIS_URL: url, REDIS_KEY_PREFIX: keyPrefix, REDIS_FLUSH_INTERVAL_MS: '1000' });
  }
  for (let i = 0; i < WORKERS; i++) cluster.fork();

  // The workers' CPU, asked over IPC: each answers with its own process.cpuUsage().
  process.on('message', (message: { type?: string }) => {
    if (message.type !== 'cpu') return;
    const workers = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined);
    void Promise.all(
      workers.map((w) => new Promise<number>((resolve) => {
        const onMessage = (m: { type?: string; us?: number }) => {
          if (m.type !== 'cpu') return;
          w.off('message', onMessage);
          resolve(m.us ?? 0);
        };
        w.on('message', onMessage);
        w.send({ type: 'cpu' });
      })),
    ).then((us) => process.send?.({ type: 'cpu', us: us.reduce((a, b) => a + b, 0) }));
  });

  let scrapes = 0;
  let scrapeErrors = 0;
  let stopping = false;
  const timer = setInterval(() => {
    if (listening < WORKERS || scrape === undefined) return;
    scrape().then(
      () => scrapes++,
      () => scrapeErrors++,
    );
  }, SCRAPE_EVERY_MS);

  process.once('SIGTERM', () => {
    stopping = true;
    clearInterval(timer);
    cluster.disconnect(() => {
      void shutdown().finally(() => {
        printResult({ scrapes, scrapeErrors });
        process.exit(0);
      });
    });
  });
}

async function worker(): Promise<void> {
  process.on('message', (message: { type?: string }) => {
    if (message.type !== 'cpu') return;
    const { user, system } = process.cpuUsage();
    process.send?.({ type: 'cpu', us: user + system });
  });
  let handle = () => {};
  let shutdown = async () => {};
  const labelNames = ['method', 'route', 'status'];
  const labels = { method: 'GET', route: '/', status: '200' };
  if (mode === 'prom-client') {
    new AggregatorRegistry(); // installs the worker side of cluster aggregation
    const counter = new Counter({ name: 'http_requests_total', help: 'requests', labelNames });
    const histogram = new Histogram({ name: 'http_request_duration_seconds', help: 'duration', labelNames });
    handle = () => {
      const end = histogram.startTimer();
      counter.inc(labels);
      end(labels);
    };
  } else if (mode === 'subject') {
    const subject = await loadedSubject();
    const storage = await openManager(subject, { url, keyPrefix, flushIntervalMs: 1000 });
    const counter = new subject.Counter({ name: 'http_requests_total', help: 'requests', labelNames, storage });
    const histogram = new subject.Histogram({ name: 'http_request_duration_seconds', help: 'duration', labelNames, storage });
    handle = () => {
      const end = histogram.startTimer();
      counter.inc(labels);
      end(labels);
    };
    shutdown = () => storage.shutdown();
  }
  const server = createServer((_req, res) => {
    handle();
    res.end('ok');
  });
  server.listen(Number(port), '127.0.0.1');
  process.on('disconnect', () => {
    server.close();
    server.closeAllConnections();
    void shutdown().finally(() => process.exit(0));
  });
}

if (cluster.isPrimary) await primary();
else await worker();
