// /metrics behind the web config file, met by real TLS clients (node:https with certificates made
// by openssl): each client_auth_type with a good, a foreign and no client certificate, TLS versions,
// basic auth, headers; and the connection limits: a cap, and no idle socket held for long.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { connect } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { Counter, RedisStorageManager, startMetricsServer, type MetricsServer, type MetricsServerOptions } from '../../src/index.js';
import { makeCertificates, type Certificates } from '../helpers/tls.js';
import { makeTempDir } from '../helpers/reaper.js';

const BODY = '# HELP probe_total Probe.\n# TYPE probe_total counter\nprobe_total 3\n';
const REFUSED = ['error ECONNRESET', 'error ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', 'error ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED'];

interface Client {
  ca?: string;
  cert?: string;
  key?: string;
  auth?: string;
  maxVersion?: 'TLSv1.2' | 'TLSv1.3';
  path?: string;
}

/** GET over TLS; resolves with `status body` and the headers, or with the client's error code. */
function httpsGet(url: string, client: Client): Promise<{ answer: string; headers?: Record<string, unknown> }> {
  return new Promise((resolve) => {
    const read = (file: string | undefined) => (file === undefined ? undefined : readFileSync(file));
    const req = request(`${url}${client.path ?? '/metrics'}`, {
      agent: false, ca: read(client.ca), cert: read(client.cert), key: read(client.key), maxVersion: client.maxVersion,
      headers: client.auth === undefined ? {} : { Authorization: `Basic ${Buffer.from(client.auth).toString('base64')}` },
    }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => resolve({ answer: `${res.statusCode} ${body}`, headers: res.headers }));
    });
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ answer: `error ${error.code}` }));
    req.end();
  });
}

