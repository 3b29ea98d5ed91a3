import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { startTlsRedis, type TlsRedisServer } from '../helpers/tls.js';
import { newPrefix } from '../helpers/redis-server.js';
import { runNode } from '../helpers/processes.js';
import { RedisStorageManager } from '../../src/index.js';

const PROBE = fileURLToPath(new URL('../fixtures/connect-probe.js', import.meta.url));

interface ProbeResult {
  connected: boolean;
  flushed: boolean;
  error: { code: string | null; message: string } | null;
  lastError: { code: string | null; message: string } | null;
}

/** Runs the probe with `env`; resolves with its JSON line and its stderr (the library's logs). */
async function probe(env: Record<string, string>): Promise<{ result: ProbeResult; stderr: string }> {
  const child = runNode(PROBE, { env });
  const [line] = await child.waitForLine(/^\{.*\}$/, 20_000);
  await child.exited;
  return { result: JSON.parse(line!) as ProbeResult, stderr: child.stderr() };
}

describe('TLS: a redis-server on a TLS port only, asking for client certificates', () => {
  let server: TlsRedisServer;
  let scraper: RedisStorageManager;
  const prefix = newPrefix('tls');
  let tlsEnv: Record<string, string>;

  before(async () => {
    server = await startTlsRedis({ authClients: 'yes' });
    const { caCertFile, clientCertFile, clientKeyFile } = server.certs;
    tlsEnv = {
      REDIS_HOST: '127.0.0.1', REDIS_PORT: String(server.port), REDIS_KEY_PREFIX: prefix,
      REDIS_SSL: 'true', REDIS_SSL_CA: caCertFile, REDIS_SSL_CERT: clientCertFile, REDIS_SSL_KEY: clientKeyFile,
    };
    // The scraper takes the other road: a rediss:// URL and options.
    scraper = new RedisStorageManager({
      enabled: true, url: server.url, keyPrefix: prefix, sslCaFile: caCertFile, sslCertFile: clientCertFile, sslKeyFile: clientKeyFile,
      identity: { host: 'scraper', pid: 1, nonce: 'n' },
    });
    await scraper.waitUntilConnected(10_000);
  });

  after(async () => {
    await scraper?.shutdown();
    await server?.stop();
  });

  it('REDIS_SSL=true with REDIS_SSL_CA, REDIS_SSL_CERT, REDIS_SSL_KEY verifies the server and writes; rediss:// reads', async () => {
    const { result } = await probe({ ...tlsEnv, PROBE_INC: '7' });
    assert.deepEqual(result, { connected: true, flushed: true, error: null, lastError: null });
    assert.match(await scraper.getCollector().metrics(), /^probe_total 7$/m);
  });

  it('rejects a server certificate the configured CA did not sign, with an error naming REDIS_SSL_CA', async () => {
    const wrongCa = server.certs.otherCaCertFile;
    const { result, stderr } = await probe({ ...tlsEnv, REDIS_SSL_CA: wrongCa });
    assert.equal(result.connected, false);
    assert.equal(result.flushed, false);
    assert.equal(result.error?.code, 'ERR_PCR_TLS');
    assert.equal(result.lastError?.code, 'ERR_PCR_TLS');
    assert.match(result.error!.message, new RegExp(`^TLS: the Redis server's certificate was not accepted \\(SELF_SIGNED_CERT_IN_CHAIN: .*\\): check REDIS_SSL_CA \\(sslCaFile, now \`${wrongCa}\`\\)`));
    // Warned once, without REDIS_DEBUG.
    assert.equal(stderr.split('\n').filter((l) => l.includes('"code":"ERR_PCR_TLS"')).length, 1, stderr);
  });

  it('without a client certificate the server refuses us, and the error names REDIS_SSL_CERT', async () => {
    const { REDIS_SSL_CERT: _c, REDIS_SSL_KEY: _k, ...noClientCert } = tlsEnv;
    const { result } = await probe(noClientCert);
    assert.equal(result.connected, false);
    assert.equal(result.lastError?.code, 'ERR_PCR_TLS');
    // Either the server's alert (certificate required) or, when our first write loses the race
    // with it, the reset right after the handshake: both name the settings to fix.
    assert.match(result.lastError!.message, /^TLS: the Redis server (rejected this client's certificate|closed the connection right after the handshake) .*REDIS_SSL_CERT and REDIS_SSL_KEY/);
    assert.equal(result.error?.code, 'ERR_PCR_TLS');
  });

  it('REDIS_SSL_VERIFY=false connects without a CA and says so loudly on stderr', async () => {
    const { REDIS_SSL_CA: _ca, ...noCa } = tlsEnv;
    const { result, stderr } = await probe({ ...noCa, REDIS_SSL_VERIFY: 'false', PROBE_INC: '1' });
    assert.deepEqual(result, { connected: true, flushed: true, error: null, lastError: null });
    const warnings = stderr.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { level: string; msg: string });
    assert.deepEqual(warnings.map((w) => [w.level, w.msg]), [
      ['warn', 'prom-client-redis: TLS certificate verification is OFF (REDIS_SSL_VERIFY=false): the connection to Redis can be intercepted'],
    ]);
    assert.match(await scraper.getCollector().metrics(), /^probe_total 8$/m);
  });
});
