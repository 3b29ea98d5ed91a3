// The command line as a user meets it: help and version, mistakes named exactly (exit 2 with the
// command's usage), settings from the environment, and Redis down at start and at stop.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startRedis, newPrefix, type RedisServer } from '../helpers/redis-server.js';
import { runNode, type NodeChild } from '../helpers/processes.js';
import { keepAlive, withDeadline } from '../helpers/reaper.js';
import { freePort, freePorts } from '../helpers/ports.js';
import { get, waitForLines } from './support/load.js';

const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
const APP = fileURLToPath(new URL('../../examples/app.js', import.meta.url));
const CRASHING_APP = fileURLToPath(new URL('../fixtures/crash-at-start.js', import.meta.url));
const SIGTERM_AT_FORK = fileURLToPath(new URL('../fixtures/sigterm-at-fork.js', import.meta.url));
const VERSION = (JSON.parse(readFileSync(fileURLToPath(new URL('../../../package.json', import.meta.url)), 'utf8')) as { version: string }).version;

const ENVIRONMENT = `Redis is configured by REDIS_URL or REDIS_HOST/REDIS_PORT/REDIS_DB/REDIS_PASSWORD, REDIS_KEY_PREFIX, ...
(see README.md). REDIS_DEBUG=true logs flushes, collects and reconnects as JSON lines on stderr.`;
const WEB_CONFIG = `      --web.config.file FILE (PROM_CLIENT_REDIS_WEB_CONFIG_FILE): TLS and basic auth of /metrics, in
      the web config format of Prometheus' exporters (README.md, Security).`;
const RUN = `  prom-client-redis run [--workers N] [--port P] [--bind ADDR] [--web.config.file FILE] app.js [app args...]
      Runs app.js in N node:cluster workers (--workers, else WEB_CONCURRENCY, else one per CPU;
      1 to 1024), instruments every HTTP server it creates, restarts crashed workers, and serves
      the cluster-wide /metrics on --port (PROMETHEUS_METRICS_PORT, 9092) at --bind
      (PROMETHEUS_BIND_ADDRESS, 0.0.0.0). The app listens on its own port. SIGTERM or SIGINT
      drains the workers, which make their final flushes.
${WEB_CONFIG}`;
const SERVE = `  prom-client-redis serve [--port P] [--bind ADDR] [--web.config.file FILE]
      Serves /metrics and /health from Redis alone (no app in this process) on --port
      (PROMETHEUS_METRICS_PORT, 9092) at --bind (PROMETHEUS_BIND_ADDRESS, 0.0.0.0).
${WEB_CONFIG}`;
const STATUS = `  prom-client-redis status
      Prints what Redis holds under REDIS_KEY_PREFIX and the figures the processes flushed.
      Reads only; answers within REDIS_COLLECT_TIMEOUT_MS.`;
const HELP = {
  run: `Usage:\n${RUN}\n\n${ENVIRONMENT}\n`,
  serve: `Usage:\n${SERVE}\n\n${ENVIRONMENT}\n`,
  status: `Usage:\n${STATUS}\n\n${ENVIRONMENT}\n`,
  all: `Usage:\n${RUN}\n${SERVE}\n${STATUS}\n  prom-client-redis --version\n\n${ENVIRONMENT}\n`,
};

async function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = runNode(CLI, { args, env });
  const { code } = await child.exited;
  return { code, stdout: child.stdoutLines.map((l) => `${l}\n`).join(''), stderr: child.stderr() };
}

/** The launcher's lines with pids and ports made stable. */
function launcherLines(lines: readonly string[]): string[] {
  return lines.filter((l) => l.startsWith('[prom-client-redis]')).map((l) => l.replace(/\(pid \d+\)/, '(pid N)').replace(/:\d+\/metrics/, ':P/metrics'));
}

