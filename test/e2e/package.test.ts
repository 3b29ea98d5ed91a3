// The package as a user installs it: `npm pack` of what a fresh clone holds, installed from the
// tarball into a new CommonJS app and a new ES module app, then used by require, import, the bin
// and the TypeScript compiler, and the launcher stopped the way Docker and systemd stop it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startRedis, newPrefix, type RedisServer } from '../helpers/redis-server.js';
import { makeTempDir } from '../helpers/reaper.js';
import { runNode } from '../helpers/processes.js';
import { freePorts } from '../helpers/ports.js';
import { startScraper } from '../helpers/scraper.js';
import { get, sendRequests, sumOf, waitForLines } from './support/load.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');
const TYPE_ROOTS = join(ROOT, 'node_modules/@types');

/** The four metric types against Redis, then the merged exposition read back (CommonJS or ESM header). */
const usage = (header: string): string => `${header}
const storage = getRedisStorageManager();
const jobs = new Counter({ name: 'pkg_jobs_total', help: 'Jobs.', labelNames: ['kind'] });
const depth = new Gauge({ name: 'pkg_queue_depth', help: 'Depth.', multiprocessMode: 'sum' });
const took = new Histogram({ name: 'pkg_job_seconds', help: 'Job time.', buckets: [1, 5] });
const size = new Summary({ name: 'pkg_job_bytes', help: 'Job size.', percentiles: [0.5, 0.99] });
jobs.inc({ kind: 'a' }, 2);
depth.set(7);
took.observe(2);
size.observe(10);
size.observe(30);
storage.waitUntilConnected(5000)
  .then(() => storage.flush())
  .then(() => storage.getCollector().metrics())
  .then((text) => process.stdout.write(text))
  .finally(() => storage.shutdown());
`;

const EXPECTED_EXPOSITION = `# HELP pkg_job_bytes Job size.
# TYPE pkg_job_bytes summary
pkg_job_bytes{quantile="0.5"} 10
pkg_job_bytes{quantile="0.99"} 30
pkg_job_bytes_sum 40
pkg_job_bytes_count 2

# HELP pkg_job_seconds Job time.
# TYPE pkg_job_seconds histogram
pkg_job_seconds_bucket{le="1"} 0
pkg_job_seconds_bucket{le="5"} 1
pkg_job_seconds_bucket{le="+Inf"} 1
pkg_job_seconds_sum 2
pkg_job_seconds_count 1

# HELP pkg_jobs_total Jobs.
# TYPE pkg_jobs_total counter
pkg_jobs_total{kind="a"} 2

# HELP pkg_queue_depth Depth.
# TYPE pkg_queue_depth gauge
pkg_queue_depth 7
`;

/** Type-checked use of each metric type, compiled in every module mode, then run (Redis off). */
const TYPED = `import { Counter, Gauge, Histogram, Summary, RedisStorageManager, type CounterConfiguration } from 'prom-client-redis';

const storage = new RedisStorageManager({ enabled: false });
const config: CounterConfiguration<'kind'> = { name: 'ts_jobs_total', help: 'Jobs.', labelNames: ['kind'], registers: [], storage };
const jobs: Counter<'kind'> = new Counter(config);
const depth: Gauge = new Gauge({ name: 'ts_depth', help: 'Depth.', multiprocessMode: 'sum', registers: [], storage });
const took: Histogram<'route'> = new Histogram({ name: 'ts_seconds', help: 'Time.', labelNames: ['route'], buckets: [1], registers: [], storage });
const size: Summary = new Summary({ name: 'ts_bytes', help: 'Size.', percentiles: [0.5], registers: [], storage });
jobs.inc({ kind: 'a' });
depth.set(3);
took.observe({ route: '/' }, 0.5);
size.observe(8);
storage.getCollector().metrics().then((text: string) => process.stdout.write(text));
`;
/** A metric name that is not a string: only the real types catch it (an `any` would not). */
const MISTYPED = `import { Counter } from 'prom-client-redis';
new Counter({ name: 1, help: 'x' });
`;
const MISTYPED_ERROR = `mistyped.ts(2,15): error TS2322: Type 'number' is not assignable to type 'string'.
`;

const EXPECTED_TYPED_OUTPUT = `# HELP ts_jobs_total Jobs.
# TYPE ts_jobs_total counter
ts_jobs_total{kind="a"} 1

# HELP ts_depth Depth.
# TYPE ts_depth gauge
ts_depth 3

# HELP ts_seconds Time.
# TYPE ts_seconds histogram
ts_seconds_bucket{le="1",route="/"} 1
ts_seconds_bucket{le="+Inf",route="/"} 1
ts_seconds_sum{route="/"} 0.5
ts_seconds_count{route="/"} 1

# HELP ts_bytes Size.
# TYPE ts_bytes summary
ts_bytes{quantile="0.5"} 8
ts_bytes_sum 8
ts_bytes_count 1
`;

