#!/usr/bin/env node
// The `prom-client-redis` command: `run` (the cluster launcher), `serve` (the standalone exporter),
// `status` (a read-only report). Configuration is the environment (README.md); flags override it.
// Usage mistakes exit 2 with the command's usage; operational failures exit 1.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { RedisStorageManager } from './manager.js';
import { resolveConfig } from './config.js';
import { PromClientRedisError } from './errors.js';
import { resolveAppScript, runCluster } from './integrations/launcher.js';
import { startMetricsServer } from './integrations/metrics-server.js';
import { selfMetricsFor } from './integrations/self-metrics.js';
import { MAX_WORKERS, serveSettings } from './integrations/env.js';
import { loadWebConfig } from './integrations/web-config.js';
import { runStatus } from './integrations/status.js';
import { reportFirstConnection } from './integrations/first-connection.js';

type Command = 'run' | 'serve' | 'status';

const ENVIRONMENT = `Redis is configured by REDIS_URL or REDIS_HOST/REDIS_PORT/REDIS_DB/REDIS_PASSWORD, REDIS_KEY_PREFIX, ...
(see README.md). REDIS_DEBUG=true logs flushes, collects and reconnects as JSON lines on stderr.`;

const WEB_CONFIG = `      --web.config.file FILE (PROM_CLIENT_REDIS_WEB_CONFIG_FILE): TLS and basic auth of /metrics, in
      the web config format of Prometheus' exporters (README.md, Security).`;

const USAGE: Record<Command, string> = {
  run: `prom-client-redis run [--workers N] [--port P] [--bind ADDR] [--web.config.file FILE] app.js [app args...]
      Runs app.js in N node:cluster workers (--workers, else WEB_CONCURRENCY, else one per CPU;
      1 to ${MAX_WORKERS}), instruments every HTTP server it creates, restarts crashed workers, and serves
      the cluster-wide /metrics on --port (PROMETHEUS_METRICS_PORT, 9092) at --bind
      (PROMETHEUS_BIND_ADDRESS, 0.0.0.0). The app listens on its own port. SIGTERM or SIGINT
      drains the workers, which make their final flushes.
${WEB_CONFIG}`,
  serve: `prom-client-redis serve [--port P] [--bind ADDR] [--web.config.file FILE]
      Serves /metrics and /health from Redis alone (no app in this process) on --port
      (PROMETHEUS_METRICS_PORT, 9092) at --bind (PROMETHEUS_BIND_ADDRESS, 0.0.0.0).
${WEB_CONFIG}`,
  status: `prom-client-redis status
      Prints what Redis holds under REDIS_KEY_PREFIX and the figures the processes flushed.
      Reads only; answers within REDIS_COLLECT_TIMEOUT_MS.`,
};

/** Each command's flags; every one also takes --help (-h). */
const FLAGS = {
  run: { workers: { type: 'string', short: 'w' }, port: { type: 'string', short: 'p' }, bind: { type: 'string', short: 'b' }, 'web.config.file': { type: 'string' } },
  serve: { port: { type: 'string', short: 'p' }, bind: { type: 'string', short: 'b' }, 'web.config.file': { type: 'string' } },
  status: {},
} as const;

function usage(command?: Command): string {
  const commands = command === undefined ? Object.values(USAGE) : [USAGE[command]];
  return `Usage:\n${commands.map((c) => `  ${c}`).join('\n')}\n${command === undefined ? '  prom-client-redis --version\n' : ''}\n${ENVIRONMENT}`;
}

/** A mistake on the command line: exit 2, with the usage of `command` (all of it when undefined). */
class UsageError extends PromClientRedisError {
  constructor(message: string, readonly command?: Command) {
    super('ERR_PCR_CONFIG', message);
  }
}

