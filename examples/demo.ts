// The quickest look at prom-client-redis: four worker processes count requests in memory, flush
// to Redis, and one merged exposition comes out. Uses REDIS_URL, else localhost:6379, else starts a
// private redis-server on a free port (and stops it). Ends by itself.
//
//   npm install && npm run demo
//
// Expected output (worker order varies; pid labels are host:pid:nonce of each worker):
//   Redis: redis://127.0.0.1:6379 (already running)
//   worker 2 done: 1000 requests
//   ... (4 lines)
//   # HELP demo_request_seconds Request latency.
//   # TYPE demo_request_seconds histogram
//   demo_request_seconds_bucket{le="0.01"} 100
//   demo_request_seconds_bucket{le="0.1"} 3400
//   demo_request_seconds_bucket{le="1"} 4000
//   demo_request_seconds_bucket{le="+Inf"} 4000
//   demo_request_seconds_sum 280.0000000000002
//   demo_request_seconds_count 4000
//
//   # HELP demo_requests_total Requests handled, by worker count.
//   # TYPE demo_requests_total counter
//   demo_requests_total{route="/"} 2400
//   demo_requests_total{route="/about"} 1600
//
//   # HELP demo_worker_busy Requests in flight per worker (then its index).
//   # TYPE demo_worker_busy gauge
//   demo_worker_busy{pid="myhost:4242:1a2b3c4d"} 1
//   ... (one line per worker)
//
//   4 workers, 4000 requests, cluster-wide total 4000: they agree.
import { fork, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { Counter, Gauge, Histogram, RedisStorageManager } from '../src/index.js';

const WORKERS = 4;
const REQUESTS = 1000;
const prefix = process.env.DEMO_PREFIX ?? `demo:${process.pid}`;

async function answers(url: string): Promise<boolean> {
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 500 });
  probe.on('error', () => {});
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function findRedis(): Promise<{ url: string; stop: () => void }> {
  const wanted = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  if (await answers(wanted)) {
    console.log(`Redis: ${wanted.replace(/\/\/[^@]*@/, '//***@')} (already running)`);
    return { url: wanted, stop: () => {} };
  }
  const port = await freePort();
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const started = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.once('spawn', () => resolve(true));
  });
  const url = `redis://127.0.0.1:${port}`;
  for (let i = 0; started && i < 50 && !(await answers(url)); i++) await new Promise((r) => setTimeout(r, 100));
  if (!started || !(await answers(url))) {
    console.error(
      `No Redis answers at ${wanted}, and no redis-server could be started.\n` +
        'Get one with:  sudo apt-get install redis-server   (or: docker run -p 6379:6379 redis)\n' +
        'or point the demo at yours:  REDIS_URL=redis://host:6379 npm run demo',
    );
    process.exit(1);
  }
  console.log(`Redis: ${url} (a private redis-server started for this demo)`);
  return { url, stop: () => server.kill('SIGTERM') };
}

async function worker(): Promise<void> {
  const index = Number(process.env.DEMO_WORKER);
  const storage = new RedisStorageManager({ enabled: true, url: process.env.DEMO_REDIS_URL, keyPrefix: prefix, flushIntervalMs: 200 });
  const requests = new Counter({ name: 'demo_requests_total', help: 'Requests handled, by worker count.', labelNames: ['route'], storage });
  const latency = new Histogram({ name: 'demo_request_seconds', help: 'Request latency.', buckets: [0.01, 0.1, 1], storage });
  const busy = new Gauge({ name: 'demo_worker_busy', help: 'Requests in flight per worker (then its index).', multiprocessMode: 'all', storage });
  await storage.waitUntilConnected();
  for (let i = 0; i < REQUESTS; i++) {
    busy.inc();
    requests.inc({ route: i % 5 < 3 ? '/' : '/about' }); // memory only: no Redis round trip
    latency.observe(((i % 10) + index) / 100);
    busy.dec();
  }
  busy.set(index);
  await storage.flush();
  console.log(`worker ${index} done: ${REQUESTS} requests`);
  await storage.shutdown();
}

async function main(): Promise<void> {
  const redis = await findRedis();
  try {
    const self = fileURLToPath(import.meta.url);
    await Promise.all(
      Array.from({ length: WORKERS }, (_, i) =>
        new Promise<void>((resolve, reject) => {
          const child = fork(self, { env: { ...process.env, DEMO_WORKER: String(i + 1), DEMO_REDIS_URL: redis.url, DEMO_PREFIX: prefix } });
          child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`worker ${i + 1} exited with ${code}`))));
        }),
      ),
    );
    const scraper = new RedisStorageManager({ enabled: true, url: redis.url, keyPrefix: prefix });
    await scraper.waitUntilConnected();
    const text = await scraper.getCollector().metrics();
    console.log(`\n${text}`);
    const total = [...text.matchAll(/^demo_requests_total\{[^}]*\} (\d+)$/gm)].reduce((a, m) => a + Number(m[1]), 0);
    console.log(`${WORKERS} workers, ${WORKERS * REQUESTS} requests, cluster-wide total ${total}: ${total === WORKERS * REQUESTS ? 'they agree.' : 'MISMATCH'}`);
    await scraper.getCollector().collect();
    const cleanup = new Redis(redis.url);
    const keys = await cleanup.keys(`${prefix}:*`);
    if (keys.length > 0) await cleanup.del(...keys);
    cleanup.disconnect();
    await scraper.shutdown();
    if (total !== WORKERS * REQUESTS) process.exitCode = 1;
  } finally {
    redis.stop();
  }
}

if (process.env.DEMO_WORKER) await worker();
else await main();