describe('prom-client-redis command line: help, version and usage mistakes', () => {
  it('--version prints the package version', async () => {
    assert.deepEqual(await cli(['--version']), { code: 0, stdout: `${VERSION}\n`, stderr: '' });
    assert.deepEqual(await cli(['-v']), { code: 0, stdout: `${VERSION}\n`, stderr: '' });
  });

  it('--help of each command, and help COMMAND, print that command\'s usage and exit 0', async () => {
    for (const command of ['run', 'serve', 'status'] as const) {
      assert.deepEqual(await cli([command, '--help']), { code: 0, stdout: HELP[command], stderr: '' }, command);
      assert.deepEqual(await cli([command, '-h']), { code: 0, stdout: HELP[command], stderr: '' }, command);
      assert.deepEqual(await cli(['help', command]), { code: 0, stdout: HELP[command], stderr: '' }, command);
    }
    // run's --help comes before the app path; after it, --help is the app's.
    assert.deepEqual(await cli(['run', '--workers', '2', '--help', 'app.js']), { code: 0, stdout: HELP.run, stderr: '' });
    assert.deepEqual(await cli(['--help']), { code: 0, stdout: HELP.all, stderr: '' });
  });

  it('every usage mistake exits 2, names the flag or value, and prints the usage of its command', async () => {
    const missing = fileURLToPath(new URL('../../../no-such-app.js', import.meta.url));
    const cases: [string[], string, keyof typeof HELP][] = [
      [['run', '--wrokers', '2', APP], 'Unknown option `--wrokers` for `run`: did you mean `--workers`? expected --workers, --port, --bind, --web.config.file or --help', 'run'],
      [['serve', '--prot', '9100'], 'Unknown option `--prot` for `serve`: did you mean `--port`? expected --port, --bind, --web.config.file or --help', 'serve'],
      [['serve', '-x'], 'Unknown option `-x` for `serve`: expected --port, --bind, --web.config.file or --help', 'serve'],
      [['status', '--verbose'], 'Unknown option `--verbose` for `status`: it takes none but --help', 'status'],
      [['run', '--workers', 'four', APP], 'Expected --workers to be an integer from 1 to 1024, got `four`', 'run'],
      [['run', '--workers', '0', APP], 'Expected --workers to be an integer from 1 to 1024, got `0`', 'run'],
      [['run', '--workers', '99999', APP], 'Expected --workers to be an integer from 1 to 1024, got `99999`', 'run'],
      [['run', '--workers=1025', APP], 'Expected --workers to be an integer from 1 to 1024, got `1025`', 'run'],
      [['run', '--port', '99999', APP], 'Expected --port to be an integer from 0 to 65535, got `99999`', 'run'],
      [['serve', '--port', '99999'], 'Expected --port to be an integer from 0 to 65535, got `99999`', 'serve'],
      [['serve', '--port=-1'], 'Expected --port to be an integer from 0 to 65535, got `-1`', 'serve'],
      [['serve', '--port', '-1'], 'Option `--port` needs a value; for one that starts with a dash, write `--port=<value>`', 'serve'],
      [['serve', '--port'], 'Option `--port` needs a value', 'serve'],
      [['run', '-w'], 'Option `--workers` needs a value', 'run'],
      [['serve', '--help=yes'], 'Option `--help` takes no value', 'serve'],
      [['run', '--bind=', APP], 'Expected --bind to be an address, got an empty string', 'run'],
      [['serve', 'extra'], 'Unexpected argument `extra`: `serve` takes none', 'serve'],
      [['run', '--workers', '2'], 'Expected the path of the app script after the options', 'run'],
      [['run', missing], `Cannot find the app script \`${missing}\` (looked for ${missing})`, 'run'],
      [['frobnicate'], 'Unknown command `frobnicate`: expected run, serve, status or help', 'all'],
      [['--workers', '2'], 'Unknown option `--workers`: expected a command first (run, serve or status)', 'all'],
      [[], 'Expected a command: run, serve or status', 'all'],
    ];
    const results = await Promise.all(cases.map(([args]) => cli(args)));
    cases.forEach(([args, message, command], i) => {
      assert.deepEqual(results[i], { code: 2, stdout: '', stderr: `prom-client-redis: ${message} (ERR_PCR_CONFIG)\n\n${HELP[command]}` }, args.join(' '));
    });
  });

  it('names a bad environment variable and exits 1', async () => {
    assert.deepEqual(await cli(['run', APP], { WEB_CONCURRENCY: 'lots' }), {
      code: 1,
      stdout: '',
      stderr: 'prom-client-redis: Invalid environment variable WEB_CONCURRENCY: expected an integer from 1 to 1024, got `lots` (ERR_PCR_CONFIG)\n',
    });
  });

  it('a misspelt REDIS_ENABLED is refused by run, serve and status alike (serve and status are on whatever it says)', async () => {
    const stderr = 'prom-client-redis: Invalid environment variable REDIS_ENABLED: expected true or false (or 1/0, yes/no, on/off), got `enable` (string) (ERR_PCR_CONFIG)\n';
    for (const args of [['run', APP], ['serve'], ['status']]) {
      assert.deepEqual(await cli(args, { REDIS_ENABLED: 'enable' }), { code: 1, stdout: '', stderr }, args[0]);
    }
  });
});

