// `npm run demo` as a newcomer runs it: it must end by itself, quickly, with totals that match.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { freePort } from '../helpers/ports.js';
import { runNode } from '../helpers/processes.js';
import { withDeadline } from '../helpers/reaper.js';

const DEMO = fileURLToPath(new URL('../../examples/demo.js', import.meta.url));

/** Runs the demo to its end within 30 s; its stdout lines and exit code. */
async function runDemo(env: Record<string, string>): Promise<{ code: number | null; lines: readonly string[] }> {
  const demo = runNode(DEMO, { env });
  const status = await withDeadline(demo.exited, 30_000, () => `the demo did not end within 30 s:\n${demo.stdoutLines.join('\n')}\n${demo.stderr()}`)
    .catch(async (error: Error) => {
      await demo.kill('SIGKILL');
      throw error;
    });
  return { code: status.code, lines: demo.stdoutLines };
}

/** The numbers the demo printed: per-worker counts, their sum, the merged total, the requests sent. */
function totals(lines: readonly string[]) {
  const perWorker = lines.map((l) => /^ {2}worker (\d) +(\d+)$/.exec(l)).filter((m) => m !== null).map((m) => Number(m[2]));
  const sumLine = lines.map((l) => /^ {2}sum +(\d+)$/.exec(l)).find((m) => m !== null);
  const merged = lines.map((l) => /^Cluster-wide http_requests_total \(summed in Redis\): +(\d+) +requests sent: (\d+)$/.exec(l)).find((m) => m !== null);
  return { perWorker, sum: Number(sumLine?.[1]), merged: Number(merged?.[1]), sent: Number(merged?.[2]) };
}

describe('npm run demo', () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.stop();
  });

  it('with REDIS_URL: 4 workers, the printed totals match, and it leaves no key behind', async () => {
    const { code, lines } = await runDemo({ REDIS_URL: redis.url });
    assert.equal(code, 0, lines.join('\n'));
    assert.equal(lines[0], `Redis: ${redis.url} (REDIS_URL)`);
    const t = totals(lines);
    assert.equal(t.perWorker.length, 4);
    assert.equal(t.perWorker.reduce((a, b) => a + b, 0), 2000);
    assert.deepEqual([t.sum, t.merged, t.sent], [2000, 2000, 2000]);
    assert.ok(lines.includes('OK: the merged total equals the requests sent.'));
    assert.equal(await redis.cli('DBSIZE'), '0');
  });

  it('with nothing at REDIS_URL: starts a private redis-server, and stops it after', async () => {
    const dead = await freePort();
    const { code, lines } = await runDemo({ REDIS_URL: `redis://127.0.0.1:${dead}` });
    assert.equal(code, 0, lines.join('\n'));
    const [, port] = /^Redis: private redis-server on 127\.0\.0\.1:(\d+) \(REDIS_URL did not answer\)$/.exec(lines[0] ?? '') ?? [];
    assert.ok(port, lines[0]);
    assert.deepEqual([totals(lines).merged, totals(lines).sent], [2000, 2000]);
    const refused = await new Promise<string>((resolve) => connect(Number(port), '127.0.0.1').once('connect', () => resolve('connected')).once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error')));
    assert.equal(refused, 'ECONNREFUSED');
  });

  it('with no Redis to be had: says exactly how to get one', async () => {
    const dead = await freePort();
    const { code, lines } = await runDemo({ REDIS_URL: `redis://127.0.0.1:${dead}`, PATH: '/nonexistent' });
    assert.equal(code, 1);
    assert.deepEqual(lines, [
      'No Redis: REDIS_URL did not answer, and no redis-server could be started (is it on PATH?). Get one, then run npm run demo again:',
      '  Debian/Ubuntu:  sudo apt-get install redis-server      (it listens on localhost:6379)',
      '  macOS:          brew install redis && brew services start redis',
      '  Docker:         docker run --rm -p 6379:6379 redis:7',
      '  Elsewhere:      REDIS_URL=redis://user:password@host:port npm run demo',
    ]);
  });
});
