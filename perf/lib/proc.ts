// Child processes of the benchmarks: one-shot scripts that print a `RESULT <json>` line, and
// long-lived forked writers that say `ready` over IPC and stop when told.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const RESULT_PREFIX = 'RESULT ';

/** Absolute path of a compiled sibling script in dist/perf, e.g. script('scrape-cluster.js'). */
export function script(name: string): string {
  return fileURLToPath(new URL(`../${name}`, import.meta.url));
}

/** For child scripts: report the result to the parent. */
export function printResult(value: unknown): void {
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(value)}\n`);
}

export function runScript<T>(file: string, args: readonly string[], timeoutMs = 180_000, nodeArgs: readonly string[] = []): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArgs, file, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      const line = stdout.split('\n').find((l) => l.startsWith(RESULT_PREFIX));
      if (code === 0 && line !== undefined) {
        resolve(JSON.parse(line.slice(RESULT_PREFIX.length)) as T);
        return;
      }
      const why = signal === null ? `exit code ${String(code)}` : `signal ${signal}`;
      reject(new Error(`${file} ${args.join(' ')} failed (${why}): ${stderr.trim().split('\n').slice(-5).join(' | ')}`));
    });
  });
}

export interface ReadyMessage {
  readonly type: 'ready';
}

/** Forks a writer and resolves once it sends {type: 'ready'}. */
export function forkReady(file: string, args: readonly string[], timeoutMs = 120_000, nodeArgs: readonly string[] = []): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = fork(file, [...args], { stdio: ['ignore', 'inherit', 'pipe', 'ipc'], execArgv: [...process.execArgv, ...nodeArgs] });
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${file} was not ready after ${timeoutMs} ms`));
    }, timeoutMs);
    child.on('message', (message: ReadyMessage) => {
      if (message.type === 'ready') {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${file} exited with ${String(code)} before ready: ${stderr.trim().split('\n').slice(-5).join(' | ')}`));
    });
  });
}

/** Asks a forked writer to stop ({type: 'stop'}), and kills it if it does not exit in time. */
export async function stopForked(child: ChildProcess, timeoutMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  if (child.connected) child.send({ type: 'stop' });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await exited;
  clearTimeout(timer);
}

/**
 * CPU time (user + system) used so far by the given processes, in ms, from /proc/<pid>/stat
 * (Linux, 100 ticks per second as on every mainstream kernel); null where that cannot be read.
 */
export function processesCpuMs(pids: readonly number[]): number | null {
  let ticks = 0;
  try {
    for (const pid of pids) {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // Fields after the command name, which is in parentheses and may hold spaces: state is [0].
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(rest[11]) + Number(rest[12]);
    }
  } catch {
    return null;
  }
  return Number.isFinite(ticks) ? ticks * 10 : null;
}
