// Issue 10, first requirement: no /metrics answer ever shows a counter, histogram bucket/count/sum or
// summary count/sum lower than an earlier answer of the same process did, through empty restarts of
// the real redis-server and FLUSHALLs, while nothing was lost. A real 4-worker launcher (flush
// 200 ms) takes bursts of requests while its /metrics and that of a `serve` exporter of the same
// Redis are polled every 5 ms; every 200 answer is checked against the previous one (a series that
// vanished counts as lower), and the 503 windows of the restore gate are measured (docs/design.md,
// Restoration).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { startRedis, newPrefix, type RedisServer } from '../helpers/redis-server.js';
import { runNode, type NodeChild } from '../helpers/processes.js';
import { freePorts } from '../helpers/ports.js';
import { get, waitForLines } from './support/load.js';

const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
const APP = fileURLToPath(new URL('../fixtures/restore-app.js', import.meta.url));
const FAULTS = 15; // 10 empty restarts, 5 FLUSHALLs
const BURST = 40;

/** The samples that may never go down: counters, histogram buckets/count/sum, summary count/sum. */
function monotonicSamples(text: string): Map<string, number> {
  const types = new Map<string, string>();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('# TYPE ')) {
      const [, , name, type] = line.split(' ');
      types.set(name!, type!);
      continue;
    }
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    const key = line.slice(0, space);
    const name = key.split('{')[0]!;
    const suffix = /_(bucket|sum|count)$/.exec(name);
    const base = suffix ? name.slice(0, -suffix[0].length) : name;
    const isSummed =
      types.get(name) === 'counter' ||
      (suffix !== null && types.get(base) === 'histogram') ||
      (suffix !== null && suffix[1] !== 'bucket' && types.get(base) === 'summary');
    if (isSummed) out.set(key, Number(line.slice(space + 1)));
  }
  return out;
}

function total(values: Map<string, number>, name: string): number {
  let n = 0;
  for (const [key, v] of values) if (key === name || key.startsWith(`${name}{`)) n += v;
  return n;
}
interface Poll {
  readonly startMs: number;
  readonly endMs: number;
  readonly status: number;
  readonly body: string;
}

/**
 * Scrapes one /metrics every 5 ms whether or not the last scrape has answered (at most 8 in flight),
 * and checks each answer against every 200 answer that had arrived when it was asked (their highest
 * value of each sample): what Prometheus, whose scrapes of a target never overlap, would compare.
 * Two scrapes in flight together are not ordered: either may be served first.
 */
