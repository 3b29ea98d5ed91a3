// The standalone exporter as a library call: /metrics and /health from Redis alone, for when the
// scrape target should not be an app process (the CLI equivalent is `prom-client-redis serve`).
//
//   npm run build && REDIS_URL=redis://localhost:6379 node dist/examples/exporter.js
//
// Expected output (the port varies):
//
//   exporter on http://127.0.0.1:9092
//   GET /health -> 200 {"status":"ok","redis":"up"}
//   GET /metrics (OpenMetrics) -> 200 application/openmetrics-text; version=1.0.0; charset=utf-8
import { RedisStorageManager, selfMetricsFor, startMetricsServer } from 'prom-client-redis';

const storage = new RedisStorageManager({ enabled: true, keyPrefix: process.env.REDIS_KEY_PREFIX ?? 'example-exporter' });
selfMetricsFor(storage); // the backend's own metrics, as `serve` adds them
await storage.waitUntilConnected(5000);
const server = await startMetricsServer({ storage, port: Number(process.env.PROMETHEUS_METRICS_PORT ?? 9092), bindAddress: '127.0.0.1' });
console.log(`exporter on ${server.url}`);
const health = await fetch(`${server.url}/health`);
console.log(`GET /health -> ${health.status} ${(await health.text()).trim()}`);
const metrics = await fetch(`${server.url}/metrics`, { headers: { Accept: 'application/openmetrics-text; version=1.0.0' } });
await metrics.text();
console.log(`GET /metrics (OpenMetrics) -> ${metrics.status} ${metrics.headers.get('content-type')}`);
await server.close();
await storage.shutdown();
