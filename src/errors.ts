/**
 * Every error this library throws carries a stable `code`, so callers can branch on it
 * without parsing messages (the undici habit).
 */
export type PromClientRedisErrorCode =
  | 'ERR_PCR_CONFIG'
  | 'ERR_PCR_INVALID_METRIC'
  | 'ERR_PCR_INVALID_LABEL'
  | 'ERR_PCR_INVALID_VALUE'
  | 'ERR_PCR_DUPLICATE_METRIC'
  | 'ERR_PCR_REDIS'
  | 'ERR_PCR_TIMEOUT'
  | 'ERR_PCR_SHUTDOWN'
  | 'ERR_PCR_TLS'
  | 'ERR_PCR_AUTH'
  | 'ERR_PCR_REPLICAS'
  | 'ERR_PCR_RESTORING';

export class PromClientRedisError extends Error {
  readonly code: PromClientRedisErrorCode;

  constructor(code: PromClientRedisErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A bad option or environment variable; thrown at start-up, naming the variable. */
export class ConfigError extends PromClientRedisError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_PCR_CONFIG', message, options);
  }
}

/** Misuse of the metric API: bad name, label or value. Thrown synchronously by the call. */
export class ValidationError extends PromClientRedisError {
  constructor(code: 'ERR_PCR_INVALID_METRIC' | 'ERR_PCR_INVALID_LABEL' | 'ERR_PCR_INVALID_VALUE' | 'ERR_PCR_DUPLICATE_METRIC', message: string) {
    super(code, message);
  }
}

/** Redis answered with an error, or not at all. Never thrown into the hot path. */
export class RedisOperationError extends PromClientRedisError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_PCR_REDIS', message, options);
  }
}

export class TimeoutError extends PromClientRedisError {
  constructor(message: string) {
    super('ERR_PCR_TIMEOUT', message);
  }
}

/** The TLS handshake failed: a certificate was not accepted. Names REDIS_SSL_CA or REDIS_SSL_CERT/KEY. */
export class TlsError extends PromClientRedisError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_PCR_TLS', message, options);
  }
}

/** Credentials refused, or an ACL user without a needed right. Never quotes the password. */
export class AuthError extends PromClientRedisError {
  constructor(message: string) {
    super('ERR_PCR_AUTH', message);
  }
}

/** `WAIT` saw fewer replicas acknowledge a flush than REDIS_WAIT_REPLICAS asks: the flush is retried. */
export class ReplicationError extends PromClientRedisError {
  constructor(message: string) {
    super('ERR_PCR_REPLICAS', message);
  }
}

/**
 * Redis lost data (an empty restart, a failover to an empty replica, FLUSHALL) and the writers have
 * not all re-sent it yet: a collect now would show totals lower than before. HTTP endpoints answer
 * 503, so that Prometheus stores no counter reset (see docs/design.md, Restoration).
 */
export class RestoringError extends PromClientRedisError {
  constructor(message: string) {
    super('ERR_PCR_RESTORING', message);
  }
}

/** Formats a value for an error message: `abc` (string), `-1` (number). */
export function describe(value: unknown): string {
  let shown: string;
  if (typeof value === 'string') shown = value;
  else if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') shown = String(value);
  else if (value === undefined || value === null) shown = String(value);
  else {
    try {
      shown = JSON.stringify(value) ?? String(value);
    } catch {
      shown = Object.prototype.toString.call(value);
    }
  }
  // A lone surrogate would print as U+FFFD: show which one it is.
  shown = shown.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, (c) => `\\u${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `\`${shown}\` (${value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value})`;
}
