// The command line as a user meets it: settings from the environment, and mistakes named exactly.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { startRedis, newPrefix, type RedisServer } from '../helpers/redis-server.js';
import { runNode } from '../helpers/processes.js';
import { freePorts } from '../helpers/ports.js';
import { get, waitForLines } from './support/load.js';

const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
const APP = fileURLToPath(new URL('../../examples/app.js', import.meta.url));

async function fails(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stderr: string }> {
  const child = runNode(CLI, { args, env });
  const { code } = await child.exited;
  return { code, stderr: child.stderr() };
}

describe('prom-client-redis command line', () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.stop();
  });

  it('names a bad environment variable and exits 1', async () => {
    assert.deepEqual(await fails(['run', APP], { WEB_CONCURRENCY: 'lots' }), {
      code: 1,
      stderr: 'prom-client-redis: Invalid environment variable WEB_CONCURRENCY: expected an integer from 1 to 1024, got `lots` (ERR_PCR_CONFIG)\n',
    });
  });

  it('exits 2 with the usage on a usage mistake', async () => {
    const noApp = await fails(['run', '--workers', '2']);
    assert.equal(noApp.code, 2);
    assert.match(noApp.stderr, /^prom-client-redis: Expected the path of the app script: prom-client-redis run \[--workers N\] app\.js \(ERR_PCR_CONFIG\)\n\nUsage:\n/);
    const unknown = await fails(['frobnicate']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /^prom-client-redis: Unknown command `frobnicate`: expected run, serve, status or help \(ERR_PCR_CONFIG\)\n/);
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
});
