// The web config file end to end: a real Prometheus scrapes the exporter over mutual TLS with
// basic auth (right password, wrong password, no client certificate), the launcher serves its
// /metrics the same way, and a bad file stops `serve` and `run` at start, naming the file and key.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import bcrypt from 'bcryptjs';
import { startRedis, newPrefix, type RedisServer } from '../helpers/redis-server.js';
import { runNode, type NodeChild } from '../helpers/processes.js';
import { freePorts } from '../helpers/ports.js';
import { makeTempDir, pollUntil } from '../helpers/reaper.js';
import { makeCertificates, type Certificates } from '../helpers/tls.js';
import { Counter, RedisStorageManager } from '../../src/index.js';
import { startPrometheus, type PrometheusServer } from './support/prometheus.js';
import { waitForLines } from './support/load.js';

const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
const APP = fileURLToPath(new URL('../../examples/app.js', import.meta.url));
const PASSWORD = 'scrape-me:42';

/** GET over mutual TLS with basic auth: `status body`. */
function get(url: string, certs: Certificates, auth?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      agent: false, ca: readFileSync(certs.caCertFile), cert: readFileSync(certs.clientCertFile), key: readFileSync(certs.clientKeyFile),
      headers: auth === undefined ? {} : { Authorization: `Basic ${Buffer.from(auth).toString('base64')}` },
    }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => resolve(`${res.statusCode} ${body}`));
    });
    req.on('error', reject).end();
  });
}

