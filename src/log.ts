/**
 * Structured debug logs (one JSON object a line on stderr) when `REDIS_DEBUG` or `PROMETHEUS_DEBUG`
 * is true. Callers pass no secrets; `redact` hides the password of a URL just in case.
 */
export interface Logger {
  readonly isDebug: boolean;
  debug(event: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
}

/**
 * The spellings every boolean variable accepts (config.ts). A logger cannot refuse to start, so a
 * value outside them is warned about, naming it, and debug logs stay off.
 */
function debugFlag(env: Readonly<Record<string, string | undefined>>, name: string, problems: string[]): boolean {
  const raw = env[name];
  const v = raw?.trim().toLowerCase() ?? '';
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (!['', 'false', '0', 'no', 'off'].includes(v)) problems.push(`Invalid environment variable ${name}: expected true or false (or 1/0, yes/no, on/off), got \`${raw}\`; debug logs stay off`);
  return false;
}

export function createLogger(env: Readonly<Record<string, string | undefined>> = process.env): Logger {
  const problems: string[] = [];
  const isDebug = debugFlag(env, 'REDIS_DEBUG', problems) || debugFlag(env, 'PROMETHEUS_DEBUG', problems);
  const logger: Logger = {
    isDebug,
    debug(event, fields) {
      if (isDebug) process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level: 'debug', event, ...fields })}\n`);
    },
    warn(message, fields) {
      process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level: 'warn', msg: `prom-client-redis: ${message}`, ...fields })}\n`);
    },
  };
  for (const problem of problems) logger.warn(problem);
  return logger;
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
