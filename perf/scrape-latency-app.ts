// The app of the scrape-latency section, run by the launcher (`prom-client-redis run`) in each
// worker: answers `ok`; the launcher's preload adds its request metrics.
// Usage: prom-client-redis run dist/perf/scrape-latency-app.js <port>
import { createServer } from 'node:http';

createServer((_req, res) => res.end('ok')).listen(Number(process.argv[2]), '127.0.0.1');