describe('prom-client-redis run and serve', () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.stop();
  });

  it('run takes WEB_CONCURRENCY, PROMETHEUS_METRICS_PORT and PROMETHEUS_BIND_ADDRESS from the environment', async () => {
    const [appPort, metricsPort] = await freePorts(2);
    const launcher = runNode(CLI, {
      args: ['run', APP],
      env: { WEB_CONCURRENCY: '3', PROMETHEUS_METRICS_PORT: String(metricsPort), PROMETHEUS_BIND_ADDRESS: '127.0.0.1', PORT: String(appPort), REDIS_URL: redis.url, REDIS_KEY_PREFIX: newPrefix('cli') },
    });
    try {
      await waitForLines(launcher, /worker \d listening on/, 3);
      assert.equal(launcher.stdoutLines[0], `[prom-client-redis] metrics on http://127.0.0.1:${metricsPort}/metrics`);
      assert.deepEqual(launcher.stdoutLines.filter((l) => / started \(pid/.test(l)).map((l) => l.replace(/\(pid \d+\)/, '(pid N)')).sort(), [
        '[prom-client-redis] worker 1 started (pid N)',
        '[prom-client-redis] worker 2 started (pid N)',
        '[prom-client-redis] worker 3 started (pid N)',
      ]);
      assert.equal((await get(`http://127.0.0.1:${metricsPort}/health`)).status, 200);
    } finally {
      assert.deepEqual(await launcher.kill('SIGTERM'), { code: 0, signal: null });
    }
  });

  it('run with Redis turned off names the value the user wrote in its warning (0, off), not a normalised false', async () => {
    for (const value of ['0', 'off']) {
      const [appPort, metricsPort] = await freePorts(2);
      const launcher = runNode(CLI, { args: ['run', '--workers', '1', '--port', String(metricsPort), '--bind', '127.0.0.1', APP], env: { PORT: String(appPort), REDIS_ENABLED: value } });
      try {
        await waitForLines(launcher, /worker \d listening on/, 1);
        assert.deepEqual(launcher.stdoutLines.filter((l) => /Redis is off/.test(l)), [
          `[prom-client-redis] warning: Redis is off (REDIS_ENABLED=${value}): /metrics shows the primary only, not the workers`,
        ]);
      } finally {
        assert.deepEqual(await launcher.kill('SIGTERM'), { code: 0, signal: null });
      }
    }
  });

  it('a SIGTERM during start-up stops the forking at once: the workers forked so far are drained, no more', async () => {
    const appPort = await freePort();
    const launcher = runNode(SIGTERM_AT_FORK, {
      args: ['run', '--workers', '40', '--port', '0', '--bind', '127.0.0.1', APP],
      env: { PORT: String(appPort), REDIS_URL: redis.url, REDIS_KEY_PREFIX: newPrefix('cli-fork') },
    });
    assert.deepEqual(await launcher.exited, { code: 0, signal: null });
    assert.equal(launcher.stdoutLines.at(-1), 'forks: 3');
    assert.deepEqual(launcherLines(launcher.stdoutLines).filter((l) => /stopping|stopped/.test(l)), [
      '[prom-client-redis] stopping: draining 3 workers',
      '[prom-client-redis] stopped',
    ]);
  });

  it('an app that fails before it listens is tried 3 times, its error shown once, and run exits 1', async () => {
    const launcher = runNode(CLI, {
      args: ['run', '--workers', '1', '--port', '0', '--bind', '127.0.0.1', CRASHING_APP],
      env: { REDIS_URL: redis.url, REDIS_KEY_PREFIX: newPrefix('cli-crash') },
    });
    assert.deepEqual(await launcher.exited, { code: 1, signal: null });
    assert.deepEqual(launcherLines(launcher.stdoutLines), [
      '[prom-client-redis] metrics on http://127.0.0.1:P/metrics',
      '[prom-client-redis] worker 1 started (pid N)',
      '[prom-client-redis] worker 1 exited before it listened (code 1); try 2 of 3 in 100 ms',
      '[prom-client-redis] worker 1 started (pid N)',
      '[prom-client-redis] worker 1 exited before it listened again, as shown above (code 1); try 3 of 3 in 200 ms',
      '[prom-client-redis] worker 1 started (pid N)',
      '[prom-client-redis] worker 1 exited before it listened again, as shown above (code 1), 3 times in a row: giving up, the app does not start',
      '[prom-client-redis] stopping: draining 0 workers',
      '[prom-client-redis] stopped',
    ]);
    assert.equal(launcher.stderr().split('\n').filter((l) => l === 'Error: boom at start').length, 1, launcher.stderr());
  });

  it('with several workers, the same start-up error of all of them is shown once too', async () => {
    const launcher = runNode(CLI, {
      args: ['run', '--workers', '3', '--port', '0', '--bind', '127.0.0.1', CRASHING_APP],
      env: { REDIS_URL: redis.url, REDIS_KEY_PREFIX: newPrefix('cli-crash3') },
    });
    assert.deepEqual(await launcher.exited, { code: 1, signal: null });
    assert.equal(launcher.stderr().split('\n').filter((l) => l === 'Error: boom at start').length, 1, launcher.stderr());
    assert.equal(launcher.stdoutLines.filter((l) => / giving up, the app does not start$/.test(l)).length, 1);
  });

  it('Redis unreachable: run says so in one line at once, and stops in under a second with nothing pending, warning of nothing', async () => {
    const [appPort, deadPort] = await freePorts(2);
    const launcher = runNode(CLI, {
      args: ['run', '--workers', '2', '--port', '0', '--bind', '127.0.0.1', APP],
      env: { PORT: String(appPort), REDIS_URL: `redis://127.0.0.1:${deadPort}` },
    });
    const { input: warning } = await launcher.waitForLine(/warning: Redis/, 3_000);
    assert.equal(warning, `[prom-client-redis] warning: Redis at redis://127.0.0.1:${deadPort} is not reachable (connect ECONNREFUSED 127.0.0.1:${deadPort}): the workers keep their metrics and flush them once it answers`);
    await waitForLines(launcher, /worker \d listening on/, 2);
    const started = performance.now();
    assert.deepEqual(await launcher.kill('SIGTERM'), { code: 0, signal: null });
    const stopMs = performance.now() - started;
    assert.ok(stopMs < 1_000, `stopping took ${stopMs.toFixed(0)} ms`);
    assert.equal(launcher.stdoutLines.filter((l) => /Redis/.test(l)).length, 1);
    assert.equal(launcher.stderr(), '');
  });

  it('Redis unreachable with a request counted: the stop warns that its update is lost, once, after REDIS_SHUTDOWN_TIMEOUT_MS', async () => {
    const [appPort, deadPort] = await freePorts(2);
    const launcher = runNode(CLI, {
      args: ['run', '--workers', '1', '--port', '0', '--bind', '127.0.0.1', APP],
      env: { PORT: String(appPort), REDIS_URL: `redis://127.0.0.1:${deadPort}`, REDIS_SHUTDOWN_TIMEOUT_MS: '300' },
    });
    await waitForLines(launcher, /worker 1 listening on/, 1);
    assert.equal((await get(`http://127.0.0.1:${appPort}/hello`)).body, 'hello from worker 1\n');
    assert.deepEqual(await launcher.kill('SIGTERM'), { code: 0, signal: null });
    assert.deepEqual(launcher.stderr().split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { msg: string }).msg), [
      'prom-client-redis: final flush not done within shutdownTimeoutMs (300 ms): the updates not flushed are lost',
    ]);
  });

  it('Redis unreachable: serve says so in one line at once and stops in under a second', async () => {
    const deadPort = await freePort();
    const server = runNode(CLI, { args: ['serve', '--port', '0', '--bind', '127.0.0.1'], env: { REDIS_URL: `redis://127.0.0.1:${deadPort}` } });
    await server.waitForLine(/exporter: metrics on/, 3_000);
    await stderrMatching(server, /not reachable/);
    const started = performance.now();
    assert.deepEqual(await server.kill('SIGTERM'), { code: 0, signal: null });
    const stopMs = performance.now() - started;
    assert.ok(stopMs < 1_000, `stopping took ${stopMs.toFixed(0)} ms`);
    assert.equal(server.stderr(), `prom-client-redis: Redis at redis://127.0.0.1:${deadPort} is not reachable (connect ECONNREFUSED 127.0.0.1:${deadPort}): serving 503 on /metrics until it answers\n`);
  });
});

