// Every example runs as it is, importing the package by its name (Node's self-reference through
// `exports`), and prints the output its header comment promises.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startRedis, newPrefix, type RedisServer } from '../helpers/redis-server.js';
import { runNode } from '../helpers/processes.js';
import { freePorts } from '../helpers/ports.js';

const EXAMPLES = new URL('../../../examples/', import.meta.url);

/** The lines of the "Expected output" block of an example's header comment. */
function expectedOutput(name: string): string[] {
  const lines = readFileSync(new URL(`${name}.ts`, EXAMPLES), 'utf8').split('\n');
  const start = lines.findIndex((l) => /^\/\/ Expected output/.test(l));
  assert.notEqual(start, -1, `${name}.ts has no Expected output block`);
  const block: string[] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('//')) break;
    if (line === '//' && block.at(-1) === '') break;
    block.push(line.replace(/^\/\/ {0,3}/, ''));
  }
  while (block.at(-1) === '') block.pop();
  return block;
}

async function runExample(name: string, env: Record<string, string>): Promise<string[]> {
  const child = runNode(fileURLToPath(new URL(`../../examples/${name}.js`, import.meta.url)), { env });
  assert.deepEqual(await child.exited, { code: 0, signal: null }, child.stderr());
  assert.equal(child.stderr(), '');
  return [...child.stdoutLines];
}

describe('examples', () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.stop();
  });

  for (const name of ['library', 'http', 'express', 'fastify']) {
    it(`${name}.ts prints its expected output`, async () => {
      const lines = await runExample(name, { REDIS_URL: redis.url, REDIS_KEY_PREFIX: newPrefix(`example-${name}`) });
      assert.deepEqual(lines, expectedOutput(name));
    });
  }

  it('exporter.ts prints its expected output (on the port given)', async () => {
    const [port] = await freePorts(1);
    const lines = await runExample('exporter', { REDIS_URL: redis.url, REDIS_KEY_PREFIX: newPrefix('example-exporter'), PROMETHEUS_METRICS_PORT: String(port) });
    assert.deepEqual(lines, expectedOutput('exporter').map((l) => l.replace('127.0.0.1:9092', `127.0.0.1:${port}`)));
  });

  it('bridge.ts prints its expected output (with this process\'s pid label)', async () => {
    const lines = await runExample('bridge', { REDIS_URL: redis.url, REDIS_KEY_PREFIX: newPrefix('example-bridge') });
    const pid = /pid="([^"]+)"/.exec(lines[1] ?? '')?.[1];
    assert.match(pid ?? '', /^[^:]+:\d+:[0-9a-f]{8}$/);
    assert.deepEqual(lines, expectedOutput('bridge').map((l) => l.replace('myhost:41250:1a2b3c4d', pid!)));
  });

  it('launcher.ts runs two workers and prints the cluster-wide total of its 10 requests', async () => {
    const [appPort, metricsPort] = await freePorts(2);
    const lines = await runExample('launcher', { REDIS_URL: redis.url, REDIS_KEY_PREFIX: newPrefix('example-launcher'), PORT: String(appPort), PROMETHEUS_METRICS_PORT: String(metricsPort) });
    const stable = (l: string): string => l.replace(/\(pid \d+\)/, '(pid N)').replace(/\b(3000|9092)\b/, (p) => String(p === '3000' ? appPort : metricsPort));
    // The two workers' lines interleave: compare as sets, then the order of the last three.
    assert.deepEqual(lines.map(stable).sort(), expectedOutput('launcher').map(stable).sort());
    assert.deepEqual(lines.slice(-3), expectedOutput('launcher').slice(-3));
  });
});
