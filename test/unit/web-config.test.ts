// The exporter-toolkit web config file: every mistake is named with the file and the key, at start.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadWebConfig } from '../../src/integrations/web-config.js';
import { makeCertificates, type Certificates } from '../helpers/tls.js';
import { makeTempDir } from '../helpers/reaper.js';

const HASH = '$2y$10$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG';

describe('web config file', () => {
  let certs: Certificates;
  let dir: string;
  let n = 0;
  /** Writes `yaml` to a new file beside copies of the certificates (server.crt, server.key, ca.crt, client.key). */
  const file = (yaml: string): string => {
    const path = join(dir, `web-${++n}.yml`);
    writeFileSync(path, yaml);
    return path;
  };
  const rejects = async (yaml: string, problem: string): Promise<void> => {
    const path = file(yaml);
    await assert.rejects(loadWebConfig(path), { name: 'ConfigError', code: 'ERR_PCR_CONFIG', message: `Web config file \`${path}\`: ${problem}` });
  };

  before(async () => {
    certs = await makeCertificates();
    dir = makeTempDir('web-config');
    for (const name of ['server.crt', 'server.key', 'ca.crt', 'client.key']) copyFileSync(join(certs.dir, name), join(dir, name));
  });

  it('an empty file is plain HTTP without auth, as in exporter-toolkit', async () => {
    const config = await loadWebConfig(file(''));
    assert.deepEqual([config.tls, config.clientAuth, [...config.users], config.headers], [undefined, 'NoClientCert', [], {}]);
  });

  it('reads TLS with paths relative to the file, client certificates, versions, users and headers', async () => {
    const config = await loadWebConfig(file([
      'tls_server_config:',
      '  cert_file: server.crt',
      '  key_file: server.key',
      '  client_auth_type: RequireAndVerifyClientCert',
      '  client_ca_file: ca.crt',
      '  min_version: TLS13',
      '  curve_preferences: [X25519, CurveP256]',
      'http_server_config:',
      '  http2: false',
      '  headers:',
      '    X-Frame-Options: deny',
      '    Strict-Transport-Security: max-age=31536000',
      'basic_auth_users:',
      `  prometheus: ${HASH}`,
      '',
    ].join('\n')));
    const { cert, key, ca, ...tls } = config.tls!;
    assert.deepEqual(tls, { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3', requestCert: true, rejectUnauthorized: true, ecdhCurve: 'X25519:P-256', honorCipherOrder: true });
    assert.ok(String(cert).startsWith('-----BEGIN CERTIFICATE-----') && String(key).includes('PRIVATE KEY') && String(ca).startsWith('-----BEGIN CERTIFICATE-----'));
    assert.equal(config.clientAuth, 'RequireAndVerifyClientCert');
    assert.deepEqual([...config.users], [['prometheus', HASH]]);
    assert.deepEqual(config.headers, { 'X-Frame-Options': 'deny', 'Strict-Transport-Security': 'max-age=31536000' });
  });

  it('maps each client_auth_type (RequireClientCert is the old name of RequireAnyClientCert)', async () => {
    const modes = ['NoClientCert', 'RequestClientCert', 'RequireAnyClientCert', 'RequireClientCert', 'VerifyClientCertIfGiven', 'RequireAndVerifyClientCert'];
    const seen = [];
    for (const mode of modes) {
      const config = await loadWebConfig(file(`tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: ${mode}\n`));
      seen.push([config.clientAuth, config.tls!.requestCert, config.tls!.rejectUnauthorized]);
    }
    assert.deepEqual(seen, [
      ['NoClientCert', false, false],
      ['RequestClientCert', true, false],
      ['RequireAnyClientCert', true, false],
      ['RequireAnyClientCert', true, false],
      ['VerifyClientCertIfGiven', true, false],
      ['RequireAndVerifyClientCert', true, true],
    ]);
  });

  it('an unknown key, at the top', () => rejects('tls_config:\n  cert_file: a\n', '`tls_config`: unknown key; expected one of tls_server_config, http_server_config, basic_auth_users'));
  it('an unknown key in tls_server_config', () =>
    rejects('tls_server_config:\n  certfile: server.crt\n', '`tls_server_config.certfile`: unknown key; expected one of cert_file, key_file, cert, key, client_ca_file, client_ca, client_auth_type, min_version, max_version, curve_preferences, prefer_server_cipher_suites'));
  it('an exporter-toolkit setting we do not implement', async () => {
    await rejects('rate_limit:\n  interval: 1s\n  burst: 5\n', '`rate_limit`: this exporter-toolkit setting is not supported by prom-client-redis');
    await rejects('tls_server_config:\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n', '`tls_server_config.cipher_suites`: this exporter-toolkit setting is not supported by prom-client-redis');
  });
  it('a bad client_auth_type', () =>
    rejects('tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: Always\n', '`tls_server_config.client_auth_type`: expected one of NoClientCert, RequestClientCert, RequireAnyClientCert, RequireClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert, got `Always` (string)'));
  it('a certificate without its key', () => rejects('tls_server_config:\n  cert_file: server.crt\n', "`tls_server_config.key_file`: missing: TLS needs the certificate's key (`key_file` or `key`)"));
  it('client_auth_type alone turns TLS on and needs a certificate', () => rejects('tls_server_config:\n  client_auth_type: NoClientCert\n', '`tls_server_config.cert_file`: missing: TLS needs a certificate (`cert_file` or `cert`)'));
  it('a certificate file that does not exist', () =>
    rejects('tls_server_config:\n  cert_file: nope.crt\n  key_file: server.key\n', `\`tls_server_config.cert_file\`: cannot read \`nope.crt\`: ENOENT: no such file or directory, open '${join(dir, 'nope.crt')}'`));
  it('a key that is not the certificate\'s', () =>
    rejects('tls_server_config:\n  cert_file: server.crt\n  key_file: client.key\n', '`tls_server_config.cert_file`: the certificate and key cannot be used: error:05800074:x509 certificate routines::key values mismatch'));
  it('a client CA with NoClientCert', () =>
    rejects('tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_ca_file: ca.crt\n', '`tls_server_config.client_ca_file`: a client CA is set but `client_auth_type` is NoClientCert: set RequireAndVerifyClientCert to check client certificates'));
  it('a client CA file that holds no certificate', () =>
    rejects('tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: server.key\n', '`tls_server_config.client_ca_file`: not a PEM CA certificate: no PEM certificate in it'));
  it('a bad TLS version, and versions the wrong way round', async () => {
    await rejects('tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  min_version: TLS1.2\n', '`tls_server_config.min_version`: expected one of TLS10, TLS11, TLS12, TLS13, got `TLS1.2` (string)');
    await rejects('tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  min_version: TLS13\n  max_version: TLS12\n', '`tls_server_config.min_version`: TLS13 is above max_version TLS12');
  });
  it('a password that is not a bcrypt hash, without showing it', () =>
    rejects('basic_auth_users:\n  alice: secret-in-clear\n', '`basic_auth_users.alice`: expected a bcrypt hash ($2y$10$... from `htpasswd -nBC 10 "" | tr -d \':\\n\'`); the value is not shown'));
  it('a header exporter-toolkit does not allow, or a value it does not', async () => {
    await rejects('http_server_config:\n  headers:\n    Server: me\n', '`http_server_config.headers.Server`: this header cannot be set; expected one of Strict-Transport-Security, X-Content-Type-Options, X-Frame-Options, X-XSS-Protection, Content-Security-Policy');
    await rejects('http_server_config:\n  headers:\n    X-Frame-Options: allow\n', '`http_server_config.headers.X-Frame-Options`: expected one of deny, sameorigin, got `allow` (string)');
  });
  it('YAML that does not parse, and a key given twice', async () => {
    await rejects('tls_server_config: [\n', 'is not valid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]');
    await rejects('basic_auth_users:\n  a: x\n  a: y\n', 'is not valid YAML: Map keys must be unique');
  });
  it('a section that is not a mapping', () => rejects('basic_auth_users: [alice]\n', '`basic_auth_users`: expected a mapping, got `["alice"]` (list)'));
  it('a file that does not exist', async () => {
    const path = join(dir, 'missing.yml');
    await assert.rejects(loadWebConfig(path), { code: 'ERR_PCR_CONFIG', message: `Web config file \`${path}\`: cannot be read: ENOENT: no such file or directory, stat '${path}'` });
  });
});
