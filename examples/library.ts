// Library use: prom-client's API, values merged across every process that shares the Redis and
// the key prefix. Run twice at the same time and the counter shows the sum of both runs.
//
//   npm run build && REDIS_URL=redis://localhost:6379 node dist/examples/library.js
//
// Expected output (on an empty Redis):
//
//   # HELP jobs_total Jobs processed.
//   # TYPE jobs_total counter
//   jobs_total{queue="emails"} 3
//   jobs_total{queue="reports"} 1
//
//   # HELP queue_depth Jobs waiting, summed over live processes.
//   # TYPE queue_depth gauge
//   queue_depth 12
import { Counter, Gauge, RedisStorageManager, setRedisStorageManager } from 'prom-client-redis';

// Options win over the environment (REDIS_URL, REDIS_KEY_PREFIX, ...); set the manager before
// creating any metric. With REDIS_ENABLED=true in the environment, this line is not needed.
const storage = new RedisStorageManager({ enabled: true, keyPrefix: process.env.REDIS_KEY_PREFIX ?? 'example-library' });
setRedisStorageManager(storage);

const jobs = new Counter({ name: 'jobs_total', help: 'Jobs processed.', labelNames: ['queue'] });
const depth = new Gauge({ name: 'queue_depth', help: 'Jobs waiting, summed over live processes.', multiprocessMode: 'livesum' });

jobs.inc({ queue: 'emails' }, 3);
jobs.labels('reports').inc();
depth.set(12);

await storage.waitUntilConnected(5000);
await storage.flush(); // normally the flush timer does this every REDIS_FLUSH_INTERVAL_MS
const text = await storage.getCollector().metrics();
console.log(text.trim().split('\n\n').filter((block) => /^# HELP (jobs_total|queue_depth) /.test(block)).join('\n\n'));
await storage.shutdown();
