// Each benchmark owns its Redis: a fresh redis-server on a free loopback port, no persistence,
// stopped when the benchmark ends. 127.0.0.1:6379 is never used, so a developer's own Redis is
// never written to.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export interface RedisServer {
  readonly pid: number | undefined;
  readonly port: number;
  readonly url: string;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
// If the runner dies mid-benchmark, do not leave servers behind.
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        const found = typeof address === 'object' && address !== null ? address.port : 0;
        server.close(() => resolve(found));
      });
    });
    if (port !== 6379 && port !== 0) return port;
  }
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let reply = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

export async function startRedis(): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'perf-redis-'));
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  running.add(child);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const deadline = Date.now() + 5000;
  while (!(await ping(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      running.delete(child);
      throw new Error(`redis-server on port ${port} did not answer PING: ${stderr.trim() || 'no output'}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }

  return {
    pid: child.pid,
    port,
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(timer);
      }
      running.delete(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Runs `fn` with a fresh server and always stops it. */
export async function withRedis<T>(fn: (server: RedisServer) => Promise<T>): Promise<T> {
  const server = await startRedis();
  try {
    return await fn(server);
  } finally {
    await server.stop();
  }
}

/**
 * The server's own limit: redis-benchmark with 64 commands pipelined per connection.
 * Returns requests per second as redis-benchmark reports it.
 */
export async function redisBenchmarkOpsPerSec(port: number, requests = 200_000): Promise<number> {
  const args = ['-h', '127.0.0.1', '-p', String(port), '-P', '64', '-n', String(requests), '-q'];
  const { stdout } = await execFileAsync('redis-benchmark', [...args, 'HINCRBYFLOAT', 'bench:k', 'f', '1'], {
    maxBuffer: 16 * 1024 * 1024,
  });
  // -q prints progress lines separated by \r, then the final "<cmd>: N requests per second".
  const matches = [...stdout.matchAll(/([\d.]+) requests per second/g)];
  const last = matches.at(-1);
  if (last?.[1] === undefined) throw new Error(`could not parse redis-benchmark output: ${stdout.slice(-200)}`);
  return Number(last[1]);
}

export async function redisServerVersion(): Promise<string> {
  try {
    const { stdout } = await execFileAsync('redis-server', ['--version']);
    return /v=(\S+)/.exec(stdout)?.[1] ?? stdout.trim();
  } catch {
    return 'unknown';
  }
}
