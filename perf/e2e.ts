// e2e: a 2-worker node:http cluster under autocannon, without metrics, with prom-client cluster
// mode, and with the subject. Throughput is the headline, but on a shared 2-core machine it swings
// with whatever else runs; the app's CPU time per request (primary + workers, from /proc) is the
// steadier figure of the cost of metrics.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { formatNumber } from './lib/format.js';
import { processesCpuMs, script } from './lib/proc.js';
import { freePort, withRedis } from './lib/redis.js';
import type { Row } from './lib/results.js';
import type { Section, SectionContext } from './lib/section.js';
import { median } from './lib/stats.js';

const DURATION_S = 5;
const WARMUP_S = 1;
const CONNECTIONS = 32;
const ROUNDS = 3;
const AUTOCANNON = createRequire(import.meta.url).resolve('autocannon');

const NONE = 'app without metrics';
const PROM = 'app with prom-client cluster mode';
const SUBJECT = 'app with the subject';

interface AutocannonJson {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  errors: number;
  timeouts: number;
  non2xx: number;
}

interface Sample {
  readonly requestsPerSec: number;
  readonly p99Ms: number;
  readonly appCpuUsPerRequest: number | null;
  readonly redisCpuUsPerRequest: number | null;
  readonly scrapes: number;
}

function autocannon(url: string, seconds: number): Promise<AutocannonJson> {
  const args = ['-j', '-c', String(CONNECTIONS), '-d', String(seconds), url];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [AUTOCANNON, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.once('exit', (code) => {
      try {
        resolve(JSON.parse(out) as AutocannonJson);
      } catch {
        reject(new Error(`autocannon exited with ${String(code)} and no JSON: ${out.slice(0, 200)}`));
      }
    });
  });
}

/** Starts the app, waits for READY, warms it up, loads it, stops it. */
async function variant(mode: string, extra: string[], redisPid: number | undefined): Promise<Sample> {
  const port = await freePort();
  const app = spawn(process.execPath, [script('e2e-app.js'), mode, String(port), ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  app.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const ready = new Promise<number[]>((resolve, reject) => {
    app.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const match = /READY ([\d,]+)\n/.exec(out);
      if (match?.[1] !== undefined) resolve(match[1].split(',').map(Number));
    });
    app.once('exit', (code) => reject(new Error(`e2e app (${mode}) exited with ${String(code)}: ${err.trim().slice(-300)}`)));
  });
  const exited = new Promise<void>((resolve) => app.once('exit', () => resolve()));
  try {
    const pids = await ready;
    const url = `http://127.0.0.1:${port}/`;
    await autocannon(url, WARMUP_S);
    const appBefore = processesCpuMs(pids);
    const redisBefore = redisPid === undefined ? null : processesCpuMs([redisPid]);
    const load = await autocannon(url, DURATION_S);
    const appAfter = processesCpuMs(pids);
    const redisAfter = redisPid === undefined ? null : processesCpuMs([redisPid]);
    if (load.errors + load.timeouts > 0 || load.non2xx > 0) {
      throw new Error(`${mode}: ${load.errors + load.timeouts} errors and ${load.non2xx} non-2xx responses under load`);
    }
    app.kill('SIGTERM');
    await exited;
    const line = out.split('\n').find((l) => l.startsWith('RESULT '));
    const perRequest = (before: number | null, after: number | null) =>
      before === null || after === null || load.requests.total === 0 ? null : ((after - before) * 1000) / load.requests.total;
    return {
      requestsPerSec: load.requests.average,
      p99Ms: load.latency.p99,
      appCpuUsPerRequest: perRequest(appBefore, appAfter),
      redisCpuUsPerRequest: perRequest(redisBefore, redisAfter),
      scrapes: line === undefined ? 0 : (JSON.parse(line.slice(7)) as { scrapes: number }).scrapes,
    };
  } finally {
    if (app.exitCode === null) app.kill('SIGKILL');
  }
}

