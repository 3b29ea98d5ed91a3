// The launcher under a real Prometheus: a 4-worker app, load, a worker SIGKILLed and restarted
// mid-run, and the totals Prometheus stores equal the requests sent, with no counter reset.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { startRedis, newPrefix, type RedisServer } from '../helpers/redis-server.js';
import { runNode, type NodeChild } from '../helpers/processes.js';
import { freePorts } from '../helpers/ports.js';
import { pollUntil } from '../helpers/reaper.js';
import { startPrometheus, promtoolCheck, type PrometheusServer } from './support/prometheus.js';
import { get, sendRequests, sumOf, waitForLines } from './support/load.js';
import { familyHash } from '../../src/store/family.js';

const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
const APP = fileURLToPath(new URL('../../examples/app.js', import.meta.url));

describe('launcher: 4 workers scraped by Prometheus', () => {
  let redis: RedisServer;
  let launcher: NodeChild;
  let prometheus: PrometheusServer;
  let appUrl: string;
  let metricsUrl: string;
  const prefix = newPrefix('launcher');
  const workerPids = new Map<number, number>();

  const scrape = async (): Promise<string> => {
    const r = await get(metricsUrl);
    assert.equal(r.status, 200, r.body);
    return r.body;
  };
  /** The launcher's view settles one flush interval after the load: no event says when. */
  const untilTotal = (n: number) => pollUntil(`http_requests_total = ${n}`, async () => (sumOf(await scrape(), 'http_requests_total') === n ? true : undefined), { timeoutMs: 10_000, intervalMs: 100 });

  const untilStored = (n: number) => pollUntil(`Prometheus to store ${n}`, async () => ((await prometheus.scalar('sum(http_requests_total)')) === n ? true : undefined), { timeoutMs: 15_000, intervalMs: 200 });

  before(async () => {
    redis = await startRedis();
    const [appPort, metricsPort] = await freePorts(2);
    appUrl = `http://127.0.0.1:${appPort}`;
    metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    launcher = runNode(CLI, {
      args: ['run', '--workers', '4', '--port', String(metricsPort), '--bind', '127.0.0.1', APP],
      env: {
        PORT: String(appPort),
        REDIS_URL: redis.url,
        REDIS_KEY_PREFIX: prefix,
        REDIS_FLUSH_INTERVAL_MS: '200',
        // Long, so that only the launcher's mark-dead can take a killed worker out of live* at once.
        REDIS_LIVE_TIMEOUT_MS: '60000',
      },
    });
    for (const [, slot, pid] of await waitForLines(launcher, /worker (\d) started \(pid (\d+)\)/, 4)) workerPids.set(Number(slot), Number(pid));
    await waitForLines(launcher, /worker \d listening on/, 4);
    prometheus = await startPrometheus([`127.0.0.1:${metricsPort}`]);
  });

  after(async () => {
    await prometheus?.stop();
    await launcher?.kill('SIGKILL');
    await redis?.stop();
  });

  it('counts every request once across a worker crash; Prometheus sees the total and no reset', async () => {
    assert.equal(await sendRequests(`${appUrl}/a`, 300), 300);
    await untilTotal(300);
    // A sample from before the crash, so that resets() below spans it.
    await untilStored(300);

    // SIGKILL at a quiet point (its counts are flushed): a crash loses at most one flush interval.
    const victim = workerPids.get(2)!;
    process.kill(victim, 'SIGKILL');
    await waitForLines(launcher, /worker 2 exited \(signal SIGKILL\); restarting in 100 ms/, 1);
    // Marked dead at once: its liveall series are gone although its heartbeat is recent.
    const afterCrash = await scrape();
    assert.equal(afterCrash.split('\n').filter((l) => l.startsWith('worker_uptime_seconds{') && l.includes(`:${victim}:`)).length, 0, afterCrash);
    assert.equal(sumOf(afterCrash, 'http_requests_total'), 300);
    await waitForLines(launcher, /worker 2 listening on/, 2);

    assert.equal(await sendRequests(`${appUrl}/b`, 300), 300);
    await untilTotal(600);
    const text = await scrape();
    assert.match(text, /^launcher_worker_restarts_total 1$/m);
    assert.match(text, /^launcher_workers_alive 4$/m);
    assert.equal(text.split('\n').filter((l) => l.startsWith('worker_uptime_seconds{')).length, 4, text);
    assert.equal(text.split('\n').filter((l) => l.startsWith('http_requests_total{')).join('\n'), [
      'http_requests_total{method="GET",route="unknown",status="200"} 600',
    ].join('\n'));

    // Prometheus stores what it scrapes: wait for a scrape taken after the total settled.
    await untilStored(600);
    assert.equal(await prometheus.scalar('sum(resets(http_requests_total[5m]))'), 0);
    assert.equal(await prometheus.scalar('min_over_time(sum(http_requests_total)[5m:1s]) < 600'), 300);
    assert.equal(await prometheus.scalar('max_over_time(launcher_worker_restarts_total[5m])'), 1);
    assert.equal(await prometheus.scalar('min_over_time(up[5m])'), 1);
  });

  it('passes promtool check metrics', async () => {
    const check = await promtoolCheck(await scrape());
    assert.deepEqual(check, { code: 0, output: '' });
  });

  it('SIGTERM drains the workers: a request in flight is answered and counted, nobody stays live', async () => {
    // Long enough that the SIGTERM surely arrives while it is in flight.
    const slow = get(`${appUrl}/slow?ms=1500`);
    // The request is in flight once the gauge says so (the worker flushes it within 200 ms).
    await pollUntil('a request in flight', async () => (/^http_requests_in_flight 1$/m.test(await scrape()) ? true : undefined), { timeoutMs: 5_000, intervalMs: 20 });
    const exited = launcher.kill('SIGTERM');
    assert.equal((await slow).status, 200);
    assert.deepEqual(await exited, { code: 0, signal: null });
    assert.ok(launcher.stdoutLines.includes('[prom-client-redis] stopped'), launcher.stdoutLines.join('\n'));
    // Final flushes made: 601 requests in Redis, and every process left the live set.
    const total = await redis.cli('HGET', `${prefix}:counter:cluster:metric:{${familyHash('http_requests_total')}}`, '["GET","unknown","200"]');
    assert.equal(total, '601');
    assert.equal(await redis.cli('ZCARD', `${prefix}:live:{registry}`), '0');
  });
});