async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  switch (first) {
    case 'run':
    case 'serve':
    case 'status': {
      const parsed = parseFlags(first, first === 'run' ? ownArgsOfRun(rest).own : rest);
      if (parsed.help) {
        process.stdout.write(`${usage(first)}\n`);
        return 0;
      }
      if (first === 'run') return run(parsed.values, ownArgsOfRun(rest));
      if (parsed.positionals.length > 0) throw new UsageError(`Unexpected argument \`${parsed.positionals[0]}\`: \`${first}\` takes none`, first);
      return first === 'serve' ? serve(parsed.values) : status();
    }
    case 'help':
    case '--help':
    case '-h': {
      const topic = rest[0] === 'run' || rest[0] === 'serve' || rest[0] === 'status' ? rest[0] : undefined;
      process.stdout.write(`${usage(topic)}\n`);
      return 0;
    }
    case '--version':
    case '-v':
      process.stdout.write(`${packageVersion()}\n`);
      return 0;
    case undefined:
      throw new UsageError('Expected a command: run, serve or status');
    default:
      throw new UsageError(first.startsWith('-') ? `Unknown option \`${first}\`: expected a command first (run, serve or status)` : `Unknown command \`${first}\`: expected run, serve, status or help`);
  }
}

/** Options before the app path are ours; the app path and everything after it belong to the app. */
function ownArgsOfRun(argv: string[]): { own: string[]; app: string | undefined; appArgs: string[] } {
  const takesValue = new Set(['--workers', '-w', '--port', '-p', '--bind', '-b', '--web.config.file']);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') return { own: argv.slice(0, i), app: argv[i + 1], appArgs: argv.slice(i + 2) };
    if (!arg.startsWith('-') || arg === '-') return { own: argv.slice(0, i), app: arg, appArgs: argv.slice(i + 1) };
    if (takesValue.has(arg)) i++;
  }
  return { own: argv, app: undefined, appArgs: [] };
}

function parseFlags(command: Command, args: string[]): { help: boolean; values: Record<string, string | undefined>; positionals: string[] } {
  const options = { ...FLAGS[command], help: { type: 'boolean', short: 'h' } } as const;
  try {
    const { values, positionals } = parseArgs({ args, options, allowPositionals: true, strict: true });
    const { help, ...rest } = values as Record<string, string | boolean | undefined>;
    return { help: help === true, values: rest as Record<string, string | undefined>, positionals };
  } catch (error) {
    throw new UsageError(explainParseError(command, error as Error & { code?: string }, Object.keys(FLAGS[command])), command);
  }
}

/** parseArgs' own messages name Node's internals and no command; ours name the flag and the fix. */
function explainParseError(command: Command, error: Error & { code?: string }, flags: string[]): string {
  const flag = /'(-[^']*)'/.exec(error.message)?.[1] ?? /(--[\w-]+)/.exec(error.message)?.[1] ?? '';
  if (error.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const name = flag.replace(/^-+/, '').split('=')[0]!;
    const near = flags.find((f) => isNear(f, name));
    const known = flags.length === 0 ? 'it takes none but --help' : `expected ${flags.map((f) => `--${f}`).join(', ')} or --help`;
    return `Unknown option \`${flag}\` for \`${command}\`: ${near ? `did you mean \`--${near}\`? ` : ''}${known}`;
  }
  if (error.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const long = /--([\w-]+)/.exec(error.message)?.[0] ?? flag;
    if (/ambiguous/.test(error.message)) return `Option \`${long}\` needs a value; for one that starts with a dash, write \`${long}=<value>\``;
    return /argument missing/.test(error.message) ? `Option \`${long}\` needs a value` : `Option \`${long}\` takes no value`;
  }
  return error.message;
}

/** Same letters give or take one (a typo, a swap): `wrokers` is near `workers`, `prot` near `port`. */
function isNear(a: string, b: string): boolean {
  if (Math.abs(a.length - b.length) > 1) return false;
  const sorted = (s: string) => [...s].sort().join('');
  if (a.length === b.length && sorted(a) === sorted(b)) return true;
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  return a.slice(i + 1) === b.slice(i + 1) || a.slice(i + 1) === b.slice(i) || a.slice(i) === b.slice(i + 1);
}

