// Issue 10, first requirement: no /metrics answer of the launcher ever shows a counter, histogram
// bucket/count/sum or summary count/sum lower than an earlier answer did, through empty restarts of
// the real redis-server and FLUSHALLs, while nothing was lost. A real 4-worker launcher (flush
// 200 ms) takes bursts of requests while /metrics is polled every 5 ms; every 200 answer is checked
// against the previous one (a series that vanished counts as lower), and the 503 windows the
// restore gate answers meanwhile are measured (docs/design.md, Restoration).
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

describe('launcher: /metrics never lower through empty restarts and FLUSHALL', () => {
  let redis: RedisServer;
  let launcher: NodeChild;
  let appUrl: string;
  let metricsUrl: string;
  const prefix = newPrefix('restore');
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });

  const scrape = (): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const req = request(metricsUrl, { agent }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject).end();
    });

  before(async () => {
    redis = await startRedis();
    const [appPort, metricsPort] = await freePorts(2);
    appUrl = `http://127.0.0.1:${appPort}`;
    metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    launcher = runNode(CLI, {
      args: ['run', '--workers', '4', '--port', String(metricsPort), '--bind', '127.0.0.1', APP],
      env: { PORT: String(appPort), REDIS_URL: redis.url, REDIS_KEY_PREFIX: prefix, REDIS_FLUSH_INTERVAL_MS: '200' },
    });
    await waitForLines(launcher, /worker \d listening on/, 4);
  });

  after(async () => {
    agent.destroy();
    await launcher?.kill('SIGKILL');
    await redis?.stop();
  });

  it('every 200 answer is >= the previous one in every summed sample; the final totals are exact', async () => {
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

    const polls: Poll[] = [];
    const wrong: string[] = [];
    let previous: { values: Map<string, number>; atMs: number } | undefined;
    let waiter: { ok: (v: Map<string, number>) => boolean; resolve: () => void } | undefined;
    /** Each answer is checked as it arrives, against the last 200 answer that arrived before it. */
    const answered = (startMs: number, r: { status: number; body: string }): void => {
      polls.push({ startMs, endMs: performance.now(), status: r.status, body: r.status === 200 ? '' : r.body });
      if (r.status !== 200) return;
      const values = monotonicSamples(r.body);
      for (const [key, before] of previous?.values ?? []) {
        const now = values.get(key);
        if (now === undefined || now < before) wrong.push(`${key}: ${before} (asked at ${previous!.atMs.toFixed(0)} ms), then ${now ?? 'absent'} (asked at ${startMs.toFixed(0)} ms)`);
      }
      previous = { values, atMs: startMs };
      if (waiter?.ok(values)) waiter.resolve();
    };
    // A scrape starts every 5 ms whether or not the last one has answered (at most 8 in flight).
    let inFlight = 0;
    const inFlightDone = new Set<Promise<void>>();
    const ticker = setInterval(() => {
      if (inFlight >= 8) return;
      inFlight++;
      const startMs = performance.now();
      const done: Promise<void> = scrape().then(
        (r) => answered(startMs, r),
        (error: Error) => void polls.push({ startMs, endMs: performance.now(), status: 0, body: error.message }),
      ).finally(() => {
        inFlight--;
        inFlightDone.delete(done);
      });
      inFlightDone.add(done);
    }, 5);
    const complete = (v: Map<string, number>) =>
      total(v, 'http_requests_total') === requests &&
      total(v, 'http_request_duration_seconds_count') === requests &&
      total(v, 'app_units_total') === units &&
      total(v, 'app_payload_units_count') === requests &&
      total(v, 'app_payload_units_sum') === units;
    /** Resolves at the first 200 answer with every total complete (the poller is the event). */
    const untilComplete = (what: string) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${what}: not complete within 15 s; last 200 answer: ${JSON.stringify([...(previous?.values ?? [])].filter(([k]) => k.startsWith('app_') || k.startsWith('http_requests')))}`)), 15_000);
        waiter = { ok: complete, resolve: () => (clearTimeout(timer), (waiter = undefined), resolve()) };
      });

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
    clearInterval(ticker);
    await Promise.all(inFlightDone);

    assert.deepEqual(wrong, []);
    assert.equal(requests, (FAULTS + 1) * BURST);
    assert.equal(units, (FAULTS + 1) * BURST * 3);
    const last = monotonicSamples((await scrape()).body);
    assert.deepEqual(
      ['http_requests_total', 'http_request_duration_seconds_count', 'app_units_total', 'app_payload_units_count', 'app_payload_units_sum'].map((n) => total(last, n)),
      [requests, requests, units, requests, units],
    );
    // Every answer was 200 or the gate's (or an unreachable Redis's) 503, which names the reason.
    for (const p of polls.filter((p) => p.status !== 200)) {
      assert.equal(p.status, 503);
      assert.match(p.body, /^# Redis data is missing: collect: /);
    }
    // The 503 windows, in the order the answers came: from the start of the first 503 after a 200 to
    // the start of the next 200; and the part of each held back by the gate (Redis answering), from
    // the gate's first 503 in it. The rest is Redis unreachable (restart, then ioredis' back-off).
    const isGate = (p: Poll) => /ha(s|ve) not restored/.test(p.body);
    const windows: number[] = [];
    const gateParts: number[] = [];
    let opened: { atMs: number; gateAtMs?: number } | undefined;
    for (const p of polls) {
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
    const spread = (xs: number[]) => `min ${ms(Math.min(...xs))}, median ${ms(median(xs))}, max ${ms(Math.max(...xs))}`;
    const took = (status: number) => median(polls.filter((p) => p.status === status).map((p) => p.endMs - p.startMs));
    const ok = polls.filter((p) => p.status === 200).length;
    console.log(
      `# restore gate: ${polls.length} polls through ${FAULTS} faults (10 empty restarts, 5 FLUSHALL), ${ok} answered 200, ` +
        `${polls.length - ok} answered 503 (${polls.filter(isGate).length} of them by the gate, the rest Redis unreachable); ` +
        `${windows.length} windows of 503: ${spread(windows)}; the gate's part of ${gateParts.length} of them: ${spread(gateParts)}; ` +
        `a 200 took ${ms(took(200))}, a 503 ${ms(took(503))} (medians)`,
    );
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
      const atMs = performance.now();
      const r = await scrape();
      answers.push({ atMs, status: r.status, ...(r.status === 200 ? { values: monotonicSamples(r.body) } : {}) });
      assert.ok(atMs - faultMs < 10_000, 'still held back after 10 s');
      await sleep(Math.max(0, 5 - (performance.now() - atMs)));
    }
    const ok = answers.at(-1)!;
    const heldMs = ok.atMs - faultMs;
    // The other workers' parts are all there in the first answer; worker 1's is gone (its new life has had no request).
    assert.deepEqual([1, 2, 3, 4].map((slot) => units(ok.values!, slot)), [undefined, units(before, 2), units(before, 3), units(before, 4)]);
    assert.deepEqual(answers.slice(0, -1).filter((a) => a.status !== 503), []);
    assert.match(launcher.stderr(), new RegExp(`no longer waiting for process [^ ]+:${pid}:[0-9a-f]+ to restore what Redis lost \\(it did not beat within its live timeout\\)`));
    // Held until worker 1's live timeout (600 ms) after the gate saw the loss, and not much longer.
    assert.ok(heldMs >= 550 && heldMs <= 2_000, `held back ${heldMs.toFixed(0)} ms`);
    console.log(`# restore gate, a writer lost while Redis was empty: ${answers.length - 1} answers of 503, the first 200 ${heldMs.toFixed(0)} ms after FLUSHALL`);
  });
});
