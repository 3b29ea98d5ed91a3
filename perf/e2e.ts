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

const SLICE_S = 1;
const WARMUP_S = 2;
const CONNECTIONS = 32;
const ROUNDS = 16;
const AUTOCANNON = createRequire(import.meta.url).resolve('autocannon');

const NONE = 'app without metrics';
const PROM = 'app with prom-client cluster mode';
const SUBJECT = 'app with the subject';
const LAUNCHER = "app with the launcher's request metrics";

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
  /** redis-server CPU over the slice (ms, /proc ticks of 10 ms) and the requests served. */
  readonly redisCpuMs: number | null;
  readonly requests: number;
}

interface App {
  readonly name: string;
  /** The workers' CPU so far (process.cpuUsage, user + system), in µs. */
  workersCpuUs(): Promise<number>;
  readonly mode: string;
  readonly url: string;
  readonly pids: number[];
  readonly redisPid: number | undefined;
  /** SIGTERM, then the RESULT line's scrape count. */
  stop(): Promise<number>;
}

function redisUsPerRequest(samples: readonly Sample[]): number | null {
  const measured = samples.filter((s) => s.redisCpuMs !== null);
  const requests = measured.reduce((a, s) => a + s.requests, 0);
  return measured.length === 0 || requests === 0 ? null : (measured.reduce((a, s) => a + (s.redisCpuMs ?? 0), 0) * 1000) / requests;
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

/** Starts an app and resolves once both workers listen; it serves until stop(). */
async function startApp(name: string, mode: string, extra: string[], redisPid: number | undefined): Promise<App> {
  const port = await freePort();
  const app = spawn(process.execPath, [script('e2e-app.js'), mode, String(port), ...extra], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  let out = '';
  let err = '';
  app.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<void>((resolve) => app.once('exit', () => resolve()));
  const pids = await new Promise<number[]>((resolve, reject) => {
    app.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      const match = /READY ([\d,]+)\n/.exec(out);
      if (match?.[1] !== undefined) resolve(match[1].split(',').map(Number));
    });
    app.once('exit', (code) => reject(new Error(`e2e app (${mode}) exited with ${String(code)}: ${err.trim().slice(-300)}`)));
  });
  return {
    name,
    mode,
    url: `http://127.0.0.1:${port}/`,
    pids,
    redisPid,
    workersCpuUs() {
      return new Promise((resolve) => {
        const onMessage = (m: { type?: string; us?: number }) => {
          if (m.type !== 'cpu') return;
          app.off('message', onMessage);
          resolve(m.us ?? 0);
        };
        app.on('message', onMessage);
        app.send({ type: 'cpu' });
      });
    },
    async stop() {
      if (app.exitCode === null) app.kill('SIGTERM');
      const timer = setTimeout(() => app.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      return line === undefined ? 0 : (JSON.parse(line.slice(7)) as { scrapes: number }).scrapes;
    },
  };
}

/** Loads one app for one slice; CPU of its processes (and of redis-server for the subject) per request. */
async function slice(app: App): Promise<Sample> {
  const appBefore = (await app.workersCpuUs()) / 1000;
  const redisBefore = app.redisPid === undefined ? null : processesCpuMs([app.redisPid]);
  const load = await autocannon(app.url, SLICE_S);
  const appAfter = (await app.workersCpuUs()) / 1000;
  const redisAfter = app.redisPid === undefined ? null : processesCpuMs([app.redisPid]);
  if (load.errors + load.timeouts > 0 || load.non2xx > 0) {
    throw new Error(`${app.mode}: ${load.errors + load.timeouts} errors and ${load.non2xx} non-2xx responses under load`);
  }
  const perRequest = (before: number | null, after: number | null) =>
    before === null || after === null || load.requests.total === 0 ? null : ((after - before) * 1000) / load.requests.total;
  return {
    requestsPerSec: load.requests.average,
    p99Ms: load.latency.p99,
    appCpuUsPerRequest: perRequest(appBefore, appAfter),
    redisCpuUsPerRequest: perRequest(redisBefore, redisAfter),
    redisCpuMs: redisBefore === null || redisAfter === null ? null : redisAfter - redisBefore,
    requests: load.requests.total,
  };
}

async function run(context: SectionContext) {
  const samples = new Map<string, Sample[]>();
  const scrapes = new Map<string, number>();
  await withRedis(async (server) => {
    // All apps serve for the whole section and take turns under load in short slices, so that a
    // burst of other work on this shared machine lands on every variant alike.
    const apps: App[] = [];
    try {
      apps.push(await startApp(NONE, 'none', [], undefined));
      apps.push(await startApp(PROM, 'prom-client', [], undefined));
      if (context.subject.subject !== null) {
        apps.push(await startApp(SUBJECT, 'subject', [server.url, 'perf-e2e'], server.pid));
        apps.push(await startApp(LAUNCHER, 'launcher', [server.url, 'perf-e2e-launcher'], server.pid));
      }
      for (const app of apps) await autocannon(app.url, WARMUP_S);
      for (let round = 0; round < ROUNDS; round++) {
        // ABC, CBA, ABC, ...: a machine slowing down or speeding up through a pair of rounds
        // weighs on every variant alike.
        for (let i = 0; i < apps.length; i++) {
          const app = apps[round % 2 === 0 ? i : apps.length - 1 - i] as App;
          const s = await slice(app);
          samples.set(app.name, [...(samples.get(app.name) ?? []), s]);
          const redisCpu = s.redisCpuUsPerRequest === null ? '' : `, redis-server ${formatNumber(s.redisCpuUsPerRequest)} µs CPU/req`;
          context.log(`round ${round + 1}/${ROUNDS} ${app.name}: ${formatNumber(s.requestsPerSec)} req/s, p99 ${s.p99Ms} ms, app ${formatNumber(s.appCpuUsPerRequest)} µs CPU/req${redisCpu}`);
        }
      }
    } finally {
      for (const app of apps) scrapes.set(app.name, await app.stop());
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
  // The metrics' own cost: app CPU per request above the app without metrics, median of the rounds'
  // differences (each round's slices are seconds apart).
  const overhead = (name: string) => {
    const x = samples.get(name) ?? [];
    const y = samples.get(NONE) ?? [];
    const d = x.map((s, i) => (s.appCpuUsPerRequest === null || y[i]?.appCpuUsPerRequest == null ? Number.NaN : s.appCpuUsPerRequest - y[i]!.appCpuUsPerRequest!)).filter(Number.isFinite);
    return { label: `${name}, above the app without metrics`, value: d.length === 0 ? null : median(d) };
  };
  const rows: Row[] = [
    { ...app, figure: med(LAUNCHER, cpu), baseline: med(NONE, cpu) },
    { ...app, figure: med(LAUNCHER, cpu), baseline: med(PROM, cpu) },
    { unit: 'app CPU µs/request', better: 'lower', figure: overhead(LAUNCHER), baseline: overhead(PROM) },
    { unit: 'app CPU µs/request', better: 'lower', figure: overhead(SUBJECT), baseline: overhead(PROM) },
    { ...thr, figure: med(LAUNCHER, rps), baseline: med(NONE, rps) },
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
      // Summed over the rounds: one 2 s slice costs redis-server less than the 10 ms a tick counts.
      figure: { label: 'redis-server, app with the subject', value: redisUsPerRequest(samples.get(SUBJECT) ?? []) },
      baseline: { label: `${NONE} (app CPU)`, value: med(NONE, cpu).value },
    },
  ];
  const spread = [...samples].map(([name, v]) => `${name} ${v.map((s) => formatNumber(s.requestsPerSec)).join(' / ')}`);
  // Paired per round: each variant against another measured seconds apart, so a slow spell of the
  // machine that spans a round cancels out.
  const roundRatios = (a: string, b: string) => {
    const x = samples.get(a) ?? [];
    const y = samples.get(b) ?? [];
    return x.map((s, i) => (y[i] === undefined ? Number.NaN : s.requestsPerSec / y[i]!.requestsPerSec)).filter((r) => Number.isFinite(r));
  };
  const pairedRow = (a: string, b: string): Row => {
    const ratios = roundRatios(a, b);
    return {
      unit: '× (median of per-round req/s ratios)',
      better: 'higher',
      figure: { label: `${a} ÷ ${b}, paired by round`, value: ratios.length === 0 ? null : median(ratios) },
      baseline: null,
    };
  };
  rows.push(pairedRow(SUBJECT, NONE), pairedRow(SUBJECT, PROM), pairedRow(PROM, NONE), pairedRow(LAUNCHER, NONE));
  const paired = (a: string, b: string) => roundRatios(a, b).map((r) => formatNumber(r)).join(', ') || 'not measured';
  return {
    rows,
    notes: [
      `The four apps run side by side for the whole section and take turns under load: ${ROUNDS} rounds, variants in order then in reverse order (ABCD, DCBA, ...), each slice autocannon ${CONNECTIONS} connections for ${SLICE_S} s, after a ${WARMUP_S} s warm-up of each; against a node:cluster app with 2 workers answering \`ok\`. Figures are medians over the rounds; req/s is autocannon's per-second average; *app CPU* is the loaded app's workers' \`process.cpuUsage()\` (user + system, asked over IPC before and after the slice) divided by the requests served: the primary, which only scrapes, is not counted; redis-server's CPU is from /proc.`,
      `*The launcher's request metrics*: the workers are forked with \`--import dist/src/integrations/worker-preload.js\` and the storage settings in the environment, as \`prom-client-redis\` runs an app (request metrics: in-flight gauge, counter, duration histogram, failures; process metrics and self metrics sampled every flush; the registry bridge); the app's code is the bare one. *Above the app without metrics*: median over the rounds of (this app's CPU per request − the bare app's in the same round).`,
      `req/s of each round: ${spread.join('; ')}.`,
      `Per-round req/s ratios (slices seconds apart; their medians are the *paired by round* rows, less exposed to the machine's slow spells than the ratio of medians): subject ÷ no metrics ${paired(SUBJECT, NONE)}; subject ÷ prom-client ${paired(SUBJECT, PROM)}.`,
      `Per request in the metric modes: \`histogram.startTimer()\`, \`counter.inc(labels)\`, \`end(labels)\` (3 labels, one series). Each primary scrapes the merged view once a second (15× the usual Prometheus rate, pessimistic for both; scrapes served: ${[...scrapes].map(([n, c]) => `${n} ${c}`).join(', ')}); the subject's workers flush every 1,000 ms. Apps not under load idle meanwhile (their timers still run).`,
      'Load generator, apps and redis-server share the same 2 cores; latency is not tabled because autocannon records whole milliseconds.',
    ],
  };
}

export const e2e: Section = { id: 'e2e', title: 'End to end: HTTP app under load', run };
