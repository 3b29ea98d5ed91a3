// The example HTTP app of the demo and the launcher example: plain node:http, no metrics code at
// all. Run it under the launcher and every request is counted cluster-wide:
//
//   npm run build && PORT=3000 REDIS_URL=redis://localhost:6379 \
//     node dist/src/cli.js run --workers 4 dist/examples/app.js
//
// Each worker prints `app listening on 3000 (worker N)`; `curl localhost:3000/hello` answers
// `hello from worker N`, and `curl localhost:9092/metrics` shows http_requests_total{method="GET",
// route="unknown",status="200"} summed over the workers (plain node:http has no route templates:
// see examples/http.ts for `routeOf`).
import { createServer } from 'node:http';
import { Counter } from 'prom-client-redis';

const port = Number(process.env.PORT ?? 3000);
const slot = process.env.WORKER_SLOT ?? '0';

// One series per worker slot, to show how the load spread (the request metrics themselves merge
// the workers into one total). The launcher already set up the Redis storage from the environment.
const handled = new Counter({ name: 'app_requests_by_worker_total', help: 'Requests handled, by worker slot.', labelNames: ['worker'] });

createServer((req, res) => {
  handled.inc({ worker: slot });
  if (req.url?.startsWith('/slow')) {
    // A request still in flight when the launcher is stopped: drained, then counted.
    const ms = Number(new URL(req.url, 'http://x').searchParams.get('ms') ?? 300);
    setTimeout(() => res.writeHead(200, { 'Content-Type': 'text/plain' }).end('slow\n'), ms);
    return;
  }
  if (req.url === '/fail') {
    res.writeHead(500).end('failed on purpose\n');
    return;
  }
  res.writeHead(200, { 'Content-Type': 'text/plain' }).end(`hello from worker ${slot}\n`);
}).listen(port, () => console.log(`app listening on ${port} (worker ${slot})`));