describe('prom-client-redis status', () => {
  let redis: RedisServer;
  let silent: Server;
  before(async () => {
    redis = await startRedis();
    // Accepts connections and never answers: a frozen Redis.
    silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  });
  after(async () => {
    await redis?.stop();
    silent?.close();
  });

  it('Redis down: answers DOWN at once, exit 1, and warns of no flush', async () => {
    const deadPort = await freePort();
    const result = await cli(['status'], { REDIS_URL: `redis://127.0.0.1:${deadPort}`, REDIS_KEY_PREFIX: 'app' });
    assert.deepEqual(result, {
      code: 1,
      stdout: `redis          redis://127.0.0.1:${deadPort}, key prefix "app"\nconnection     DOWN: connect ECONNREFUSED 127.0.0.1:${deadPort}\n`,
      stderr: '',
    });
  });

  it('Redis silent: answers within REDIS_COLLECT_TIMEOUT_MS', async () => {
    const { port } = silent.address() as { port: number };
    const started = performance.now();
    const result = await cli(['status'], { REDIS_URL: `redis://127.0.0.1:${port}`, REDIS_KEY_PREFIX: 'app', REDIS_COLLECT_TIMEOUT_MS: '1500' });
    const tookMs = performance.now() - started;
    assert.deepEqual(result, {
      code: 1,
      stdout: `redis          redis://127.0.0.1:${port}, key prefix "app"\nconnection     no answer within 1500 ms (REDIS_COLLECT_TIMEOUT_MS)\n`,
      stderr: '',
    });
    // The timeout, plus Node's start-up (slow on a loaded machine); it took 10 s before.
    assert.ok(tookMs >= 1_500 && tookMs < 4_000, `status took ${tookMs.toFixed(0)} ms`);
  });

  it('reads only: no key under the prefix changes, and no command that writes is sent', async () => {
    const prefix = newPrefix('cli-status');
    const writer = runNode(fileURLToPath(new URL('../fixtures/writer.js', import.meta.url)), { env: { WRITER_INDEX: '1', TEST_REDIS_URL: redis.url, TEST_PREFIX: prefix } });
    await writer.waitForLine(/^flushed$/);
    assert.deepEqual(await writer.kill('SIGTERM'), { code: 0, signal: null });
    const before = await snapshot(redis, prefix);
    await redis.cli('CONFIG', 'RESETSTAT');
    const result = await cli(['status'], { REDIS_URL: redis.url, REDIS_KEY_PREFIX: prefix });
    const called = await commandsCalled(redis);
    assert.deepEqual(await snapshot(redis, prefix), before);
    // Commands a Lua script runs count in commandstats too: a write inside the read script would show.
    const writes: string[] = [];
    for (const name of called) if (await isWriteCommand(redis, name)) writes.push(name);
    assert.deepEqual(writes, []);
    assert.ok(called.includes('hgetall') && called.includes('evalsha'), called.join(' '));
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, '');
    const lines = result.stdout.split('\n');
    assert.equal(lines[0], `redis          ${redis.url}, key prefix "${prefix}"`);
    assert.match(lines[1]!, /^connection     up \(usage read in \d+\.\d ms\)$/);
    assert.deepEqual(lines.slice(2, 4), [`families       ${before.families}`, 'processes      1 known, 0 live']);
    assert.deepEqual(lines.filter((l) => /^(flush errors|series pending|series dropped) /.test(l)), ['flush errors   none', 'series pending 0', 'series dropped 0']);
  });
});

