// `npm run demo`: the whole picture on one machine in about ten seconds. Finds a Redis (REDIS_URL,
// else localhost:6379, else a private redis-server on a free port), runs examples/app.ts under the
// launcher with 4 workers, sends load, and prints what each worker handled next to the
// cluster-wide total merged from Redis. Expected output (numbers vary, the totals always match):
//
//   Redis: private redis-server on 127.0.0.1:40611 (nothing answered at localhost:6379)
//   Launcher: 4 workers of dist/examples/app.js, app on http://127.0.0.1:3000
//   Load: 2000/2000 requests, 0 failed, 1432 req/s
//
//   Requests per worker (app_requests_by_worker_total, one series per worker):
//     worker 1     497
//     worker 2     503
//     worker 3     511
//     worker 4     489
//     sum         2000
//   Cluster-wide http_requests_total (summed in Redis):  2000   requests sent: 2000
//   Workers alive: 4   flushes to Redis so far: 57   keys under "demo:1a2b3c": 67
//
//   OK: the merged total equals the requests sent.
//   The demo has stopped its launcher. To run one yourself, and scrape it while it runs:
//     PORT=3000 REDIS_URL=redis://<your redis>:6379 npx prom-client-redis run --workers 4 dist/examples/app.js
//     curl http://127.0.0.1:9092/metrics
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';

const REQUESTS = Number(process.env.DEMO_REQUESTS ?? 2000);
const WORKERS = 4;
const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const APP = fileURLToPath(new URL('./app.js', import.meta.url));
const cleanups: Array<() => Promise<void> | void> = [];

async function main(): Promise<number> {
  // The demo must end by itself, whatever hangs.
  setTimeout(() => {
    console.error('demo: still running after 28 s: giving up');
    void cleanup().finally(() => process.exit(1));
  }, 28_000).unref();

  const redisUrl = await findRedis();
  if (!redisUrl) return 1;
  const prefix = `demo:${randomBytes(3).toString('hex')}`;
  const appPort = await freePort(Number(process.env.PORT ?? 3000));
  const metricsPort = await freePort(Number(process.env.PROMETHEUS_METRICS_PORT ?? 9092));
  const launcher = await startLauncher(redisUrl, prefix, appPort, metricsPort);
  console.log(`Launcher: ${WORKERS} workers of ${relative(APP)}, app on http://127.0.0.1:${appPort}`);

  const sent = await drive(`http://127.0.0.1:${appPort}/hello`);
  const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
  // Workers flush every 250 ms: wait for the last flush to land (or 5 s).
  let text = '';
  for (const until = Date.now() + 5_000; Date.now() < until; await delay(100)) {
    text = (await httpGet(metricsUrl)).body;
    if (sum(text, 'http_requests_total') === sent.ok) break;
  }
  const perWorker = samples(text, 'app_requests_by_worker_total').map((s) => [s.labels.match(/worker="(\d+)"/)?.[1] ?? '?', s.value] as const).sort();
  const workersSum = perWorker.reduce((a, [, v]) => a + v, 0);
  const total = sum(text, 'http_requests_total');
  console.log('\nRequests per worker (app_requests_by_worker_total, one series per worker):');
  for (const [worker, value] of perWorker) console.log(`  worker ${worker}  ${String(value).padStart(6)}`);
  console.log(`  sum       ${String(workersSum).padStart(6)}`);
  console.log(`Cluster-wide http_requests_total (summed in Redis):  ${total}   requests sent: ${sent.ok}`);
  console.log(`Workers alive: ${sum(text, 'launcher_workers_alive')}   flushes to Redis so far: ${sum(text, 'prom_client_redis_flush_duration_seconds_count')}   keys under "${prefix}": ${sum(text, 'prom_client_redis_keys')}`);
  const ok = total === sent.ok && workersSum === sent.ok && sent.failed === 0;
  console.log(ok ? '\nOK: the merged total equals the requests sent.' : '\nMISMATCH: the merged total differs from the requests sent.');

  await stop(launcher);
  // A private server stops with the demo, and a URL given may hold a password: show neither.
  const shown = redisUrl === 'redis://127.0.0.1:6379' ? redisUrl : 'redis://<your redis>:6379';
  console.log('The demo has stopped its launcher. To run one yourself, and scrape it while it runs:');
  console.log(`  PORT=3000 REDIS_URL=${shown} npx prom-client-redis run --workers ${WORKERS} ${relative(APP)}`);
  console.log('  curl http://127.0.0.1:9092/metrics');
  return ok ? 0 : 1;
}

