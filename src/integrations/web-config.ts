// The web config file of Prometheus' exporters (exporter-toolkit's `--web.config.file`), so that
// the launcher and the exporter take the same file as node_exporter & co: TLS with optional client
// certificates, basic auth with bcrypt hashes, and a few response headers. Read once, at start:
// every mistake is a ConfigError naming the file and the key, before anything listens.
import { readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { createSecureContext, type SecureContextOptions, type SecureVersion, type TlsOptions } from 'node:tls';
import { ConfigError } from '../errors.js';

/** exporter-toolkit's `client_auth_type` values (Go's tls.ClientAuthType names). */
export type ClientAuthType = 'NoClientCert' | 'RequestClientCert' | 'RequireAnyClientCert' | 'VerifyClientCertIfGiven' | 'RequireAndVerifyClientCert';

export interface WebConfig {
  readonly file: string;
  /** Options of the https server; undefined when the file turns no TLS on (plain HTTP, as in Go). */
  readonly tls: TlsOptions | undefined;
  readonly clientAuth: ClientAuthType;
  /** User -> bcrypt hash; empty: no basic auth. */
  readonly users: ReadonlyMap<string, string>;
  /** Extra response headers (`http_server_config.headers`). */
  readonly headers: Readonly<Record<string, string>>;
}

const CLIENT_AUTH_TYPES: Record<string, ClientAuthType> = {
  NoClientCert: 'NoClientCert',
  RequestClientCert: 'RequestClientCert',
  RequireAnyClientCert: 'RequireAnyClientCert',
  // exporter-toolkit keeps this old name for RequireAnyClientCert.
  RequireClientCert: 'RequireAnyClientCert',
  VerifyClientCertIfGiven: 'VerifyClientCertIfGiven',
  RequireAndVerifyClientCert: 'RequireAndVerifyClientCert',
};

const TLS_VERSIONS: Record<string, SecureVersion> = { TLS10: 'TLSv1', TLS11: 'TLSv1.1', TLS12: 'TLSv1.2', TLS13: 'TLSv1.3' };
const CURVES: Record<string, string> = { CurveP256: 'P-256', CurveP384: 'P-384', CurveP521: 'P-521', X25519: 'X25519' };

/** As exporter-toolkit: only these headers, and for two of them only these values. */
const HEADERS: Record<string, readonly string[] | undefined> = {
  'Strict-Transport-Security': undefined,
  'X-Content-Type-Options': ['nosniff'],
  'X-Frame-Options': ['deny', 'sameorigin'],
  'X-XSS-Protection': undefined,
  'Content-Security-Policy': undefined,
};

/** Settings of exporter-toolkit we do not implement: refused by name rather than ignored. */
const UNSUPPORTED = new Set(['tls_server_config.cipher_suites', 'tls_server_config.client_allowed_sans', 'rate_limit']);

const BCRYPT = /^\$2[abxy]?\$(\d\d)\$[./A-Za-z0-9]{53}$/;
const MAX_FILE_BYTES = 1024 * 1024;

/** Reads and checks a web config file; throws a ConfigError naming the file and the key. */
export async function loadWebConfig(file: string): Promise<WebConfig> {
  if (typeof file !== 'string' || file.trim() === '') throw new ConfigError(`Expected the web config file to be a path, got \`${String(file)}\``);
  const path = resolve(file);
  const fail = (key: string, problem: string): never => {
    throw new ConfigError(`Web config file \`${file}\`: ${key === '' ? '' : `\`${key}\`: `}${problem}`);
  };
  let text: string;
  try {
    if (statSync(path).size > MAX_FILE_BYTES) fail('', `larger than ${MAX_FILE_BYTES} bytes`);
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    return fail('', `cannot be read: ${(error as Error).message}`);
  }
  const { parseDocument } = await import('yaml');
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0) fail('', `is not valid YAML: ${doc.errors[0]!.message.split('\n')[0]}`);
  const root = (doc.toJS({ maxAliasCount: 50 }) ?? {}) as unknown;
  const top = object(root, '', fail);
  known(top, '', ['tls_server_config', 'http_server_config', 'basic_auth_users', 'rate_limit'], fail);

  const headers: Record<string, string> = {};
  const http = object(top.http_server_config ?? {}, 'http_server_config', fail);
  known(http, 'http_server_config', ['headers', 'http2'], fail);
  // HTTP/2 is negotiated by ALPN: a client offered it falls back to the HTTP/1.1 we serve.
  if (http.http2 !== undefined && typeof http.http2 !== 'boolean') fail('http_server_config.http2', `expected true or false, got ${shown(http.http2)}`);
  for (const [name, value] of Object.entries(object(http.headers ?? {}, 'http_server_config.headers', fail))) {
    const key = `http_server_config.headers.${name}`;
    if (!(name in HEADERS)) fail(key, `this header cannot be set; expected one of ${Object.keys(HEADERS).join(', ')}`);
    if (typeof value !== 'string') fail(key, `expected a string, got ${shown(value)}`);
    const allowed = HEADERS[name];
    if (allowed && !allowed.includes(value as string)) fail(key, `expected one of ${allowed.join(', ')}, got ${shown(value)}`);
    if (value !== '') headers[name] = value as string;
  }

  const users = new Map<string, string>();
  for (const [user, hash] of Object.entries(object(top.basic_auth_users ?? {}, 'basic_auth_users', fail))) {
    const key = `basic_auth_users.${user}`;
    // A colon cannot be sent: basic auth splits user and password at the first one.
    if (user === '' || user.includes(':')) fail(key, 'expected a user name without `:`');
    const cost = typeof hash === 'string' ? BCRYPT.exec(hash)?.[1] : undefined;
    if (cost === undefined || Number(cost) < 4 || Number(cost) > 31) fail(key, 'expected a bcrypt hash ($2y$10$... from `htpasswd -nBC 10 "" | tr -d \':\\n\'`); the value is not shown');
    users.set(user, hash as string);
  }

  const tlsSection = object(top.tls_server_config ?? {}, 'tls_server_config', fail);
  const { tls, clientAuth } = tlsOptions(tlsSection, dirname(path), fail);
  return Object.freeze({ file: path, tls, clientAuth, users, headers: Object.freeze(headers) });
}

