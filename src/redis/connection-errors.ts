import type { ResolvedConfig } from '../config.js';
import { AuthError, ReplicationError, TlsError, type PromClientRedisError } from '../errors.js';

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
  const isTls = config.ssl || (config.url?.startsWith('rediss:') ?? false);
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
      `Redis refused the credentials of user \`${config.username ?? 'default'}\` (${firstWords(message)}): check REDIS_USERNAME and REDIS_PASSWORD (username, password)`,
    );
  }
  return undefined;
}

/** A command refused by the ACL: names the user and where the minimal rights are listed. */
export function explainCommandError(error: Error, config: ResolvedConfig, what: string): PromClientRedisError | undefined {
  if (/^NOPERM/.test(error.message)) {
    return new AuthError(
      `${what}: Redis user \`${config.username ?? 'default'}\` lacks a right (${firstWords(error.message)}): ` +
        `it needs the keys ~${config.keyPrefix}:* and the commands of the minimal ACL line in docs/scale-out.md`,
    );
  }
  return undefined;
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