/** Every key under the prefix with its serialized value (DUMP): equal snapshots mean nothing was written. */
async function snapshot(redis: RedisServer, prefix: string): Promise<{ families: number; keys: Record<string, string> }> {
  const names = (await redis.cli('--scan', '--pattern', `${prefix}:*`)).split('\n').filter(Boolean).sort();
  const keys: Record<string, string> = {};
  for (const name of names) keys[name] = await redis.cli('--no-raw', 'DUMP', name);
  return { families: Number(await redis.cli('HLEN', `${prefix}:families`)), keys };
}

async function commandsCalled(redis: RedisServer): Promise<string[]> {
  const info = await redis.cli('INFO', 'commandstats');
  return [...info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)].map((m) => m[1]!).filter((name) => !['info', 'config|resetstat'].includes(name));
}

async function isWriteCommand(redis: RedisServer, name: string): Promise<boolean> {
  const [command] = name.split('|');
  return /\bwrite\b/.test(await redis.cli('COMMAND', 'INFO', command!));
}

/** Resolves once the child's stderr matches (on its 'data' events), within `timeoutMs`. */
function stderrMatching(node: NodeChild, pattern: RegExp, timeoutMs = 3_000): Promise<void> {
  const matched = new Promise<void>((resolve) => {
    // The helper's own listener came first: stderr() already holds the chunk.
    const check = (): void => {
      if (!pattern.test(node.stderr())) return;
      node.child.stderr!.off('data', check);
      resolve();
    };
    node.child.stderr!.on('data', check);
    check();
  });
  return keepAlive(withDeadline(matched, timeoutMs, () => `stderr never matched ${pattern}: ${node.stderr()}`));
}