type Fail = (key: string, problem: string) => never;

function tlsOptions(section: Record<string, unknown>, dir: string, fail: Fail): { tls: TlsOptions | undefined; clientAuth: ClientAuthType } {
  const k = (name: string): string => `tls_server_config.${name}`;
  known(section, 'tls_server_config', [
    'cert_file', 'key_file', 'cert', 'key', 'client_ca_file', 'client_ca', 'client_auth_type', 'min_version', 'max_version',
    'curve_preferences', 'prefer_server_cipher_suites', 'cipher_suites', 'client_allowed_sans',
  ], fail);
  const str = (name: string): string | undefined => {
    const v = section[name];
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v !== 'string') fail(k(name), `expected a string, got ${shown(v)}`);
    return v as string;
  };
  const pem = (inline: string, fileKey: string): { text: string; key: string } | undefined => {
    const text = str(inline);
    const file = str(fileKey);
    if (text !== undefined && file !== undefined) fail(k(inline), `set either \`${inline}\` or \`${fileKey}\`, not both`);
    if (file === undefined) return text === undefined ? undefined : { text, key: k(inline) };
    try {
      return { text: readFileSync(resolve(dir, file), 'utf8'), key: k(fileKey) };
    } catch (error) {
      return fail(k(fileKey), `cannot read \`${file}\`: ${(error as Error).message}`);
    }
  };
  const authName = str('client_auth_type');
  const cert = pem('cert', 'cert_file');
  const key = pem('key', 'key_file');
  const ca = pem('client_ca', 'client_ca_file');
  // As exporter-toolkit: any of these turns TLS on, and then a certificate and its key are needed.
  if (cert === undefined && key === undefined && ca === undefined && authName === undefined) return { tls: undefined, clientAuth: 'NoClientCert' };
  if (cert === undefined) fail(k('cert_file'), 'missing: TLS needs a certificate (`cert_file` or `cert`)');
  if (key === undefined) fail(k('key_file'), 'missing: TLS needs the certificate\'s key (`key_file` or `key`)');

  const clientAuth = authName === undefined ? 'NoClientCert' : CLIENT_AUTH_TYPES[authName];
  if (clientAuth === undefined) fail(k('client_auth_type'), `expected one of ${Object.keys(CLIENT_AUTH_TYPES).join(', ')}, got ${shown(authName)}`);
  if (ca !== undefined && clientAuth === 'NoClientCert') fail(ca.key, 'a client CA is set but `client_auth_type` is NoClientCert: set RequireAndVerifyClientCert to check client certificates');
  if (ca !== undefined) {
    try {
      const blocks = ca.text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
      if (blocks.length === 0) throw new Error('no PEM certificate in it');
      for (const block of blocks) new X509Certificate(block);
    } catch (error) {
      fail(ca.key, `not a PEM CA certificate: ${(error as Error).message}`);
    }
  }
  const version = (name: string, fallback: SecureVersion): SecureVersion => {
    const v = str(name);
    if (v === undefined) return fallback;
    return TLS_VERSIONS[v] ?? fail(k(name), `expected one of ${Object.keys(TLS_VERSIONS).join(', ')}, got ${shown(v)}`);
  };
  const minVersion = version('min_version', 'TLSv1.2');
  const maxVersion = version('max_version', 'TLSv1.3');
  if (minVersion > maxVersion) fail(k('min_version'), `${section.min_version} is above max_version ${section.max_version}`);

  const options: TlsOptions = {
    cert: cert!.text,
    key: key!.text,
    minVersion,
    maxVersion,
    // Verification against `ca` (the system CAs when unset); whether a failure ends the connection
    // is decided per client_auth_type, see metrics-server.ts.
    requestCert: clientAuth !== 'NoClientCert',
    rejectUnauthorized: clientAuth === 'RequireAndVerifyClientCert',
    ...(ca ? { ca: ca.text } : {}),
  };
  const curves = section.curve_preferences;
  if (curves !== undefined && curves !== null) {
    if (!Array.isArray(curves) || curves.length === 0) fail(k('curve_preferences'), `expected a list of ${Object.keys(CURVES).join(', ')}, got ${shown(curves)}`);
    options.ecdhCurve = (curves as unknown[]).map((c) => CURVES[String(c)] ?? fail(k('curve_preferences'), `expected one of ${Object.keys(CURVES).join(', ')}, got ${shown(c)}`)).join(':');
  }
  const prefer = section.prefer_server_cipher_suites;
  if (prefer !== undefined && typeof prefer !== 'boolean') fail(k('prefer_server_cipher_suites'), `expected true or false, got ${shown(prefer)}`);
  options.honorCipherOrder = prefer ?? true;
  try {
    // Catches a key that is not the certificate's, or PEM that is not PEM, now rather than at the first handshake.
    createSecureContext(options as SecureContextOptions);
  } catch (error) {
    fail(k('cert_file'), `the certificate and key cannot be used: ${(error as Error).message}`);
  }
  return { tls: options, clientAuth };
}

function object(value: unknown, key: string, fail: Fail): Record<string, unknown> {
  if (value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) fail(key, `expected a mapping, got ${shown(value)}`);
  return value as Record<string, unknown>;
}

function known(section: Record<string, unknown>, prefix: string, keys: readonly string[], fail: Fail): void {
  for (const name of Object.keys(section)) {
    const key = prefix === '' ? name : `${prefix}.${name}`;
    if (UNSUPPORTED.has(key)) fail(key, 'this exporter-toolkit setting is not supported by prom-client-redis');
    if (!keys.includes(name)) fail(key, `unknown key; expected one of ${keys.filter((n) => !UNSUPPORTED.has(prefix === '' ? n : `${prefix}.${n}`)).join(', ')}`);
  }
}

function shown(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return `\`${text}\` (${Array.isArray(value) ? 'list' : value === null ? 'null' : typeof value})`;
}
