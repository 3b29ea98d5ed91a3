// Real redis-server processes owned by the test that starts them: a free port, a private temp dir,
// no persistence, and a SIGKILL at process exit if the test did not stop them (see reaper.ts).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Redis, type RedisOptions } from 'ioredis';
import { freePort } from './ports.js';
import { dieWithParent, exitOf, keepAlive, makeTempDir, pollUntil, trackChild, withDeadline } from './reaper.js';

export const LOCALHOST = '127.0.0.1';

/** Client-side TLS files, used by the readiness PING, cli() and redisOptions(). */
export interface TlsClientFiles {
  caCertFile: string;
  certFile?: string;
  keyFile?: string;
}

export interface StartRedisOptions {
  /** Port to listen on. @default a free port (and a new one if another process takes it first) */
  port?: number;
  /** Extra command-line arguments, appended after the defaults (e.g. `['--replicaof', host, port]`). */
  args?: readonly string[];
  /** A config file given as first argument; sentinels need one they can rewrite. */
  configFile?: string;
  /** Run as a sentinel (`--sentinel`, and no persistence flags, which sentinel does not take). @default false */
  isSentinel?: boolean;
  /** Directory for the log, nodes.conf and any data. @default a new temp dir */
  dir?: string;
  /** Credentials the readiness PING and cli() use, when the args enable requirepass or ACLs. */
  username?: string;
  password?: string;
  /** When set, `port` is the TLS port (`--port 0 --tls-port P`); the server cert args go in `args`. */
  tls?: TlsClientFiles;
  /** How long to wait for PING to be answered. @default 10000 */
  startTimeoutMs?: number;
  /** Names the temp dir, to make leftovers recognisable. @default 'redis' */
  label?: string;
}

/** A running redis-server (or sentinel). */
export class RedisServer {
  readonly host = LOCALHOST;
  readonly port: number;
  readonly dir: string;
  readonly #options: StartRedisOptions;
  #child: ChildProcess;
  #isFrozen = false;

  /** Use startRedis(). */
  constructor(child: ChildProcess, port: number, dir: string, options: StartRedisOptions) {
    this.#child = child;
    this.port = port;
    this.dir = dir;
    this.#options = options;
  }

  get pid(): number {
    return this.#child.pid ?? -1;
  }

