// Certificates made on the spot with the openssl CLI (nothing secret is committed, nothing expires
// in the repo), and a redis-server that speaks only TLS.
//
// EC P-256 keys: generated in milliseconds, where RSA keys take a noticeable share of a test.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir } from './reaper.js';
import { startRedis, type RedisServer } from './redis-server.js';

/** Paths of PEM files. */
export interface Certificates {
  dir: string;
  caCertFile: string;
  caKeyFile: string;
  /** For 127.0.0.1 and localhost (subjectAltName), signed by the CA; usable by a client too. */
  serverCertFile: string;
  serverKeyFile: string;
  /** CN=client, signed by the CA, for servers that ask for a client certificate. */
  clientCertFile: string;
  clientKeyFile: string;
  /** A CA that signed nothing above: trusting only it must fail with a certificate error. */
  otherCaCertFile: string;
  otherCaKeyFile: string;
  /** A client certificate signed by the other CA, which a server trusting the CA must reject. */
  otherClientCertFile: string;
  otherClientKeyFile: string;
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
const DAYS = ['-days', '2'];

function openssl(args: readonly string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('openssl', args, { cwd, env: { PATH: process.env.PATH ?? '' } }, (error, _stdout, stderr) => {
      if (error) reject(new Error(`openssl ${args.join(' ')} failed: ${error.message}\n${stderr}`));
      else resolve();
    });
  });
}

async function makeCa(dir: string, name: string, commonName: string): Promise<void> {
  await openssl([
    'req', '-x509', ...EC_KEY, ...DAYS, '-keyout', `${name}.key`, '-out', `${name}.crt`, '-subj', `/CN=${commonName}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ], dir);
}

async function makeLeaf(dir: string, name: string, ca: string, commonName: string, extensions: string): Promise<void> {
  writeFileSync(join(dir, `${name}.ext`), extensions);
  await openssl(['req', '-new', ...EC_KEY, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${commonName}`], dir);
  await openssl([
    'x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`,
    // A random serial, not -CAcreateserial: leaves are signed in parallel and a shared serial
    // file is read while another openssl rewrites it.
    '-set_serial', `0x${randomBytes(8).toString('hex')}`, ...DAYS, '-out', `${name}.crt`, '-extfile', `${name}.ext`,
  ], dir);
}

/** Writes a CA, server, client, other CA and other client certificate into `dir`. */
export async function makeCertificates(dir: string = makeTempDir('tls-certs')): Promise<Certificates> {
  await Promise.all([
    makeCa(dir, 'ca', 'prom-client-redis test CA'),
    makeCa(dir, 'other-ca', 'unrelated test CA'),
  ]);
  // Redis uses its server certificate as client certificate too (replication, cluster bus).
  const serverExtensions = 'basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n';
  const clientExtensions = 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n';
  await Promise.all([
    makeLeaf(dir, 'server', 'ca', 'localhost', serverExtensions),
    makeLeaf(dir, 'client', 'ca', 'client', clientExtensions),
    makeLeaf(dir, 'other-client', 'other-ca', 'other client', clientExtensions),
  ]);
  const file = (name: string): string => join(dir, name);
  return {
    dir,
    caCertFile: file('ca.crt'),
    caKeyFile: file('ca.key'),
    serverCertFile: file('server.crt'),
    serverKeyFile: file('server.key'),
    clientCertFile: file('client.crt'),
    clientKeyFile: file('client.key'),
    otherCaCertFile: file('other-ca.crt'),
    otherCaKeyFile: file('other-ca.key'),
    otherClientCertFile: file('other-client.crt'),
    otherClientKeyFile: file('other-client.key'),
  };
}

/** Reads a PEM file, for ioredis' `tls: { ca, cert, key }`. */
export function readPem(path: string): Buffer {
  return readFileSync(path);
}

export interface StartTlsRedisOptions {
  /** @default new certificates from makeCertificates() */
  certs?: Certificates;
  /** `tls-auth-clients`: whether a client certificate is needed. @default 'optional' */
  authClients?: 'no' | 'optional' | 'yes';
  /** Extra redis-server arguments. */
  args?: readonly string[];
}

export type TlsRedisServer = RedisServer & { readonly certs: Certificates };

/**
 * Starts a redis-server listening on a TLS port only (`--port 0 --tls-port P`). Its `port`, `url`
 * (`rediss://`), `cli()` and `redisOptions()` all use TLS with the CA and the client certificate.
 */
export async function startTlsRedis(options: StartTlsRedisOptions = {}): Promise<TlsRedisServer> {
  const certs = options.certs ?? (await makeCertificates());
  const server = await startRedis({
    label: 'tls-redis',
    tls: { caCertFile: certs.caCertFile, certFile: certs.clientCertFile, keyFile: certs.clientKeyFile },
    args: [
      '--tls-cert-file', certs.serverCertFile,
      '--tls-key-file', certs.serverKeyFile,
      '--tls-ca-cert-file', certs.caCertFile,
      '--tls-auth-clients', options.authClients ?? 'optional',
      ...(options.args ?? []),
    ],
  });
  return Object.assign(server, { certs });
}
