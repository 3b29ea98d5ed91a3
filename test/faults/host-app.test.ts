// A real host app (test/fixtures/host-app.ts) started with each configuration or Redis fault: it
// must keep answering its own requests, report the error, and exit normally on SIGTERM. Nothing
// of the library may escape into it as an uncaught exception or an unhandled rejection, which
// would end it with another exit code and a stack trace on stderr.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { startRedis, newPrefix, type RedisServer } from '../helpers/redis-server.js';
import { startTlsRedis, type TlsRedisServer } from '../helpers/tls.js';
import { runNode } from '../helpers/processes.js';
import { pollUntil, withDeadline } from '../helpers/reaper.js';
import { get } from '../e2e/support/load.js';

const APP = fileURLToPath(new URL('../fixtures/host-app.js', import.meta.url));

interface Outcome {
  /** The app's answers to GET /a, then GET /metrics: `status body`. */
  answers: string[];
  /** What the app printed after shutdown: the library's state and lastError. */
  exit: unknown;
  status: { code: number | null; signal: NodeJS.Signals | null };
  /** [level, msg] of every line the library wrote to stderr; anything that is not one of its JSON lines is kept whole. */
  stderr: Array<[string, string] | string>;
}

/**
 * Runs the app with `env`, waits until its /metrics gives the reason `reason` (when given: the
 * error arrives some milliseconds after start), asks it for /a and /metrics, then SIGTERMs it.
 */
async function runApp(env: Record<string, string>, reason?: string, beforeRequests?: (url: string) => Promise<void>): Promise<Outcome> {
  const app = runNode(APP, { env: { REDIS_ENABLED: 'true', REDIS_FLUSH_INTERVAL_MS: '100', REDIS_SHUTDOWN_TIMEOUT_MS: '300', ...env } });
  const [, port] = await app.waitForLine(/^listening (\d+)$/);
  const url = `http://127.0.0.1:${port}`;
  await beforeRequests?.(url);
  if (reason !== undefined) {
    await pollUntil(`the app's /metrics to say ${reason}`, async () => ((await get(`${url}/metrics`)).body.includes(reason) ? true : undefined), { timeoutMs: 10_000, intervalMs: 20 });
  }
  const answers: string[] = [];
  for (const path of ['/a', '/metrics']) {
    const r = await get(`${url}${path}`);
    answers.push(`${r.status} ${r.body}`);
  }
  const status = await withDeadline(app.kill('SIGTERM'), 10_000, () => `the app did not exit after SIGTERM:\n${app.stderr()}`);
  const exitLine = app.stdoutLines.find((l) => l.startsWith('exit '));
  const stderr = app.stderr().split('\n').filter(Boolean).map((line): [string, string] | string => {
    try {
      const { level, msg } = JSON.parse(line) as { level: string; msg: string };
      return [level, msg];
    } catch {
      return line;
    }
  });
  return { answers, exit: exitLine === undefined ? undefined : JSON.parse(exitLine.slice(5)), status, stderr };
}

const NORMAL_EXIT = { code: 0, signal: null };

/**
 * What the app shows under a Redis fault: its own page, a 503 from its /metrics naming the reason
 * (the connection's status word changes as ioredis retries), the reason as lastError, and the
 * library's warnings: the reason once, then the final flush that could not be made.
 */
function assertFault(outcome: Outcome, code: string, message: string, finalFlush: string): void {
  const { answers, ...rest } = outcome;
  assert.equal(answers.length, 2);
  assert.equal(answers[0], '200 hello /a\n');
  const escaped = message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  assert.match(answers[1]!, new RegExp(`^503 collect: Redis is not connected \\(status (end|reconnecting|connecting|connect)\\): ${escaped}\\n$`));
  assert.deepEqual(rest, {
    exit: { connected: false, lastError: { code, message } },
    status: NORMAL_EXIT,
    stderr: [['warn', `prom-client-redis: ${message}`], ['warn', `prom-client-redis: ${finalFlush}`]],
  });
}

const NOT_DONE = 'final flush not done within shutdownTimeoutMs (300 ms): the updates not flushed are lost';