  get isRunning(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** `redis://127.0.0.1:P` (`rediss://` with TLS); credentials are not in it, see redisOptions(). */
  get url(): string {
    return `${this.#options.tls ? 'rediss' : 'redis'}://${this.host}:${this.port}`;
  }

  /** Options for `new Redis(...)` that reach this server, TLS and credentials included. */
  redisOptions(extra: RedisOptions = {}): RedisOptions {
    const { tls, username, password } = this.#options;
    return {
      host: this.host,
      port: this.port,
      ...(username === undefined ? {} : { username }),
      ...(password === undefined ? {} : { password }),
      ...(tls ? { tls: readTlsFiles(tls) } : {}),
      ...extra,
    };
  }

  /** SIGTERM, then waits for the exit (SIGKILL if it takes more than 5 s). A no-op once exited. */
  async stop(): Promise<void> {
    if (!this.isRunning) return;
    this.thaw(); // a stopped process does not act on SIGTERM until continued
    this.#child.kill('SIGTERM');
    await withDeadline(exitOf(this.#child), 5_000, () => 'stop').catch(() => this.kill());
  }

  /** SIGKILL and wait for the exit: a crash, with no chance to reply or clean up. */
  async kill(): Promise<void> {
    if (!this.isRunning) return;
    this.#child.kill('SIGKILL');
    await exitOf(this.#child);
    this.#isFrozen = false;
  }

  /** SIGSTOP: connections stay open but nothing is answered (a hung server). */
  freeze(): void {
    if (this.#isFrozen || !this.isRunning) return;
    this.#child.kill('SIGSTOP');
    this.#isFrozen = true;
  }

  /** SIGCONT: the server answers again, including what it was sent while frozen. */
  thaw(): void {
    if (!this.#isFrozen || !this.isRunning) return;
    this.#child.kill('SIGCONT');
    this.#isFrozen = false;
  }

  /**
   * Kills the server and starts it again on the same port with no data, as after a restart
   * without persistence or a failover to an empty replica. A cluster node keeps its nodes.conf,
   * so it comes back as the same node (owning the same slots) with no keys.
   */
  async restartEmpty(): Promise<void> {
    await this.kill();
    for (const file of ['dump.rdb', 'appendonly.aof', 'appendonlydir']) {
      rmSync(join(this.dir, file), { recursive: true, force: true });
    }
    this.#child = await spawnUntilReady(this.port, this.dir, this.#options);
  }

  /**
   * Runs `redis-cli` against this server; resolves with its stdout less the final newline. Output
   * is redis-cli's raw form (one line per element, '' for nil); an error reply comes back as its
   * text ('ERR ...'), since redis-cli exits 0 for it.
   */
  cli(...args: string[]): Promise<string> {
    return runRedisCli([...cliConnectionArgs(this.port, this.#options), ...args]);
  }

  /** The last `lineCount` lines of the server's log, for failure messages. */
  logTail(lineCount = 30): string {
    return tailOfFile(join(this.dir, 'redis.log'), lineCount);
  }
}

/** Starts a redis-server and resolves once it answers PING. */
export async function startRedis(options: StartRedisOptions = {}): Promise<RedisServer> {
  const dir = options.dir ?? makeTempDir(options.label ?? 'redis');
  // A port picked here can be taken by another process before redis binds it: try a few.
  for (let attempt = 1; ; attempt++) {
    const port = options.port ?? (await freePort());
    try {
      const child = await spawnUntilReady(port, dir, options);
      return new RedisServer(child, port, dir, options);
    } catch (error) {
      const isPortTaken = error instanceof Error && error.message.includes('Address already in use');
      if (options.port !== undefined || !isPortTaken || attempt === 3) throw error;
    }
  }
}

let prefixCount = 0;

/** A key prefix no other test (in this or a parallel test process) uses: `t:<name>:<pid>:<n>:<rand>`. */
export function newPrefix(name: string): string {
  const safeName = name.replace(/[{}\s]+/g, '_');
  prefixCount += 1;
  return `t:${safeName}:${process.pid}:${prefixCount}:${randomBytes(3).toString('hex')}`;
}

function serverArgs(port: number, dir: string, options: StartRedisOptions): string[] {
  const portArgs = options.tls ? ['--port', '0', '--tls-port', String(port)] : ['--port', String(port)];
  // A master waits repl-diskless-sync-delay (5 s) for more replicas before a full sync; tests
  // that start replicas (cluster, sentinel, replicaof) would wait that long for each.
  const dataArgs = options.isSentinel ? [] : ['--save', '', '--appendonly', 'no', '--repl-diskless-sync-delay', '0'];
  return [
    ...(options.configFile === undefined ? [] : [options.configFile]),
    ...(options.isSentinel ? ['--sentinel'] : []),
    ...portArgs,
    '--bind', LOCALHOST,
    ...dataArgs,
    '--dir', dir,
    ...(options.args ?? []),
  ];
}

async function spawnUntilReady(port: number, dir: string, options: StartRedisOptions): Promise<ChildProcess> {
  const logPath = join(dir, 'redis.log');
  // Redis logs to stdout when no logfile is set; a file (not a pipe) never blocks it and keeps the
  // startup errors it prints before reading its config.
  const logFd = openSync(logPath, 'a');
  const args = serverArgs(port, dir, options);
  const [command, commandArgs] = dieWithParent('redis-server', args);
  const child = spawn(command, commandArgs, { cwd: dir, stdio: ['ignore', logFd, logFd], env: { PATH: process.env.PATH ?? '' } });
  closeSync(logFd);
  trackChild(child);

  const describe = (why: string): string =>
    `redis-server on port ${port} ${why}\n  args: ${args.map((a) => (a === '' ? '""' : a)).join(' ')}\n  log tail (${logPath}):\n${tailOfFile(logPath, 20)}`;
  // Plain listeners, not exitOf(): its keep-alive timer would hold the loop open as long as the
  // server runs.
  let onExit: (code: number | null, signal: NodeJS.Signals | null) => void = () => {};
  let onError: (error: Error) => void = () => {};
  const exitedEarly = new Promise<never>((_, reject) => {
    onExit = (code, signal) => reject(new Error(describe(`exited during startup (code ${code}, signal ${signal})`)));
    onError = (error) => reject(new Error(describe(`could not be spawned: ${error.message}`)));
    child.once('exit', onExit).once('error', onError);
  });
  const stopPolling = new AbortController();
  const answered = pollUntil(`PING on port ${port}`, () => pingOnce(port, options), {
    timeoutMs: options.startTimeoutMs ?? 10_000,
    signal: stopPolling.signal,
  });
  try {
    await Promise.race([answered, exitedEarly]);
  } catch (error) {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exitOf(child);
    }
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(message.startsWith('redis-server') ? message : describe(`did not answer PING: ${message}`));
  } finally {
    stopPolling.abort();
    child.off('exit', onExit).off('error', onError);
    exitedEarly.catch(() => {});
    answered.catch(() => {});
  }
  return child;
}

async function pingOnce(port: number, options: StartRedisOptions): Promise<true | undefined> {
  const client = new Redis({
    host: LOCALHOST,
    port,
    lazyConnect: true,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    enableReadyCheck: false,
    connectTimeout: 1_000,
    ...(options.username === undefined ? {} : { username: options.username }),
    ...(options.password === undefined ? {} : { password: options.password }),
    ...(options.tls ? { tls: readTlsFiles(options.tls) } : {}),
  });
  client.on('error', () => {}); // the failure is the rejection below; ioredis would log it too
  try {
    await client.connect();
    return (await client.ping()) === 'PONG' ? true : undefined;
  } finally {
    // disconnect() on a client whose connection already failed starts ioredis' 2 s
    // disconnectTimeout timer that nothing clears, which would hold the test process open.
    if (client.status !== 'end') client.disconnect();
  }
}

/** Parses `INFO` / `CLUSTER INFO` output (`key:value` lines) into a map. */
export function parseInfo(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith('#')) fields.set(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  return fields;
}

function readTlsFiles(tls: TlsClientFiles): { ca: Buffer; cert?: Buffer; key?: Buffer } {
  return {
    ca: readFileSync(tls.caCertFile),
    ...(tls.certFile === undefined ? {} : { cert: readFileSync(tls.certFile) }),
    ...(tls.keyFile === undefined ? {} : { key: readFileSync(tls.keyFile) }),
  };
}

function cliConnectionArgs(port: number, options: StartRedisOptions): string[] {
  const args = ['-h', LOCALHOST, '-p', String(port)];
  const { tls, username, password } = options;
  if (tls) {
    args.push('--tls', '--cacert', tls.caCertFile);
    if (tls.certFile !== undefined && tls.keyFile !== undefined) args.push('--cert', tls.certFile, '--key', tls.keyFile);
  }
  if (username !== undefined) args.push('--user', username);
  if (password !== undefined) args.push('-a', password, '--no-auth-warning');
  return args;
}

/** Runs redis-cli with `args`; rejects with its stderr when it exits non-zero. */
export function runRedisCli(args: readonly string[], timeoutMs = 30_000): Promise<string> {
  const done = new Promise<string>((resolve, reject) => {
    execFile('redis-cli', args, { timeout: timeoutMs, env: { PATH: process.env.PATH ?? '' } }, (error, stdout, stderr) => {
      if (error) reject(new Error(`redis-cli ${args.join(' ')} failed: ${error.message}\n${stderr}${stdout}`));
      else resolve(stdout.endsWith('\n') ? stdout.slice(0, -1) : stdout);
    });
  });
  return keepAlive(done);
}

function tailOfFile(path: string, lineCount: number): string {
  if (!existsSync(path)) return '    (no log file)';
  const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
  return lines.slice(-lineCount).map((line) => `    ${line}`).join('\n');
}