/** REDIS_URL, else localhost:6379, else a private redis-server; undefined (and how to get one) when none. */
async function findRedis(): Promise<string | undefined> {
  const given = process.env.REDIS_URL;
  if (given) {
    if (await answers(given)) {
      console.log(`Redis: ${given.replace(/:[^:@/]*@/, ':***@')} (REDIS_URL)`);
      return given;
    }
  } else if (await answers('redis://127.0.0.1:6379')) {
    console.log('Redis: localhost:6379');
    return 'redis://127.0.0.1:6379';
  }
  const why = given ? 'REDIS_URL did not answer' : 'nothing answered at localhost:6379';
  const port = await freePort(0);
  const dir = mkdtempSync(join(tmpdir(), 'pcr-demo-redis-'));
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  const spawned = await new Promise<boolean>((resolve) => server.once('spawn', () => resolve(true)).once('error', () => resolve(false)));
  if (spawned) {
    cleanups.push(async () => {
      server.kill('SIGTERM');
      await new Promise((resolve) => (server.exitCode !== null ? resolve(null) : server.once('exit', resolve)));
      rmSync(dir, { recursive: true, force: true });
    });
    const url = `redis://127.0.0.1:${port}`;
    for (const until = Date.now() + 5_000; Date.now() < until; await delay(50)) {
      if (await answers(url)) {
        console.log(`Redis: private redis-server on 127.0.0.1:${port} (${why})`);
        return url;
      }
    }
  }
  rmSync(dir, { recursive: true, force: true });
  console.log([
    `No Redis: ${why}, and no redis-server could be started (is it on PATH?). Get one, then run npm run demo again:`,
    '  Debian/Ubuntu:  sudo apt-get install redis-server      (it listens on localhost:6379)',
    '  macOS:          brew install redis && brew services start redis',
    '  Docker:         docker run --rm -p 6379:6379 redis:7',
    '  Elsewhere:      REDIS_URL=redis://user:password@host:port npm run demo',
  ].join('\n'));
  return undefined;
}

async function answers(url: string): Promise<boolean> {
  const client = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, connectTimeout: 1000, enableOfflineQueue: false });
  client.on('error', () => {});
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

async function startLauncher(redisUrl: string, prefix: string, appPort: number, metricsPort: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [CLI, 'run', '--workers', String(WORKERS), '--port', String(metricsPort), '--bind', '127.0.0.1', APP], {
    env: { ...process.env, PORT: String(appPort), REDIS_URL: redisUrl, REDIS_KEY_PREFIX: prefix, REDIS_FLUSH_INTERVAL_MS: '250' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  cleanups.push(() => stop(child));
  // Remove the demo's keys from a Redis the demo does not own.
  cleanups.push(() => dropPrefix(redisUrl, prefix));
  let listening = 0;
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (process.env.DEMO_VERBOSE) console.log(line);
      if (/worker \d+ listening on/.test(line) && ++listening === WORKERS) resolve();
    });
    child.once('exit', (code) => reject(new Error(`the launcher exited (code ${code}) before its ${WORKERS} workers listened`)));
  });
  return child;
}

/** Sends REQUESTS GETs, 16 at a time, each on a new connection so node:cluster spreads them. */
async function drive(url: string): Promise<{ ok: number; failed: number }> {
  let next = 0;
  let ok = 0;
  let failed = 0;
  const started = Date.now();
  const tty = process.stdout.isTTY;
  const progress = (final: boolean) => {
    const rate = Math.round((ok + failed) / Math.max(0.001, (Date.now() - started) / 1000));
    const line = `Load: ${ok + failed}/${REQUESTS} requests, ${failed} failed, ${rate} req/s`;
    if (tty) process.stdout.write(`\r${line}${final ? '\n' : ''}`);
    else if (final) console.log(line);
  };
  const timer = setInterval(() => progress(false), 200);
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < REQUESTS) {
      next++;
      const r = await httpGet(url).catch(() => ({ status: 0, body: '' }));
      if (r.status === 200) ok++;
      else failed++;
    }
  }));
  clearInterval(timer);
  progress(true);
  return { ok, failed };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

async function dropPrefix(url: string, prefix: string): Promise<void> {
  const client = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  client.on('error', () => {});
  try {
    await client.connect();
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
      if (keys.length > 0) await client.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } catch {
    // A private server is stopped anyway; a shared one keeps a few demo keys.
  } finally {
    client.disconnect();
  }
}

async function cleanup(): Promise<void> {
  for (const fn of cleanups.splice(0).reverse()) await fn();
}

function httpGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    request(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject).end();
  });
}

function samples(text: string, name: string): Array<{ labels: string; value: number }> {
  const out: Array<{ labels: string; value: number }> = [];
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) out.push({ labels: line.slice(name.length, line.lastIndexOf(' ')), value: Number(line.slice(line.lastIndexOf(' ') + 1)) });
  }
  return out;
}

function sum(text: string, name: string): number {
  return samples(text, name).reduce((a, s) => a + s.value, 0);
}

/** `preferred` when free, else any free port. */
async function freePort(preferred: number): Promise<number> {
  const tryPort = (port: number) => new Promise<number | undefined>((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(undefined));
    server.listen(port, '127.0.0.1', () => {
      const bound = (server.address() as AddressInfo).port;
      server.close(() => resolve(bound));
    });
  });
  const port = (preferred > 0 ? await tryPort(preferred) : undefined) ?? (await tryPort(0));
  if (port === undefined) throw new Error('no free TCP port on 127.0.0.1');
  return port;
}

function relative(path: string): string {
  return path.startsWith(process.cwd()) ? path.slice(process.cwd().length + 1) : path;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

main().then(
  async (code) => {
    await cleanup();
    process.exit(code);
  },
  async (error: Error) => {
    console.error(`demo failed: ${error.message}`);
    await cleanup();
    process.exit(1);
  },
);