describe('a host app under configuration and Redis faults keeps serving and exits normally', { concurrency: true }, () => {
  let redis: RedisServer;
  let passwordRedis: RedisServer;
  let tlsRedis: TlsRedisServer;
  const prefix = newPrefix('host-app');

  before(async () => {
    [redis, passwordRedis, tlsRedis] = await Promise.all([
      startRedis(),
      startRedis({ args: ['--requirepass', 'right'], password: 'right' }),
      startTlsRedis({ authClients: 'no' }),
    ]);
  });

  after(async () => {
    await Promise.all([redis?.stop(), passwordRedis?.stop(), tlsRedis?.stop()]);
  });

  it('a REDIS_URL whose database is not a number: refused at start, naming REDIS_URL; the metrics stay in the process', async () => {
    const outcome = await runApp({ REDIS_URL: `redis://:hunter2@127.0.0.1:${redis.port}/notanumber`, REDIS_KEY_PREFIX: prefix });
    const message = `Invalid environment variable REDIS_URL: expected the path to be a database number from 0 to 1000000 (redis://host:6379/0), got \`notanumber\` in \`redis://:***@127.0.0.1:${redis.port}/notanumber\``;
    assert.deepEqual(outcome, {
      answers: [
        '200 hello /a\n',
        '200 # HELP app_requests_total Requests.\n# TYPE app_requests_total counter\napp_requests_total{path="/a"} 1\napp_requests_total{path="/metrics"} 1\n',
      ],
      exit: { connected: false, lastError: { code: 'ERR_PCR_CONFIG', message } },
      status: NORMAL_EXIT,
      stderr: [['warn', `prom-client-redis: ${message}; Redis is not used: the metrics stay in this process`]],
    });
  });

  it('a database the server lacks (REDIS_DB=99 of 16): reported at once, and nothing written to database 0', async () => {
    const message = 'Redis refused SELECT 99 (ERR DB index is out of range): the server has fewer databases (its `databases` setting, 16 by default); check REDIS_DB (db) or the database in REDIS_URL. Not connected, so that nothing is written to database 0';
    const outcome = await runApp({ REDIS_URL: redis.url, REDIS_DB: '99', REDIS_KEY_PREFIX: prefix }, 'SELECT 99');
    assertFault(outcome, 'ERR_PCR_CONFIG', message, `final flush failed: ${message}`);
    assert.equal(outcome.answers[1]!.startsWith('503 collect: Redis is not connected (status end)'), true);
    assert.equal(await redis.cli('DBSIZE'), '0');
  });

  it('wrong credentials', async () => {
    const message = 'Redis refused the credentials of user `default` (WRONGPASS invalid username-password pair or user is disabled.): check REDIS_USERNAME and REDIS_PASSWORD (username, password)';
    const outcome = await runApp({ REDIS_HOST: '127.0.0.1', REDIS_PORT: String(passwordRedis.port), REDIS_PASSWORD: 'wrong', REDIS_KEY_PREFIX: prefix }, 'WRONGPASS');
    assertFault(outcome, 'ERR_PCR_AUTH', message, `final flush failed: ${message}`);
  });

  it('TLS: a server certificate the CA did not sign', async () => {
    const ca = tlsRedis.certs.otherCaCertFile;
    const message = `TLS: the Redis server's certificate was not accepted (SELF_SIGNED_CERT_IN_CHAIN: self-signed certificate in certificate chain): check REDIS_SSL_CA (sslCaFile, now \`${ca}\`); it must name the CA that signed the server certificate. REDIS_SSL_VERIFY=false turns verification off (not for production)`;
    const outcome = await runApp({ REDIS_URL: tlsRedis.url, REDIS_SSL_CA: ca, REDIS_KEY_PREFIX: prefix }, 'TLS:');
    assertFault(outcome, 'ERR_PCR_TLS', message, `final flush failed: ${message}`);
  });

  it('TLS to a plaintext Redis: named as such, not as a missing client certificate', async () => {
    const message = 'TLS: no TLS handshake with the Redis server within the connect timeout (connect ETIMEDOUT): either it is not reachable, or it does not speak TLS on this port (a plaintext Redis never answers a handshake): check the port, or connect without TLS (unset REDIS_SSL, use a redis:// URL)';
    // The handshake hangs until the connect timeout: the larger of the flush and collect timeouts.
    const outcome = await runApp({ REDIS_URL: `rediss://127.0.0.1:${redis.port}`, REDIS_FLUSH_TIMEOUT_MS: '300', REDIS_COLLECT_TIMEOUT_MS: '300', REDIS_KEY_PREFIX: prefix }, 'TLS:');
    assertFault(outcome, 'ERR_PCR_REDIS', message, NOT_DONE);
  });

  it('REDIS_SSL=true to a plaintext Redis (host and port): named as such, not as a missing client certificate', async () => {
    const message = 'TLS: no TLS handshake with the Redis server within the connect timeout (connect ETIMEDOUT): either it is not reachable, or it does not speak TLS on this port (a plaintext Redis never answers a handshake): check the port, or connect without TLS (unset REDIS_SSL, use a redis:// URL)';
    const outcome = await runApp({ REDIS_HOST: '127.0.0.1', REDIS_PORT: String(redis.port), REDIS_SSL: 'true', REDIS_FLUSH_TIMEOUT_MS: '300', REDIS_COLLECT_TIMEOUT_MS: '300', REDIS_KEY_PREFIX: prefix }, 'TLS:');
    assertFault(outcome, 'ERR_PCR_REDIS', message, NOT_DONE);
  });

  it('plaintext to a TLS-only Redis', async () => {
    const message = 'The Redis server closed the connection before it ever answered (ECONNRESET): it stopped, or it speaks only TLS on this port (then set REDIS_SSL=true or use a rediss:// URL)';
    const outcome = await runApp({ REDIS_URL: `redis://127.0.0.1:${tlsRedis.port}`, REDIS_KEY_PREFIX: prefix }, 'ECONNRESET');
    assertFault(outcome, 'ERR_PCR_REDIS', message, NOT_DONE);
  });

  it('Redis killed while the app connects', async () => {
    const victim = await startRedis();
    // Frozen, the server's kernel accepts the connection but nothing answers: the app is mid
    // start-up (connected, waiting for its ready check) when the server dies.
    victim.freeze();
    const message = 'The Redis server closed the connection before it ever answered (ECONNRESET): it stopped, or it speaks only TLS on this port (then set REDIS_SSL=true or use a rediss:// URL)';
    const outcome = await runApp({ REDIS_URL: victim.url, REDIS_KEY_PREFIX: prefix }, 'ECONNRESET', async (url) => {
      await pollUntil('the app to be connected, not ready', async () => ((await get(`${url}/redis-status`)).body === 'connect\n' ? true : undefined), { timeoutMs: 5_000, intervalMs: 10 });
      await victim.kill();
    });
    assertFault(outcome, 'ERR_PCR_REDIS', message, NOT_DONE);
  });
});
