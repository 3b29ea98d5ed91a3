/**
 * Structured debug logs (one JSON object a line on stderr) when `REDIS_DEBUG` or `PROMETHEUS_DEBUG`
 * is true. Callers pass no secrets; `redact` hides the password of a URL just in case.
 */
export interface Logger {
  readonly isDebug: boolean;
  debug(event: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
}

const TRUE = /^(true|1|yes|on)$/i;

export function createLogger(env: Readonly<Record<string, string | undefined>> = process.env): Logger {
  const isDebug = TRUE.test(env.REDIS_DEBUG ?? '') || TRUE.test(env.PROMETHEUS_DEBUG ?? '');
  return {
    isDebug,
    debug(event, fields) {
      if (isDebug) process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level: 'debug', event, ...fields })}\n`);
    },
    warn(message, fields) {
      process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level: 'warn', msg: `prom-client-redis: ${message}`, ...fields })}\n`);
    },
  };
}

export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable url)';
  }
}