/** A plain CommonJS HTTP app for the launcher; /slow requests print a line once they are in flight. */
const LAUNCHED_APP = `const http = require('node:http');
const { Counter } = require('prom-client-redis');
const hits = new Counter({ name: 'pkg_app_hits_total', help: 'Hits.' });
http.createServer((req, res) => {
  hits.inc();
  if (req.url === '/slow') {
    console.log('slow request in flight');
    setTimeout(() => res.end('slow done\\n'), 800);
  } else res.end('ok\\n');
}).listen(Number(process.env.PORT), '127.0.0.1', () => console.log('app listening'));
`;

async function newApp(dir: string, type: 'commonjs' | 'module', tarball: string): Promise<void> {
  mkdirSync(dir);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `app-${type}`, version: '1.0.0', private: true, type }));
  // From the tarball; the dependencies come from npm's cache, which `npm ci` of this repo filled.
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', tarball], { cwd: dir });
}

async function tsc(dir: string, flags: readonly string[], files: readonly string[]): Promise<{ code: number; output: string }> {
  const args = [TSC, '--strict', '--target', 'es2022', '--lib', 'es2022', '--typeRoots', TYPE_ROOTS, '--types', 'node', ...flags, ...files];
  try {
    await run(process.execPath, args, { cwd: dir });
    return { code: 0, output: '' };
  } catch (error) {
    const e = error as { code: number; stdout: string };
    return { code: e.code, output: e.stdout };
  }
}