describe('web config file: Prometheus over mutual TLS and basic auth', () => {
  let redis: RedisServer;
  let certs: Certificates;
  let webConfig: string;
  let env: Record<string, string>;
  let exporter: NodeChild;
  let prometheus: PrometheusServer;
  let metricsPort: number;
  let appPort: number;
  let launcherPort: number;
  const prefix = newPrefix('web-config');

  before(async () => {
    [redis, certs] = await Promise.all([startRedis(), makeCertificates()]);
    const dir = makeTempDir('web-config-e2e');
    webConfig = join(dir, 'web.yml');
    writeFileSync(webConfig, [
      'tls_server_config:',
      `  cert_file: ${certs.serverCertFile}`,
      `  key_file: ${certs.serverKeyFile}`,
      '  client_auth_type: RequireAndVerifyClientCert',
      `  client_ca_file: ${certs.caCertFile}`,
      'basic_auth_users:',
      `  prometheus: ${bcrypt.hashSync(PASSWORD, 4)}`,
      '',
    ].join('\n'));
    env = { REDIS_URL: redis.url, REDIS_KEY_PREFIX: prefix, REDIS_FLUSH_INTERVAL_MS: '100' };
    const writer = new RedisStorageManager({ enabled: true, url: redis.url, keyPrefix: prefix, identity: { host: 'app', pid: 1, nonce: 'n' } });
    new Counter({ name: 'jobs_total', help: 'Jobs done.', labelNames: ['kind'], storage: writer, registers: [] }).inc({ kind: 'a' }, 7);
    await writer.waitUntilConnected(5000);
    await writer.shutdown();

    [metricsPort, appPort, launcherPort] = (await freePorts(3)) as [number, number, number];
    exporter = runNode(CLI, { args: ['serve', '--web.config.file', webConfig], env: { ...env, PROMETHEUS_METRICS_PORT: String(metricsPort), PROMETHEUS_BIND_ADDRESS: '127.0.0.1' } });
    await waitForLines(exporter, /exporter: metrics on/, 1);
  });

  after(async () => {
    await prometheus?.stop();
    await exporter?.kill('SIGKILL');
    await redis?.stop();
  });

  it('announces https, and a scrape with the certificate and the password gets the totals', async () => {
    assert.equal(exporter.stdoutLines[0], `[prom-client-redis] exporter: metrics on https://127.0.0.1:${metricsPort}/metrics, health on https://127.0.0.1:${metricsPort}/health`);
    assert.match(await get(`https://127.0.0.1:${metricsPort}/metrics`, certs, `prometheus:${PASSWORD}`), /^200 [^]*\njobs_total\{kind="a"\} 7\n/);
    assert.equal(await get(`https://127.0.0.1:${metricsPort}/health`, certs), '401 Unauthorized\n');
  });

  it('Prometheus: up = 1 and the exact total with tls_config and basic_auth; up = 0 with a wrong password or no client certificate', async () => {
    const target = `127.0.0.1:${metricsPort}`;
    const job = (name: string, tls: string, password: string) =>
      `- job_name: ${name}\n  scheme: https\n  tls_config:\n${tls}\n  basic_auth:\n    username: prometheus\n    password: '${password}'\n  static_configs:\n    - targets: ['${target}']`;
    const ca = `    ca_file: ${certs.caCertFile}`;
    const clientCert = `${ca}\n    cert_file: ${certs.clientCertFile}\n    key_file: ${certs.clientKeyFile}`;
    prometheus = await startPrometheus([], 1, [job('good', clientCert, PASSWORD), job('wrong-password', clientCert, 'guess'), job('no-client-cert', ca, PASSWORD)]);
    const ups = async () => Object.fromEntries((await prometheus.query('up')).map((r) => [r.metric.job, r.value]));
    await pollUntil('a scrape of each job', async () => (Object.keys(await ups()).length === 3 ? true : undefined), { timeoutMs: 15_000, intervalMs: 200 });
    assert.deepEqual(await ups(), { good: 1, 'wrong-password': 0, 'no-client-cert': 0 });
    assert.deepEqual(await prometheus.query('jobs_total'), [
      { metric: { __name__: 'jobs_total', instance: target, job: 'good', kind: 'a' }, value: 7 },
    ]);
  });

  it('the launcher serves its /metrics with the same file', async () => {
    const launcher = runNode(CLI, {
      args: ['run', '--workers', '1', '--port', String(launcherPort), '--bind', '127.0.0.1', '--web.config.file', webConfig, APP],
      env: { ...env, PORT: String(appPort) },
    });
    try {
      await waitForLines(launcher, /worker 1 listening on/, 1);
      assert.equal(launcher.stdoutLines[0], `[prom-client-redis] metrics on https://127.0.0.1:${launcherPort}/metrics`);
      await pollUntil('the worker in the launcher\'s view', async () => (/^launcher_workers_alive 1$/m.test(await get(`https://127.0.0.1:${launcherPort}/metrics`, certs, `prometheus:${PASSWORD}`)) ? true : undefined), { timeoutMs: 10_000, intervalMs: 100 });
      assert.equal(await get(`https://127.0.0.1:${launcherPort}/metrics`, certs, 'prometheus:guess'), '401 Unauthorized\n');
    } finally {
      assert.deepEqual(await launcher.kill('SIGTERM'), { code: 0, signal: null });
    }
  });

  it('a bad file stops serve (flag or PROM_CLIENT_REDIS_WEB_CONFIG_FILE) and run at start, naming the file and the key', async () => {
    const bad = join(makeTempDir('web-config-bad'), 'web.yml');
    writeFileSync(bad, `tls_server_config:\n  cert_file: ${certs.serverCertFile}\n  key_file: ${certs.serverKeyFile}\n  client_auth_type: Sometimes\n`);
    const message = `prom-client-redis: Web config file \`${bad}\`: \`tls_server_config.client_auth_type\`: expected one of NoClientCert, RequestClientCert, RequireAnyClientCert, RequireClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert, got \`Sometimes\` (string) (ERR_PCR_CONFIG)\n`;
    const outcomes = [];
    for (const [args, extra] of [
      [['serve', '--web.config.file', bad], {}],
      [['serve'], { PROM_CLIENT_REDIS_WEB_CONFIG_FILE: bad }],
      [['run', '--web.config.file', bad, APP], {}],
    ] as const) {
      const child = runNode(CLI, { args, env: { ...env, ...extra, PROMETHEUS_METRICS_PORT: '0' } });
      const { code } = await child.exited;
      outcomes.push({ code, stdout: child.stdoutLines, stderr: child.stderr() });
    }
    assert.deepEqual(outcomes, Array(3).fill({ code: 1, stdout: [], stderr: message }));
  });
});
