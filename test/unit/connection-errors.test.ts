import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { resolveConfig } from '../../src/config.js';
import { explainCommandError, explainConnectionError, isRedirection } from '../../src/redis/connection-errors.js';

const config = resolveConfig({ username: 'metrics', password: 's3cret!', keyPrefix: 'prom', ssl: true, sslCaFile: '/etc/ca.pem' }, {});

function tlsError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

describe('connection errors name the setting to fix', () => {
  it('a server certificate the CA did not sign names REDIS_SSL_CA and the file', () => {
    const e = explainConnectionError(tlsError('SELF_SIGNED_CERT_IN_CHAIN', 'self-signed certificate in certificate chain'), config);
    assert.equal(e?.code, 'ERR_PCR_TLS');
    assert.equal(
      e?.message,
      "TLS: the Redis server's certificate was not accepted (SELF_SIGNED_CERT_IN_CHAIN: self-signed certificate in certificate chain): check REDIS_SSL_CA (sslCaFile, now `/etc/ca.pem`); it must name the CA that signed the server certificate. REDIS_SSL_VERIFY=false turns verification off (not for production)",
    );
  });

  it('without REDIS_SSL_CA it says the system CAs were used', () => {
    const e = explainConnectionError(tlsError('UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'unable to get local issuer certificate'), resolveConfig({}, {}));
    assert.match(e!.message, /check REDIS_SSL_CA \(sslCaFile, not set, so only the system CAs are trusted\)/);
  });

  it('a refused client certificate names REDIS_SSL_CERT and REDIS_SSL_KEY', () => {
    const e = explainConnectionError(new Error('140:error:0A00045C:SSL routines::tlsv13 alert certificate required'), config);
    assert.equal(e?.code, 'ERR_PCR_TLS');
    assert.match(e!.message, /check REDIS_SSL_CERT and REDIS_SSL_KEY/);
  });

  it('a reset right after the TLS handshake, before any answer, hints at a missing client certificate', () => {
    const tls = resolveConfig({ ssl: true }, {});
    const reset = Object.assign(new Error('write ECONNRESET'), { code: 'ECONNRESET' });
    const e = explainConnectionError(reset, tls, false);
    assert.equal(e?.code, 'ERR_PCR_TLS');
    assert.equal(
      e?.message,
      'TLS: the Redis server closed the connection right after the handshake (write ECONNRESET), before it ever answered: if it requires client certificates (tls-auth-clients), set REDIS_SSL_CERT and REDIS_SSL_KEY (sslCertFile, sslKeyFile)',
    );
    // Once the connection has worked, a reset is just a reset.
    assert.equal(explainConnectionError(reset, tls, true), undefined);
    // Without TLS it is another story (below).
    assert.equal(explainConnectionError(reset, resolveConfig({}, {}), false)?.message.startsWith('The Redis server closed the connection before it ever answered'), true);
  });

  it('WRONGPASS names the user and the variables, never the password', () => {
    const refused = Object.assign(new Error('WRONGPASS invalid username-password pair or user is disabled.'), { command: { name: 'auth', args: ['metrics', 's3cret!'] } });
    const e = explainConnectionError(refused, config);
    assert.equal(e?.code, 'ERR_PCR_AUTH');
    assert.equal(e?.message, 'Redis refused the credentials of user `metrics` (WRONGPASS invalid username-password pair or user is disabled.): check REDIS_USERNAME and REDIS_PASSWORD (username, password)');
    assert.equal(e?.cause, undefined); // ioredis' error carries the AUTH arguments
    assert.ok(!JSON.stringify(e, Object.getOwnPropertyNames(e)).includes('s3cret!'));
  });

  it('NOPERM names the user, the key pattern and the minimal ACL line', () => {
    const e = explainCommandError(new Error("NOPERM this user has no permissions to run the 'evalsha' command"), config, 'flush');
    assert.equal(e?.code, 'ERR_PCR_AUTH');
    assert.equal(e?.message, "flush: Redis user `metrics` lacks a right (NOPERM this user has no permissions to run the 'evalsha' command): it needs the keys ~prom:* and the commands of the minimal ACL line in docs/scale-out.md");
  });

  it('a user name given in REDIS_URL is the one named, and the URL is the setting to check', () => {
    const fromUrl = resolveConfig({ url: 'redis://al%40ice:pw@cache:6379', username: 'ignored' }, {});
    const refused = new Error('WRONGPASS invalid username-password pair or user is disabled.');
    assert.equal(
      explainConnectionError(refused, fromUrl)?.message,
      'Redis refused the credentials of user `al@ice` (WRONGPASS invalid username-password pair or user is disabled.): check the user and password in REDIS_URL (url)',
    );
    assert.equal(
      explainCommandError(new Error('NOPERM no'), fromUrl, 'flush')?.message,
      'flush: Redis user `al@ice` lacks a right (NOPERM no): it needs the keys ~prometheus:* and the commands of the minimal ACL line in docs/scale-out.md',
    );
    // A URL without a user leaves REDIS_USERNAME in charge, as ioredis does.
    const userOption = resolveConfig({ url: 'redis://cache:6379', username: 'bob' }, {});
    assert.match(explainConnectionError(refused, userOption)!.message, /^Redis refused the credentials of user `bob` .*check REDIS_USERNAME and REDIS_PASSWORD/);
  });

  it('a refused SELECT is a ConfigError naming the database and REDIS_DB', () => {
    const outOfRange = Object.assign(new Error('ERR DB index is out of range'), { command: { name: 'select', args: ['99'] } });
    const e = explainConnectionError(outOfRange, resolveConfig({ db: 99 }, {}), false);
    assert.equal(e?.code, 'ERR_PCR_CONFIG');
    assert.equal(
      e?.message,
      'Redis refused SELECT 99 (ERR DB index is out of range): the server has fewer databases (its `databases` setting, 16 by default); check REDIS_DB (db) or the database in REDIS_URL. Not connected, so that nothing is written to database 0',
    );
    const denied = Object.assign(new Error("NOPERM this user has no permissions to run the 'select' command"), { command: { name: 'select', args: ['3'] } });
    assert.equal(
      explainConnectionError(denied, resolveConfig({ db: 3, username: 'metrics' }, {}), false)?.message,
      "Redis refused SELECT 3 (NOPERM this user has no permissions to run the 'select' command): user `metrics` may not run SELECT: add +select to its ACL line; check REDIS_DB (db) or the database in REDIS_URL. Not connected, so that nothing is written to database 0",
    );
  });

  it('TLS to a plaintext server is reported as that, not as a missing client certificate', () => {
    const tls = resolveConfig({ ssl: true }, {});
    const hungUp = Object.assign(new Error('Client network socket disconnected before secure TLS connection was established'), { code: 'ECONNRESET' });
    assert.equal(
      explainConnectionError(hungUp, tls, false)?.message,
      'TLS: the server did not answer the TLS handshake (Client network socket disconnected before secure TLS connection was established): it probably does not speak TLS on this port. Connect without TLS (unset REDIS_SSL, use a redis:// URL) or to its TLS port (tls-port)',
    );
    const timedOut = Object.assign(new Error('connect ETIMEDOUT'), { code: 'ETIMEDOUT' });
    const e = explainConnectionError(timedOut, tls, false);
    assert.equal(e?.code, 'ERR_PCR_REDIS');
    assert.equal(
      e?.message,
      'TLS: no TLS handshake with the Redis server within the connect timeout (connect ETIMEDOUT): either it is not reachable, or it does not speak TLS on this port (a plaintext Redis never answers a handshake): check the port, or connect without TLS (unset REDIS_SSL, use a redis:// URL)',
    );
    assert.equal(explainConnectionError(timedOut, resolveConfig({}, {}), false), undefined);
  });

  it('plaintext to a server that hangs up before answering hints at a TLS-only port', () => {
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    // Only a hint (a restarting server resets too): not a TlsError, which would end waitUntilConnected().
    assert.equal(explainConnectionError(reset, resolveConfig({}, {}), false)?.code, 'ERR_PCR_REDIS');
    assert.equal(
      explainConnectionError(reset, resolveConfig({}, {}), false)?.message,
      'The Redis server closed the connection before it ever answered (ECONNRESET): it stopped, or it speaks only TLS on this port (then set REDIS_SSL=true or use a rediss:// URL)',
    );
    assert.equal(explainConnectionError(reset, resolveConfig({}, {}), true), undefined);
  });

  it('leaves other errors alone', () => {
    assert.equal(explainConnectionError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }), config), undefined);
    assert.equal(explainCommandError(new Error('ERR unknown command'), config, 'flush'), undefined);
  });

  it('knows which Cluster replies mean "not applied here, send again"', () => {
    for (const m of ['MOVED 3999 127.0.0.1:6381', 'ASK 3999 127.0.0.1:6381', 'TRYAGAIN Multiple keys request during rehashing of slot', 'CLUSTERDOWN The cluster is down', 'Connection is closed.']) {
      assert.equal(isRedirection(new Error(m)), true, m);
    }
    assert.equal(isRedirection(new Error('NOPERM no')), false);
    assert.equal(isRedirection(null), false);
  });
});

describe('REDIS_WAIT_* settings', () => {
  it('a WAIT timeout not below the flush timeout is refused', () => {
    assert.throws(() => resolveConfig({}, { REDIS_WAIT_REPLICAS: '1', REDIS_WAIT_TIMEOUT_MS: '5000', REDIS_FLUSH_TIMEOUT_MS: '5000' }), {
      code: 'ERR_PCR_CONFIG',
      message: 'REDIS_WAIT_TIMEOUT_MS (5000) must be below REDIS_FLUSH_TIMEOUT_MS (5000) when REDIS_WAIT_REPLICAS is set',
    });
    assert.equal(resolveConfig({}, { REDIS_WAIT_REPLICAS: '1', REDIS_WAIT_TIMEOUT_MS: '4999', REDIS_FLUSH_TIMEOUT_MS: '5000' }).waitReplicas, 1);
  });
});