describe('the package from npm pack', { timeout: 120_000 }, () => {
  let work: string;
  let packed: { filename: string; files: { path: string }[] };
  let cjsApp: string;
  let esmApp: string;
  let redis: RedisServer;

  before(async () => {
    work = makeTempDir('package');
    // What a fresh clone holds: the tracked files and the new ones not ignored (node_modules is
    // linked, for the build's TypeScript and esbuild).
    const clone = join(work, 'clone');
    const { stdout } = await run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, maxBuffer: 16 << 20 });
    for (const file of stdout.split('\0').filter(Boolean)) {
      try {
        mkdirSync(dirname(join(clone, file)), { recursive: true });
        cpSync(join(ROOT, file), join(clone, file));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error; // deleted, not yet committed
      }
    }
    symlinkSync(join(ROOT, 'node_modules'), join(clone, 'node_modules'));
    const pack = await run('npm', ['pack', '--json', '--loglevel=error', '--pack-destination', work], { cwd: clone, maxBuffer: 16 << 20 });
    // prepare's build output comes first on stdout; the JSON report is the last thing printed.
    packed = (JSON.parse(pack.stdout.slice(pack.stdout.lastIndexOf('\n[') + 1)) as (typeof packed)[])[0]!;
    const tarball = join(work, packed.filename);
    cjsApp = join(work, 'cjs-app');
    esmApp = join(work, 'esm-app');
    [redis] = await Promise.all([startRedis(), newApp(cjsApp, 'commonjs', tarball), newApp(esmApp, 'module', tarball)]);
  });
  after(async () => {
    await redis?.stop();
  });

  it('holds the compiled code, its types, the Lua scripts, the CLI and LICENSE, and nothing of test/ or perf/', () => {
    const paths = packed.files.map((f) => f.path).sort();
    const modules = listFiles(join(ROOT, 'src')).filter((f) => f.endsWith('.ts')).map((f) => f.replace(/\.ts$/, ''));
    const lua = listFiles(join(ROOT, 'src/redis/lua'));
    const expected = [
      'LICENSE', 'README.md', 'package.json',
      ...modules.flatMap((m) => [`dist/src/${m}.js`, `dist/src/${m}.d.ts`, `dist/cjs/${m}.d.ts`]),
      ...lua.map((f) => `dist/src/redis/lua/${f}`),
      'dist/cjs/index.js', 'dist/cjs/package.json',
    ].sort();
    assert.deepEqual(paths, expected);
    assert.equal(packed.files.length, 3 + modules.length * 3 + lua.length + 2);
  });

  it('require() works in a CommonJS app: the four metric types flush through the Lua scripts and read back', async () => {
    writeFileSync(join(cjsApp, 'use.js'), usage("const { Counter, Gauge, Histogram, Summary, getRedisStorageManager } = require('prom-client-redis');"));
    const child = runNode('use.js', { cwd: cjsApp, env: { REDIS_ENABLED: 'true', REDIS_URL: redis.url, REDIS_KEY_PREFIX: newPrefix('pkg-cjs') } });
    assert.deepEqual(await child.exited, { code: 0, signal: null });
    assert.equal(child.stderr(), '');
    assert.deepEqual(families(child.stdoutLines), families(EXPECTED_EXPOSITION.split('\n')));
  });

  it('import works in an ES module app', async () => {
    writeFileSync(join(esmApp, 'use.js'), usage("import { Counter, Gauge, Histogram, Summary, getRedisStorageManager } from 'prom-client-redis';"));
    const child = runNode('use.js', { cwd: esmApp, env: { REDIS_ENABLED: 'true', REDIS_URL: redis.url, REDIS_KEY_PREFIX: newPrefix('pkg-esm') } });
    assert.deepEqual(await child.exited, { code: 0, signal: null });
    assert.equal(child.stderr(), '');
    assert.deepEqual(families(child.stdoutLines), families(EXPECTED_EXPOSITION.split('\n')));
  });

  it('installs the bin: prom-client-redis --version', async () => {
    for (const app of [cjsApp, esmApp]) {
      const { stdout, stderr } = await run(join(app, 'node_modules/.bin/prom-client-redis'), ['--version']);
      assert.deepEqual({ stdout, stderr }, { stdout: `${VERSION}\n`, stderr: '' });
    }
  });

  it('TypeScript finds the types: node16 and node10 in a CommonJS app, nodenext in an ES module app', async () => {
    writeFileSync(join(cjsApp, 'typed.ts'), TYPED);
    writeFileSync(join(esmApp, 'typed.ts'), TYPED);
    writeFileSync(join(cjsApp, 'mistyped.ts'), MISTYPED);
    writeFileSync(join(esmApp, 'mistyped.ts'), MISTYPED);
    const modes = [
      { name: 'node16', dir: cjsApp, flags: ['--module', 'node16', '--moduleResolution', 'node16'] },
      // node10 reads `types`/`main`, not `exports`; esModuleInterop as tsc --init has it for CommonJS.
      { name: 'node10', dir: cjsApp, flags: ['--module', 'commonjs', '--moduleResolution', 'node10', '--esModuleInterop'] },
      { name: 'nodenext', dir: esmApp, flags: ['--module', 'nodenext', '--moduleResolution', 'nodenext'] },
    ];
    // One program per mode: typed.ts must compile clean, mistyped.ts must fail on its label alone
    // (and typed.js is emitted all the same, to be run).
    // One after the other: three compilers at once would starve the test files running alongside.
    const results = [];
    for (const { name, dir, flags } of modes) results.push({ name, ...(await tsc(dir, [...flags, '--outDir', `out-${name}`], ['typed.ts', 'mistyped.ts'])) });
    for (const result of results) {
      assert.deepEqual(result, { name: result.name, code: 2, output: MISTYPED_ERROR });
    }
    for (const { name, dir } of modes) {
      const child = runNode(join(`out-${name}`, 'typed.js'), { cwd: dir });
      assert.deepEqual(await child.exited, { code: 0, signal: null }, name);
      assert.deepEqual(families(child.stdoutLines), families(EXPECTED_TYPED_OUTPUT.split('\n')), name);
    }
  });

  it('the bin run as Docker exec form and systemd start it: SIGTERM drains the requests in flight and makes the final flush', async () => {
    writeFileSync(join(cjsApp, 'server.js'), LAUNCHED_APP);
    const [appPort, metricsPort] = await freePorts(2);
    const prefix = newPrefix('pkg-stop');
    const launcher = runNode(join(cjsApp, 'node_modules/.bin/prom-client-redis'), {
      asExecutable: true,
      cwd: cjsApp,
      args: ['run', '--workers', '2', '--bind', '127.0.0.1', 'server.js'],
      env: { PORT: String(appPort), PROMETHEUS_METRICS_PORT: String(metricsPort), REDIS_URL: redis.url, REDIS_KEY_PREFIX: prefix },
    });
    await waitForLines(launcher, /^app listening$/, 2);
    const appUrl = `http://127.0.0.1:${appPort}`;
    assert.equal(await sendRequests(`${appUrl}/`, 40), 40);
    const slow = Array.from({ length: 3 }, () => get(`${appUrl}/slow`));
    await waitForLines(launcher, /^slow request in flight$/, 3);
    const exited = launcher.kill('SIGTERM');
    assert.deepEqual((await Promise.all(slow)).map((r) => [r.status, r.body]), Array(3).fill([200, 'slow done\n']));
    assert.deepEqual(await exited, { code: 0, signal: null });
    assert.equal(launcher.stdoutLines.at(-1), '[prom-client-redis] stopped');
    const scraper = await startScraper(redis, prefix);
    try {
      const text = await scraper.getCollector().metrics();
      assert.deepEqual([sumOf(text, 'http_requests_total'), sumOf(text, 'pkg_app_hits_total')], [43, 43]);
    } finally {
      await scraper.shutdown();
    }
  });
});

/** The exposition's families, each block exact, in name order (the order of families is not the point here). */
function families(lines: readonly string[]): string[] {
  return lines.join('\n').trim().split('\n\n').sort();
}

function listFiles(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? listFiles(join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`]));
}
