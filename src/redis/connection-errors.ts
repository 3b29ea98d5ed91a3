import { isTlsConfig, type ResolvedConfig } from '../config.js';
import { AuthError, ConfigError, RedisOperationError, ReplicationError, TlsError, type PromClientRedisError } from '../errors.js';

/**
 * Turns the low-level errors of a misconfigured connection (a certificate the CA does not vouch
 * for, a refused password, an ACL user without a needed right) into errors that name the setting
 * to fix. Never quotes a credential: ioredis attaches the AUTH command (password included) to its
 * reply errors, so the original error is not kept as `cause` for authentication failures.
 */
export function explainConnectionError(error: Error, config: ResolvedConfig, hasBeenReady = true): PromClientRedisError | undefined {
  const code = (error as NodeJS.ErrnoException).code ?? '';
  // OpenSSL's messages end in a newline; an error message is one line.
  const message = (error.message ?? '').replace(/\s+/g, ' ').trim();
  const isTls = isTlsConfig(config);
  const command = (error as { command?: { name?: unknown; args?: unknown[] } }).command;
  if (command?.name === 'select') {
    // ioredis reports a failed SELECT and goes on to `ready` on database 0: every write would land
    // in another database than the one configured. The client closes the connection on this error.
    const db = String(command.args?.[0] ?? config.db);
    const why = /^NOPERM/.test(message) ? `user \`${usernameOf(config)}\` may not run SELECT: add +select to its ACL line` : "the server has fewer databases (its `databases` setting, 16 by default)";
    return new ConfigError(
      `Redis refused SELECT ${db} (${firstWords(message)}): ${why}; check REDIS_DB (db) or the database in REDIS_URL. Not connected, so that nothing is written to database 0`,
    );
  }
  if (!hasBeenReady && /before secure TLS connection was established|wrong version number|packet length too long|unknown protocol/i.test(message)) {
    return new TlsError(
      `TLS: the server did not answer the TLS handshake (${message}): it probably does not speak TLS on this port. ` +
        'Connect without TLS (unset REDIS_SSL, use a redis:// URL) or to its TLS port (tls-port)',
    );
  }
  if (isTls && !hasBeenReady && code === 'ETIMEDOUT') {
    // A plaintext Redis reads a TLS ClientHello as the start of a command and waits for the rest:
    // the handshake hangs until ioredis' connect timeout, the same as for a host that does not answer.
    return new RedisOperationError(
      `TLS: no TLS handshake with the Redis server within the connect timeout (${message}): either it is not reachable, ` +
        'or it does not speak TLS on this port (a plaintext Redis never answers a handshake): check the port, or connect without TLS (unset REDIS_SSL, use a redis:// URL)',
    );
  }
  if (!isTls && !hasBeenReady && /ECONNRESET/.test(`${code} ${message}`)) {
    return new RedisOperationError(
      `The Redis server closed the connection before it ever answered (${code || message}): it stopped, or it speaks only TLS on this port (then set REDIS_SSL=true or use a rediss:// URL)`,
    );
  }
  if (isTls && !hasBeenReady && config.sslCertFile === undefined && /ECONNRESET|EPIPE/.test(`${code} ${message}`)) {
    // A server that wants a client certificate checks it after the TLS 1.3 handshake and hangs up;
    // its alert often loses the race with our first write, which then fails with a reset.
    return new TlsError(
      `TLS: the Redis server closed the connection right after the handshake (${message}), before it ever answered: ` +
        'if it requires client certificates (tls-auth-clients), set REDIS_SSL_CERT and REDIS_SSL_KEY (sslCertFile, sslKeyFile)',
    );
  }
  if (TLS_VERIFY_CODES.has(code) || /certificate|self[- ]signed|unable to get local issuer/i.test(message)) {
    if (/alert|handshake failure/i.test(message)) {
      // The server refused our certificate (mutual TLS), not the other way round.
      return new TlsError(
        `TLS: the Redis server rejected this client's certificate (${message}): check REDIS_SSL_CERT and REDIS_SSL_KEY (sslCertFile, sslKeyFile)`,
      );
    }
    const ca = config.sslCaFile === undefined ? 'not set, so only the system CAs are trusted' : `now \`${config.sslCaFile}\``;
    return new TlsError(
      `TLS: the Redis server's certificate was not accepted (${code ? `${code}: ` : ''}${message}): check REDIS_SSL_CA (sslCaFile, ${ca}); ` +
        'it must name the CA that signed the server certificate. REDIS_SSL_VERIFY=false turns verification off (not for production)',
      { cause: error },
    );
  }
  if (/^NOPERM/.test(message)) {
    // Refused while connecting: ioredis' own commands (CLUSTER SLOTS, CLUSTER INFO, SELECT).
    return explainCommandError(error, config, 'connect');
  }
  if (/^(WRONGPASS|NOAUTH)|invalid password|invalid username-password/i.test(message)) {
    return new AuthError(
      `Redis refused the credentials of user \`${usernameOf(config)}\` (${firstWords(message)}): ${urlHasCredentials(config) ? 'check the user and password in REDIS_URL (url)' : 'check REDIS_USERNAME and REDIS_PASSWORD (username, password)'}`,
    );
  }
  return undefined;
}

/** A command refused by the ACL: names the user and where the minimal rights are listed. */
export function explainCommandError(error: Error, config: ResolvedConfig, what: string): PromClientRedisError | undefined {
  if (/^NOPERM/.test(error.message)) {
    return new AuthError(
      `${what}: Redis user \`${usernameOf(config)}\` lacks a right (${firstWords(error.message)}): ` +
        `it needs the keys ~${config.keyPrefix}:* and the commands of the minimal ACL line in docs/scale-out.md`,
    );
  }
  return undefined;
}

/** The user ioredis logs in as: the REDIS_URL's, else REDIS_USERNAME, else Redis' `default`. */
export function usernameOf(config: Pick<ResolvedConfig, 'url' | 'username'>): string {
  if (config.url !== undefined) {
    const name = new URL(config.url).username;
    if (name !== '') return decodeURIComponent(name);
  }
  return config.username ?? 'default';
}

function urlHasCredentials(config: Pick<ResolvedConfig, 'url'>): boolean {
  if (config.url === undefined) return false;
  const url = new URL(config.url);
  return url.username !== '' || url.password !== '';
}

/** Errors that say a cluster command was not run where it was sent, so sending it again is right. */
export function isRedirection(error: Error | null): boolean {
  return error !== null && /^(MOVED|ASK|TRYAGAIN|CLUSTERDOWN) |^Connection is closed|isn't ready/.test(error.message);
}

export function waitShortfall(acknowledged: unknown, wanted: number, timeoutMs: number): ReplicationError {
  return new ReplicationError(
    `WAIT: ${String(acknowledged)} of ${wanted} replicas acknowledged the flush within ${timeoutMs} ms ` +
      '(REDIS_WAIT_REPLICAS, REDIS_WAIT_TIMEOUT_MS); the flush is kept and retried',
  );
}

const TLS_VERIFY_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** The reply's first sentence only: enough to recognise, and nothing the caller sent. */
function firstWords(message: string): string {
  return message.split('\n')[0]!.slice(0, 160);
}