describe('metrics server: web config file and connection limits', () => {
  let certs: Certificates;
  let dir: string;
  let storage: RedisStorageManager;
  const servers: MetricsServer[] = [];
  let n = 0;

  const serve = async (yaml: string | undefined, extra: Partial<MetricsServerOptions> = {}): Promise<MetricsServer> => {
    let webConfigFile: string | undefined;
    if (yaml !== undefined) writeFileSync((webConfigFile = join(dir, `web-${++n}.yml`)), yaml);
    const server = await startMetricsServer({ storage, port: 0, bindAddress: '127.0.0.1', ...(webConfigFile ? { webConfigFile } : {}), ...extra });
    servers.push(server);
    return server;
  };
  const tlsWith = (clientAuth: string): string =>
    `tls_server_config:\n  cert_file: ${certs.serverCertFile}\n  key_file: ${certs.serverKeyFile}\n  client_auth_type: ${clientAuth}\n  client_ca_file: ${certs.caCertFile}\n`;

  before(async () => {
    certs = await makeCertificates();
    dir = makeTempDir('web-server');
    storage = new RedisStorageManager({ enabled: false, env: {} });
    new Counter({ name: 'probe_total', help: 'Probe.', storage, registers: [] }).inc(3);
  });

  after(async () => {
    await Promise.all(servers.map((s) => s.close()));
  });

  it('serves https with the certificate of the file; a client that does not trust its CA is refused', async () => {
    const server = await serve(`tls_server_config:\n  cert_file: ${certs.serverCertFile}\n  key_file: ${certs.serverKeyFile}\n`);
    assert.equal(server.url, `https://127.0.0.1:${server.port}`);
    assert.equal((await httpsGet(server.url, { ca: certs.caCertFile })).answer, `200 ${BODY}`);
    assert.equal((await httpsGet(server.url, { ca: certs.otherCaCertFile })).answer, 'error UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  });

  it('each client_auth_type: a client certificate of the CA, one of another CA, none', async () => {
    const good = { ca: certs.caCertFile, cert: certs.clientCertFile, key: certs.clientKeyFile };
    const foreign = { ca: certs.caCertFile, cert: certs.otherClientCertFile, key: certs.otherClientKeyFile };
    const none = { ca: certs.caCertFile };
    const seen: Record<string, string[]> = {};
    for (const mode of ['NoClientCert', 'RequestClientCert', 'RequireAnyClientCert', 'VerifyClientCertIfGiven', 'RequireAndVerifyClientCert']) {
      const server = await serve(mode === 'NoClientCert' ? `tls_server_config:\n  cert_file: ${certs.serverCertFile}\n  key_file: ${certs.serverKeyFile}\n` : tlsWith(mode));
      seen[mode] = [];
      for (const client of [good, foreign, none]) {
        const { answer } = await httpsGet(server.url, client);
        // With TLS 1.3 the client's handshake is over before the server judges its certificate:
        // the server's alert, or the reset that follows it, is what the client sees first.
        seen[mode]!.push(answer === `200 ${BODY}` ? 'served' : REFUSED.includes(answer) ? 'refused' : answer);
      }
    }
    assert.deepEqual(seen, {
      NoClientCert: ['served', 'served', 'served'],
      RequestClientCert: ['served', 'served', 'served'],
      RequireAnyClientCert: ['served', 'served', 'refused'],
      VerifyClientCertIfGiven: ['served', 'refused', 'served'],
      RequireAndVerifyClientCert: ['served', 'refused', 'refused'],
    });
  });

  it('min_version TLS13 refuses a TLS 1.2 client', async () => {
    const server = await serve(`tls_server_config:\n  cert_file: ${certs.serverCertFile}\n  key_file: ${certs.serverKeyFile}\n  min_version: TLS13\n`);
    assert.equal((await httpsGet(server.url, { ca: certs.caCertFile, maxVersion: 'TLSv1.2' })).answer, 'error EPROTO');
    assert.equal((await httpsGet(server.url, { ca: certs.caCertFile, maxVersion: 'TLSv1.3' })).answer, `200 ${BODY}`);
  });

  it('basic auth: the right password is served; a wrong, unknown or missing one gets 401 with WWW-Authenticate; headers on every answer', async () => {
    const hash = bcrypt.hashSync('s3cret:pass', 4);
    const server = await serve([
      `tls_server_config:\n  cert_file: ${certs.serverCertFile}\n  key_file: ${certs.serverKeyFile}`,
      `basic_auth_users:\n  prometheus: ${hash}\n  other: ${bcrypt.hashSync('x', 4)}`,
      'http_server_config:\n  headers:\n    X-Frame-Options: deny\n    X-Content-Type-Options: nosniff\n',
    ].join('\n'));
    const ca = certs.caCertFile;
    const answers = [];
    for (const auth of ['prometheus:s3cret:pass', 'prometheus:wrong', 'nobody:s3cret:pass', 'other:s3cret:pass', undefined]) {
      const r = await httpsGet(server.url, { ca, ...(auth === undefined ? {} : { auth }) });
      answers.push([r.answer, r.headers?.['www-authenticate'], r.headers?.['x-frame-options'], r.headers?.['x-content-type-options']]);
    }
    const refused = ['401 Unauthorized\n', 'Basic realm="prom-client-redis", charset="UTF-8"', 'deny', 'nosniff'];
    assert.deepEqual(answers, [[`200 ${BODY}`, undefined, 'deny', 'nosniff'], refused, refused, refused, refused]);
    // /health and / are behind it too, as in exporter-toolkit.
    assert.equal((await httpsGet(server.url, { ca, path: '/health' })).answer, '401 Unauthorized\n');
  });

  it('closes a connection that sends nothing after headersTimeoutMs, TLS or not, and keeps at most maxConnections', async () => {
    const plain = await serve(undefined, { headersTimeoutMs: 300, maxConnections: 2 });
    const tls = await serve(`tls_server_config:\n  cert_file: ${certs.serverCertFile}\n  key_file: ${certs.serverKeyFile}\n`, { headersTimeoutMs: 300 });
    /** Opens a TCP connection that sends nothing; resolves with how long the server kept it, and whether it wrote anything. */
    const idle = (port: number) => new Promise<{ ms: number; bytes: number }>((resolve) => {
      const started = performance.now();
      let bytes = 0;
      const socket = connect(port, '127.0.0.1');
      socket.on('data', (d) => (bytes += d.length)).on('error', () => {}).on('close', () => resolve({ ms: performance.now() - started, bytes }));
    });
    const [a, b] = [idle(plain.port), idle(plain.port)];
    // Past the cap: closed as it arrives, while the first two wait for their timeout.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const third = await idle(plain.port);
    assert.ok(third.ms < 100, `the third connection was kept ${third.ms} ms`);
    for (const [name, r] of [['first', await a], ['second', await b], ['tls', await idle(tls.port)]] as const) {
      // Node checks the timeout every min(1000, headersTimeoutMs) ms: closed between 300 and 600 ms (+ slack).
      assert.ok(r.ms >= 290 && r.ms < 900, `${name}: kept ${r.ms} ms`);
    }
  });

  it('closes an idle keep-alive connection after keepAliveTimeoutMs', async () => {
    const server = await serve(undefined, { keepAliveTimeoutMs: 200 });
    // A raw socket: Node's own client would close on the server's `Keep-Alive: timeout=0` hint first.
    const { response, closedAfter } = await new Promise<{ response: string; closedAfter: number }>((resolve) => {
      let response = '';
      let answered = 0;
      const socket = connect(server.port, '127.0.0.1', () => socket.write('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n'));
      socket.setEncoding('utf8').on('data', (d: string) => {
        response += d;
        if (response.endsWith(BODY)) answered = performance.now();
      });
      socket.on('close', () => resolve({ response, closedAfter: performance.now() - answered }));
    });
    assert.match(response, /^HTTP\/1\.1 200 OK\r\n/);
    assert.ok(response.endsWith(`\r\n\r\n${BODY}`), response);
    // Node keeps the socket 1 s past keepAliveTimeout, so that a client reusing it at the last moment does not race the close.
    assert.ok(closedAfter >= 1190 && closedAfter < 1700, `closed after ${closedAfter} ms`);
  });

  it('refuses bad limits at once', async () => {
    await assert.rejects(startMetricsServer({ storage, port: 0, bindAddress: '127.0.0.1', maxConnections: 0 }), { code: 'ERR_PCR_CONFIG', message: 'Expected `maxConnections` to be an integer >= 1, got `0` (number)' });
  });
});