class Poller {
  readonly polls: Poll[] = [];
  readonly wrong: string[] = [];
  last: Map<string, number> | undefined;
  /** The highest value of each sample over the 200 answers arrived so far, and when its scrape was asked; replaced, never mutated. */
  #high = new Map<string, { value: number; atMs: number }>();
  #waiter: { ok: (v: Map<string, number>) => boolean; resolve: () => void } | undefined;
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 8 });
  readonly #inFlight = new Set<Promise<void>>();
  #ticker: NodeJS.Timeout | undefined;

  constructor(readonly url: string) {}

  scrape(): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = request(this.url, { agent: this.#agent }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject).end();
    });
  }

  start(): void {
    this.#ticker = setInterval(() => {
      if (this.#inFlight.size >= 8) return;
      const startMs = performance.now();
      const baseline = this.#high;
      const done: Promise<void> = this.scrape()
        .then(
          (r) => this.#answered(startMs, baseline, r),
          (error: Error) => void this.polls.push({ startMs, endMs: performance.now(), status: 0, body: error.message }),
        )
        .finally(() => this.#inFlight.delete(done));
      this.#inFlight.add(done);
    }, 5);
  }

  async stop(): Promise<void> {
    clearInterval(this.#ticker);
    await Promise.all(this.#inFlight);
  }

  close(): void {
    this.#agent.destroy();
  }

  /** Resolves at the first 200 answer for which `ok` holds (the poller is the event). */
  until(ok: (v: Map<string, number>) => boolean, what: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const shown = () => JSON.stringify([...(this.last ?? [])].filter(([k]) => k.startsWith('app_') || k.startsWith('http_requests')));
      const timer = setTimeout(() => reject(new Error(`${this.url}, ${what}: not within 15 s; last 200 answer: ${shown()}`)), 15_000);
      this.#waiter = {
        ok,
        resolve: () => {
          clearTimeout(timer);
          this.#waiter = undefined;
          resolve();
        },
      };
    });
  }

  #answered(startMs: number, baseline: ReadonlyMap<string, { value: number; atMs: number }>, r: { status: number; body: string }): void {
    this.polls.push({ startMs, endMs: performance.now(), status: r.status, body: r.status === 200 ? '' : r.body });
    if (r.status !== 200) return;
    const values = monotonicSamples(r.body);
    for (const [key, before] of baseline) {
      const now = values.get(key);
      if (now === undefined || now < before.value) this.wrong.push(`${this.url} ${key}: ${before.value} (asked at ${before.atMs.toFixed(0)} ms), then ${now ?? 'absent'} (asked at ${startMs.toFixed(0)} ms)`);
    }
    const high = new Map(this.#high);
    for (const [key, value] of values) if (!(high.get(key)!?.value >= value)) high.set(key, { value, atMs: startMs });
    this.#high = high;
    this.last = values;
    if (this.#waiter?.ok(values)) this.#waiter.resolve();
  }

  /**
   * The 503 windows, in the order the scrapes started: from the start of the first 503 after a 200
   * to the start of the next 200; and the part of each held back by the gate (Redis answering), from
   * the gate's first 503 in it. The rest is Redis unreachable (restart, then ioredis' back-off).
   */
  report(name: string): string {
    const isGate = (p: Poll) => /ha(s|ve) not restored/.test(p.body);
    const windows: number[] = [];
    const gateParts: number[] = [];
    let opened: { atMs: number; gateAtMs?: number } | undefined;
    for (const p of [...this.polls].sort((a, b) => a.startMs - b.startMs)) {
      if (p.status !== 200) {
        opened ??= { atMs: p.startMs };
        if (isGate(p)) opened.gateAtMs ??= p.startMs;
      } else if (opened !== undefined) {
        windows.push(p.startMs - opened.atMs);
        if (opened.gateAtMs !== undefined) gateParts.push(p.startMs - opened.gateAtMs);
        opened = undefined;
      }
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const ms = (x: number | undefined) => (x === undefined ? '-' : `${x.toFixed(0)} ms`);
    const spread = (xs: number[]) => (xs.length === 0 ? 'none' : `min ${ms(Math.min(...xs))}, median ${ms(median(xs))}, max ${ms(Math.max(...xs))}`);
    const took = (status: number) => median(this.polls.filter((p) => p.status === status).map((p) => p.endMs - p.startMs));
    const ok = this.polls.filter((p) => p.status === 200).length;
    return (
      `${name}: ${this.polls.length} polls, ${ok} answered 200, ${this.polls.length - ok} answered 503 (${this.polls.filter(isGate).length} of them by the gate, the rest Redis unreachable); ` +
      `${windows.length} windows of 503: ${spread(windows)}; the gate's part of ${gateParts.length} of them: ${spread(gateParts)}; ` +
      `a 200 took ${ms(took(200))}, a 503 ${ms(took(503))} (medians)`
    );
  }
}

describe('launcher and serve: /metrics never lower through empty restarts and FLUSHALL', () => {
  let redis: RedisServer;
  let launcher: NodeChild;
  let exporter: NodeChild;
  let appUrl: string;
  let primary: Poller;
  let serve: Poller;
  const prefix = newPrefix('restore');
  const scrape = () => primary.scrape();

  before(async () => {
    redis = await startRedis();
    const [appPort, metricsPort, servePort] = await freePorts(3);
    appUrl = `http://127.0.0.1:${appPort}`;
    const env = { REDIS_URL: redis.url, REDIS_KEY_PREFIX: prefix, REDIS_FLUSH_INTERVAL_MS: '200' };
    launcher = runNode(CLI, { args: ['run', '--workers', '4', '--port', String(metricsPort), '--bind', '127.0.0.1', APP], env: { ...env, PORT: String(appPort) } });
    // And a pure reader of the same Redis: `serve` (its only writes are its own self-metrics).
    exporter = runNode(CLI, { args: ['serve'], env: { ...env, PROMETHEUS_METRICS_PORT: String(servePort), PROMETHEUS_BIND_ADDRESS: '127.0.0.1' } });
    primary = new Poller(`http://127.0.0.1:${metricsPort}/metrics`);
    serve = new Poller(`http://127.0.0.1:${servePort}/metrics`);
    await waitForLines(launcher, /worker \d listening on/, 4);
    await waitForLines(exporter, /exporter: metrics on/, 1);
  });

  after(async () => {
    primary?.close();
    serve?.close();
    await exporter?.kill('SIGKILL');
    await launcher?.kill('SIGKILL');
    await redis?.stop();
  });

  it('every 200 answer of both is >= the previous one in every summed sample; the final totals are exact', async () => {
    let requests = 0;
    let units = 0;
    const burst = async (count: number): Promise<void> => {
      let next = 0;
      const lane = async (): Promise<void> => {
        while (next < count) {
          const k = (next++ % 5) + 1;
          const r = await get(`${appUrl}/n/${k}`);
          assert.equal(r.status, 200, r.body);
          requests++;
          units += k;
        }
      };
      await Promise.all(Array.from({ length: 8 }, lane));
    };
    const complete = (v: Map<string, number>) =>
      total(v, 'http_requests_total') === requests &&
      total(v, 'http_request_duration_seconds_count') === requests &&
      total(v, 'app_units_total') === units &&
      total(v, 'app_payload_units_count') === requests &&
      total(v, 'app_payload_units_sum') === units;
    const untilComplete = (what: string) => Promise.all([primary.until(complete, what), serve.until(complete, what)]);
    primary.start();
    serve.start();

    await burst(BURST);
    await untilComplete('before the faults');
    for (let i = 0; i < FAULTS; i++) {
      const kind = i % 3 === 2 ? 'FLUSHALL' : 'restart';
      // Requests in flight through the fault: some flushed before it, some counted while Redis is gone.
      const load = burst(BURST);
      if (kind === 'FLUSHALL') assert.equal(await redis.cli('FLUSHALL'), 'OK');
      else await redis.restartEmpty();
      await load;
      await untilComplete(`after ${kind} ${i + 1}`);
    }
    await Promise.all([primary.stop(), serve.stop()]);

    const giveUps = () => [launcher, exporter].flatMap((c) => c.stderr().split('\n').filter((l) => l.includes('no longer waiting'))).join('\n');
    assert.deepEqual(primary.wrong, [], giveUps());
    assert.deepEqual(serve.wrong, [], giveUps());
    assert.equal(requests, (FAULTS + 1) * BURST);
    assert.equal(units, (FAULTS + 1) * BURST * 3);
    for (const poller of [primary, serve]) {
      const last = monotonicSamples((await poller.scrape()).body);
      assert.deepEqual(
        ['http_requests_total', 'http_request_duration_seconds_count', 'app_units_total', 'app_payload_units_count', 'app_payload_units_sum'].map((n) => total(last, n)),
        [requests, requests, units, requests, units],
      );
      // Every answer was 200 or the gate's (or an unreachable Redis's) 503, which names the reason.
      for (const p of poller.polls.filter((p) => p.status !== 200)) {
        assert.equal(p.status, 503, p.body);
        assert.match(p.body, /^# Redis data is missing: collect: /);
      }
    }
    console.log(`# restore gate, ${FAULTS} faults (10 empty restarts, 5 FLUSHALL): ${primary.report('launcher primary')}`);
    console.log(`# restore gate, ${FAULTS} faults (10 empty restarts, 5 FLUSHALL): ${serve.report('serve')}`);
  });

  it('a worker SIGKILLed while Redis is empty: its part is lost for real, and the gate gives it up after its live timeout (600 ms)', async () => {
    const before = monotonicSamples((await scrape()).body);
    const units = (v: Map<string, number>, slot: number) => v.get(`app_units_total{worker="${slot}"}`);
    assert.ok([1, 2, 3, 4].every((slot) => (units(before, slot) ?? 0) > 0), JSON.stringify([...before].filter(([k]) => k.startsWith('app_units'))));
    const [, pid] = launcher.stdoutLines.map((l) => /worker 1 started \(pid (\d+)\)/.exec(l)).find((m) => m !== null)!;
    // Redis empties, and worker 1 dies before its next heartbeat (every 200 ms) can tell it so.
    const faultMs = performance.now();
    assert.equal(await redis.cli('FLUSHALL'), 'OK');
    process.kill(Number(pid), 'SIGKILL');
    const answers: Array<{ atMs: number; status: number; values?: Map<string, number> }> = [];
    while (answers.at(-1)?.status !== 200 || answers.length < 2) {
      const startMs = performance.now();
      const r = await scrape();
      // When the answer is in: the collect read Redis before, after the gate's deadline.
      const atMs = performance.now();
      answers.push({ atMs, status: r.status, ...(r.status === 200 ? { values: monotonicSamples(r.body) } : {}) });
      assert.ok(atMs - faultMs < 10_000, 'still held back after 10 s');
      await sleep(Math.max(0, 5 - (atMs - startMs)));
    }
    const ok = answers.at(-1)!;
    const heldMs = ok.atMs - faultMs;
    // The other workers' parts are all there in the first answer; worker 1's is gone (its new life has had no request).
    assert.deepEqual([1, 2, 3, 4].map((slot) => units(ok.values!, slot)), [undefined, units(before, 2), units(before, 3), units(before, 4)]);
    assert.deepEqual(answers.slice(0, -1).filter((a) => a.status !== 503), []);
    assert.match(launcher.stderr(), new RegExp(`no longer waiting for process [^ ]+:${pid}:[0-9a-f]+ to restore what Redis lost \\(it did not beat within its live timeout\\)`));
    // Held until worker 1's live timeout (600 ms) after the gate saw the loss, and not much longer.
    assert.ok(heldMs >= 600 && heldMs <= 2_000, `held back ${heldMs.toFixed(0)} ms`);
    console.log(`# restore gate, a writer lost while Redis was empty: ${answers.length - 1} answers of 503, the first 200 in ${heldMs.toFixed(0)} ms after FLUSHALL`);
  });
});
