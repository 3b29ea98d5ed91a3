#!/usr/bin/env node
// The `prom-client-redis` command: `run` (the cluster launcher), `serve` (the standalone exporter),
// `status` (a short report). Configuration is the environment, as in the seed (README.md).
import { parseArgs } from 'node:util';
import { RedisStorageManager } from './manager.js';
import { PromClientRedisError } from './errors.js';
import { runCluster } from './integrations/launcher.js';
import { startMetricsServer } from './integrations/metrics-server.js';
import { selfMetricsFor } from './integrations/self-metrics.js';
import { serveSettings } from './integrations/env.js';
import { loadWebConfig } from './integrations/web-config.js';
import { statusReport } from './integrations/status.js';

const USAGE = `Usage:
  prom-client-redis run [--workers N] [--port P] [--bind ADDR] [--web.config.file FILE] app.js [app args...]
      Runs app.js in N node:cluster workers (WEB_CONCURRENCY, else one per CPU), instruments
      every HTTP server it creates, restarts crashed workers, and serves the cluster-wide
      /metrics on PROMETHEUS_METRICS_PORT (9092) at PROMETHEUS_BIND_ADDRESS (0.0.0.0).
  prom-client-redis serve [--port P] [--bind ADDR] [--web.config.file FILE]
      Serves /metrics and /health from Redis alone (no app in this process).
  --web.config.file FILE (PROM_CLIENT_REDIS_WEB_CONFIG_FILE): TLS and basic auth of /metrics, in the
      web config format of Prometheus' exporters (README.md, Security).
  prom-client-redis status
      Prints what Redis holds under REDIS_KEY_PREFIX and the backend's own figures.

Redis is configured by REDIS_URL or REDIS_HOST/REDIS_PORT/REDIS_DB/REDIS_PASSWORD, REDIS_KEY_PREFIX, ...
(see README.md). REDIS_DEBUG=true logs flushes, collects and reconnects as JSON lines on stderr.`;

class UsageError extends PromClientRedisError {
  constructor(message: string) {
    super('ERR_PCR_CONFIG', message);
  }
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'run':
      return run(rest);
    case 'serve':
      return serve(rest);
    case 'status':
      return status(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`${USAGE}\n`);
      return command === undefined ? 2 : 0;
    default:
      throw new UsageError(`Unknown command \`${command}\`: expected run, serve, status or help`);
  }
}

/** Options before the app path are ours; everything from the app path on belongs to the app. */
async function run(argv: string[]): Promise<number> {
  const firstPositional = argv.findIndex((a, i) => !a.startsWith('-') && !['--workers', '-w', '--port', '-p', '--bind', '-b', '--web.config.file'].includes(argv[i - 1] ?? ''));
  const own = firstPositional === -1 ? argv : argv.slice(0, firstPositional);
  const { values } = parseArgs({ args: own, options: { workers: { type: 'string', short: 'w' }, port: { type: 'string', short: 'p' }, bind: { type: 'string', short: 'b' }, 'web.config.file': { type: 'string' } } });
  if (firstPositional === -1) throw new UsageError('Expected the path of the app script: prom-client-redis run [--workers N] app.js');
  const handle = await runCluster({
    app: argv[firstPositional]!,
    args: argv.slice(firstPositional + 1),
    ...(values.workers === undefined ? {} : { workers: integerOption('--workers', values.workers, 1) }),
    ...(values.port === undefined ? {} : { metricsPort: integerOption('--port', values.port, 0) }),
    ...(values.bind === undefined ? {} : { bindAddress: values.bind }),
    ...(values['web.config.file'] === undefined ? {} : { webConfigFile: values['web.config.file'] }),
  });
  await untilSignal();
  await handle.stop();
  return 0;
}

async function serve(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { port: { type: 'string', short: 'p' }, bind: { type: 'string', short: 'b' }, 'web.config.file': { type: 'string' } } });
  const settings = serveSettings();
  const webConfigFile = values['web.config.file'] ?? settings.webConfigFile;
  // Checked before Redis is waited for: a bad file fails the start at once.
  const webConfig = webConfigFile === undefined ? undefined : await loadWebConfig(webConfigFile);
  // The exporter only reads Redis: it is pointless without it, so it is on whatever REDIS_ENABLED says.
  const storage = new RedisStorageManager({ enabled: true });
  selfMetricsFor(storage);
  // Announce once Redis answers, so the first scrape is not a 503; serve anyway if it does not.
  await storage.waitUntilConnected().catch((error: Error) => process.stderr.write(`prom-client-redis: ${error.message}; serving 503 until it answers\n`));
  const server = await startMetricsServer({
    storage,
    port: values.port === undefined ? settings.metricsPort : integerOption('--port', values.port, 0),
    bindAddress: values.bind ?? settings.bindAddress,
    maxConnections: settings.maxConnections,
    ...(webConfig ? { webConfig } : {}),
  });
  process.stdout.write(`[prom-client-redis] exporter: metrics on ${server.url}/metrics, health on ${server.url}/health\n`);
  await untilSignal();
  await server.close();
  await storage.shutdown();
  return 0;
}

async function status(argv: string[]): Promise<number> {
  parseArgs({ args: argv, options: {} });
  const storage = new RedisStorageManager({ enabled: true });
  try {
    const report = await statusReport(storage);
    process.stdout.write(`${report.text}\n`);
    return report.ok ? 0 : 1;
  } finally {
    await storage.shutdown();
  }
}

function integerOption(name: string, raw: string, min: number): number {
  const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`Expected ${name} to be an integer >= ${min}, got \`${raw}\``);
  return n;
}

function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals) => {
      process.off('SIGTERM', on).off('SIGINT', on);
      resolve(signal);
    };
    process.on('SIGTERM', on).on('SIGINT', on);
  });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: Error & { code?: string }) => {
    process.stderr.write(`prom-client-redis: ${error.message}${error.code ? ` (${error.code})` : ''}\n`);
    if (error instanceof UsageError) process.stderr.write(`\n${USAGE}\n`);
    process.exit(error instanceof UsageError ? 2 : 1);
  },
);
