// The launcher as a library call, for when a script should own the primary (the CLI equivalent is
// `prom-client-redis run --workers 2 dist/examples/app.js`).
//
//   npm run build && REDIS_URL=redis://localhost:6379 node dist/examples/launcher.js
//
// Expected output (pids and ports vary; lines of the two workers may interleave):
//
//   [prom-client-redis] metrics on http://127.0.0.1:9092/metrics
//   [prom-client-redis] worker 1 started (pid 41250)
//   [prom-client-redis] worker 2 started (pid 41251)
//   app listening on 3000 (worker 1)
//   [prom-client-redis] worker 1 listening on *:3000
//   app listening on 3000 (worker 2)
//   [prom-client-redis] worker 2 listening on *:3000
//   cluster-wide: http_requests_total{method="GET",route="unknown",status="200"} 10
//   [prom-client-redis] stopping: draining 2 workers
//   [prom-client-redis] stopped
import cluster from 'node:cluster';
import { fileURLToPath } from 'node:url';
import { runCluster } from 'prom-client-redis';

if (!cluster.isPrimary) throw new Error('the launcher runs the app file in the workers, not this one');
process.env.PORT ??= '3000';
process.env.REDIS_KEY_PREFIX ??= 'example-launcher';
process.env.REDIS_FLUSH_INTERVAL_MS ??= '200';

let listening = 0;
let ready!: () => void;
const allListening = new Promise<void>((resolve) => (ready = resolve));
const handle = await runCluster({
  app: fileURLToPath(new URL('./app.js', import.meta.url)),
  workers: 2,
  metricsPort: Number(process.env.PROMETHEUS_METRICS_PORT ?? 9092),
  bindAddress: '127.0.0.1',
  log: (line) => {
    console.log(`[prom-client-redis] ${line}`);
    if (/listening on/.test(line) && ++listening === 2) ready();
  },
});
await allListening;
for (let i = 0; i < 10; i++) await (await fetch(`http://127.0.0.1:${process.env.PORT}/`, { headers: { Connection: 'close' } })).text();
// Read the merged view after the workers' next flush.
let line = '';
for (const until = Date.now() + 5000; Date.now() < until && !line.endsWith(' 10'); await new Promise((r) => setTimeout(r, 100))) {
  const text = await (await fetch(handle.metricsUrl)).text();
  line = text.split('\n').find((l) => l.startsWith('http_requests_total{')) ?? '';
}
console.log(`cluster-wide: ${line}`);
await handle.stop();