async function run(values: Record<string, string | undefined>, parts: { app: string | undefined; appArgs: string[] }): Promise<number> {
  const workers = values.workers === undefined ? undefined : integerFlag('run', '--workers', values.workers, 1, MAX_WORKERS);
  const port = values.port === undefined ? undefined : integerFlag('run', '--port', values.port, 0, 65535);
  if (values.bind === '') throw new UsageError('Expected --bind to be an address, got an empty string', 'run');
  if (parts.app === undefined) throw new UsageError('Expected the path of the app script after the options', 'run');
  try {
    resolveAppScript(parts.app);
  } catch (error) {
    throw new UsageError((error as Error).message, 'run');
  }
  // Listen before start-up: a SIGTERM while the workers are being forked stops the forking at once.
  const abort = new AbortController();
  const signal = untilSignal().then(() => abort.abort());
  const handle = await runCluster({
    app: parts.app,
    args: parts.appArgs,
    signal: abort.signal,
    ...(workers === undefined ? {} : { workers }),
    ...(port === undefined ? {} : { metricsPort: port }),
    ...(values.bind === undefined ? {} : { bindAddress: values.bind }),
    ...(values['web.config.file'] === undefined ? {} : { webConfigFile: values['web.config.file'] }),
  });
  const outcome = await Promise.race([signal.then(() => 'signal' as const), handle.failed]);
  await handle.stop();
  return outcome === 'signal' ? 0 : 1;
}

async function serve(values: Record<string, string | undefined>): Promise<number> {
  const port = values.port === undefined ? undefined : integerFlag('serve', '--port', values.port, 0, 65535);
  if (values.bind === '') throw new UsageError('Expected --bind to be an address, got an empty string', 'serve');
  const settings = serveSettings();
  const webConfigFile = values['web.config.file'] ?? settings.webConfigFile;
  // Checked before Redis is waited for: a bad file fails the start at once.
  const webConfig = webConfigFile === undefined ? undefined : await loadWebConfig(webConfigFile);
  const signal = untilSignal();
  // The exporter only reads Redis: it is pointless without it, so it is on whatever REDIS_ENABLED says.
  // A misspelt REDIS_ENABLED is refused all the same, as `run` and the app refuse it.
  resolveConfig({}, process.env);
  const storage = new RedisStorageManager({ enabled: true });
  selfMetricsFor(storage);
  // Announce once Redis answers, so the first scrape is not a 503; at once when it says it is down.
  await reportFirstConnection(storage, (line) => process.stderr.write(`prom-client-redis: ${line}\n`), 'serving 503 on /metrics until it answers');
  let server;
  try {
    server = await startMetricsServer({
      storage,
      port: port ?? settings.metricsPort,
      bindAddress: values.bind ?? settings.bindAddress,
      maxConnections: settings.maxConnections,
      ...(webConfig ? { webConfig } : {}),
    });
  } catch (error) {
    await storage.shutdown();
    throw error;
  }
  process.stdout.write(`[prom-client-redis] exporter: metrics on ${server.url}/metrics, health on ${server.url}/health\n`);
  await signal;
  await server.close();
  await storage.shutdown();
  return 0;
}

async function status(): Promise<number> {
  const report = await runStatus();
  process.stdout.write(`${report.text}\n`);
  return report.ok ? 0 : 1;
}

function integerFlag(command: Command, name: string, raw: string, min: number, max: number): number {
  const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`Expected ${name} to be an integer from ${min} to ${max}, got \`${raw}\``, command);
  return n;
}

function packageVersion(): string {
  // dist/src/cli.js -> package.json, in the repository and in an installed package alike.
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/**
 * The first SIGTERM or SIGINT resolves (the command then stops in order); a second one exits at
 * once. The listener stays installed: the storage's exit hooks stand back only while the process
 * has a listener of its own, and must not race this command's orderly stop.
 */
function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let received: NodeJS.Signals | undefined;
    const on = (signal: NodeJS.Signals) => {
      if (received !== undefined) {
        process.stderr.write(`prom-client-redis: second ${signal} while stopping: exiting now\n`);
        process.exit(1);
      }
      received = signal;
      resolve(signal);
    };
    process.on('SIGTERM', on).on('SIGINT', on);
  });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: Error & { code?: string }) => {
    process.stderr.write(`prom-client-redis: ${error.message}${error.code ? ` (${error.code})` : ''}\n`);
    if (error instanceof UsageError) process.stderr.write(`\n${usage(error.command)}\n`);
    process.exit(error instanceof UsageError ? 2 : 1);
  },
);