async function run(context: SectionContext) {
  const samples = new Map<string, Sample[]>();
  await withRedis(async (server) => {
    const variants: Array<[string, string, string[]]> = [
      [NONE, 'none', []],
      [PROM, 'prom-client', []],
      ...(context.subject.subject !== null ? [[SUBJECT, 'subject', [server.url, 'perf-e2e']] as [string, string, string[]]] : []),
    ];
    // Rounds in rotated order, so that a burst of other work does not always land on one variant.
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < variants.length; i++) {
        const [name, mode, extra] = variants[(i + round) % variants.length] as [string, string, string[]];
        const s = await variant(mode, extra, mode === 'subject' ? server.pid : undefined);
        samples.set(name, [...(samples.get(name) ?? []), s]);
        const redisCpu = s.redisCpuUsPerRequest === null ? '' : `, redis-server ${formatNumber(s.redisCpuUsPerRequest)} µs CPU/req`;
        context.log(`${name}: ${formatNumber(s.requestsPerSec)} req/s, p99 ${s.p99Ms} ms, app ${formatNumber(s.appCpuUsPerRequest)} µs CPU/req${redisCpu}, ${s.scrapes} scrapes`);
      }
    }
  });

  const med = (name: string, pick: (s: Sample) => number | null) => {
    const values = (samples.get(name) ?? []).map(pick).filter((v): v is number => v !== null);
    return { label: name, value: values.length === 0 ? null : median(values) };
  };
  const rps = (s: Sample) => s.requestsPerSec;
  const cpu = (s: Sample) => s.appCpuUsPerRequest;
  const thr = { unit: 'req/s', better: 'higher' as const };
  const app = { unit: 'app CPU µs/request', better: 'lower' as const };
  const rows: Row[] = [
    { ...thr, figure: med(SUBJECT, rps), baseline: med(PROM, rps) },
    { ...thr, figure: med(SUBJECT, rps), baseline: med(NONE, rps) },
    { ...thr, figure: med(PROM, rps), baseline: med(NONE, rps) },
    { ...thr, figure: med(NONE, rps), baseline: null },
    { ...app, figure: med(SUBJECT, cpu), baseline: med(PROM, cpu) },
    { ...app, figure: med(SUBJECT, cpu), baseline: med(NONE, cpu) },
    { ...app, figure: med(PROM, cpu), baseline: med(NONE, cpu) },
    { ...app, figure: med(NONE, cpu), baseline: null },
    {
      unit: 'CPU µs/request',
      better: 'lower',
      figure: { label: 'redis-server, app with the subject', value: med(SUBJECT, (s) => s.redisCpuUsPerRequest).value },
      baseline: { label: `${NONE} (app CPU)`, value: med(NONE, cpu).value },
    },
  ];
  const spread = [...samples].map(([name, v]) => `${name} ${v.map((s) => formatNumber(s.requestsPerSec)).join(' / ')}`);
  return {
    rows,
    notes: [
      `Median of ${ROUNDS} rounds, variants in rotated order, a fresh app each time: autocannon ${CONNECTIONS} connections, ${WARMUP_S} s warm-up, then ${DURATION_S} s measured, against a node:cluster app with 2 workers answering \`ok\`. req/s is autocannon's per-second average; CPU is the app's primary + workers (utime + stime from /proc) over the measured ${DURATION_S} s, divided by the requests served.`,
      `req/s of each round: ${spread.join('; ')}.`,
      'Per request in the metric modes: `histogram.startTimer()`, `counter.inc(labels)`, `end(labels)` (3 labels, one series). The primary scrapes the merged view once a second (15× the usual Prometheus rate, pessimistic for both); the subject\'s workers flush every 1,000 ms.',
      'Load generator, app and redis-server share the same 2 cores; latency is not tabled because autocannon records whole milliseconds (p99 0-4 ms here).',
    ],
  };
}

export const e2e: Section = { id: 'e2e', title: 'End to end: HTTP app under load', run };
