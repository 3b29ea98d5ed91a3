// A load client that records every request's latency in nanoseconds (autocannon keeps whole
// milliseconds, too coarse for a p99 of ~1 ms). Open loop at a fixed rate: the app is loaded, not
// saturated, so that what a scrape adds shows as waiting rather than as lost throughput.
// Usage: node dist/perf/latency-client.js <url> <keepalive|new> <connections> <requestsPerSec> <seconds>
// Prints RESULT {count, errors, latenciesUs} (every request answered 200, in the order answered) and exits.
import { Agent, request } from 'node:http';
import { printResult } from './lib/proc.js';

const [url = '', mode = 'keepalive', connectionsArg = '8', rateArg = '1000', secondsArg = '2'] = process.argv.slice(2);
const connections = Number(connectionsArg);
const rate = Number(rateArg);
const seconds = Number(secondsArg);
const keepAlive = mode === 'keepalive';
// One socket per loop when kept alive; a fresh connection for every request otherwise.
const agent = keepAlive ? new Agent({ keepAlive: true, maxSockets: connections }) : undefined;
const intervalNs = BigInt(Math.round((connections * 1e9) / rate));

const latencies: number[] = [];
let errors = 0;

function once(): Promise<void> {
  return new Promise((resolve) => {
    const start = process.hrtime.bigint();
    const req = request(url, { agent: agent ?? false, headers: keepAlive ? {} : { connection: 'close' } }, (res) => {
      res.resume();
      res.once('end', () => {
        if (res.statusCode === 200) latencies.push(Number(process.hrtime.bigint() - start) / 1000);
        else errors++;
        resolve();
      });
    });
    req.once('error', () => {
      errors++;
      resolve();
    });
    req.end();
  });
}

async function loop(offsetNs: bigint, endNs: bigint): Promise<void> {
  let next = process.hrtime.bigint() + offsetNs;
  while (next < endNs) {
    const waitMs = Number(next - process.hrtime.bigint()) / 1e6;
    if (waitMs >= 1) await new Promise((r) => setTimeout(r, Math.floor(waitMs)));
    await once();
    next += intervalNs;
    // Behind schedule (the app was slow): do not burst to catch up, keep the rate from now on.
    const now = process.hrtime.bigint();
    if (next < now) next = now;
  }
}

const endNs = process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9));
await Promise.all(Array.from({ length: connections }, (_, i) => loop((intervalNs * BigInt(i)) / BigInt(connections), endNs)));
agent?.destroy();
printResult({ count: latencies.length, errors, latenciesUs: latencies.map((us) => Math.round(us * 10) / 10) });
