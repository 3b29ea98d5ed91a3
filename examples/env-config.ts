// Configuration the way the seed's Gunicorn file does it: everything from the environment, set
// with defaults in one config file, then the launcher. The same as, in a shell:
//
//   REDIS_ENABLED=true REDIS_HOST=localhost REDIS_PORT=6379 REDIS_DB=0 REDIS_KEY_PREFIX=example-env \
//   REDIS_TTL_SECONDS=300 PROMETHEUS_METRICS_PORT=9092 PROMETHEUS_BIND_ADDRESS=0.0.0.0 WEB_CONCURRENCY=2 \
//     npx prom-client-redis run dist/examples/app.js
//
//   npm run build && node dist/examples/env-config.js      # Ctrl-C (SIGINT) or SIGTERM to stop
//
// Expected output (pids vary), then it serves until stopped:
//
//   [prom-client-redis] metrics on http://0.0.0.0:9092/metrics
//   [prom-client-redis] worker 1 started (pid 41250)
//   [prom-client-redis] worker 2 started (pid 41251)
//   app listening on 8000 (worker 1)
//   [prom-client-redis] worker 1 listening on *:8000
//   app listening on 8000 (worker 2)
//   [prom-client-redis] worker 2 listening on *:8000
//   ^C[prom-client-redis] stopping: draining 2 workers
//   [prom-client-redis] stopped
import { fileURLToPath } from 'node:url';
import { runCluster } from 'prom-client-redis';

// As `os.environ.setdefault(...)` in gunicorn_redis_storage.conf.py: the real environment wins.
const defaults: Record<string, string> = {
  PORT: '8000', // the app's own port (the seed's `bind = "0.0.0.0:8000"`)
  WEB_CONCURRENCY: '2', // the seed's GUNICORN_WORKERS
  PROMETHEUS_METRICS_PORT: '9092',
  PROMETHEUS_BIND_ADDRESS: '0.0.0.0',
  REDIS_ENABLED: 'true',
  REDIS_HOST: 'localhost',
  REDIS_PORT: '6379',
  REDIS_DB: '0',
  REDIS_KEY_PREFIX: 'example-env',
  REDIS_TTL_SECONDS: '300',
};
for (const [name, value] of Object.entries(defaults)) process.env[name] ??= value;

const handle = await runCluster({ app: fileURLToPath(new URL('./app.js', import.meta.url)) });
await new Promise((resolve) => process.once('SIGINT', resolve).once('SIGTERM', resolve));
await handle.stop();
