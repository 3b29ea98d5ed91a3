// Every child process and temporary directory a helper creates is registered here, so that a test
// file that fails, forgets a stop() or is killed by the test runner leaves nothing behind.
//
// Children are unref()ed: a forgotten server must not keep the test file's event loop alive (node
// --test would wait for it forever). Code that awaits a child's exit wraps the wait in keepAlive(),
// otherwise the loop could empty and Node would exit with the promise still pending.
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

const liveChildren = new Set<ChildProcess>();
const tempDirs = new Set<string>();
let isInstalled = false;

/** Registers a child to be SIGKILLed when this process exits, and unrefs it. */
export function trackChild(child: ChildProcess): void {
  installExitHooks();
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  child.unref();
}

const setprivPath = (process.env.PATH ?? '').split(delimiter).map((dir) => join(dir, 'setpriv')).find((path) => existsSync(path));

/**
 * The command line that runs `command args` with SIGKILL as parent-death signal (util-linux
 * setpriv, which then execs the command: same pid). An 'exit' hook cannot run when this process
 * is SIGKILLed itself (a hard timeout, a killed CI job); the kernel then still kills the child.
 * Without setpriv, the command line is returned unchanged.
 */
export function dieWithParent(command: string, args: readonly string[]): [string, string[]] {
  return setprivPath === undefined ? [command, [...args]] : [setprivPath, ['--pdeathsig', 'KILL', command, ...args]];
}

/** A new empty directory under the OS temp dir, removed when this process exits. */
export function makeTempDir(label: string): string {
  installExitHooks();
  const dir = mkdtempSync(join(tmpdir(), `pcr-${label.replace(/[^\w.-]/g, '_')}-`));
  tempDirs.add(dir);
  return dir;
}

/** Removes a directory made by makeTempDir now rather than at exit. */
export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

/** Holds a referenced timer while `promise` is pending, so waiting on unref()ed handles works. */
export async function keepAlive<T>(promise: Promise<T>): Promise<T> {
  const timer = setInterval(() => {}, 1 << 30);
  try {
    return await promise;
  } finally {
    clearInterval(timer);
  }
}

/** Resolves with the exit code and signal of a child, at once if it has already exited. */
export function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return keepAlive(
    new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal }))),
  );
}

/** Rejects after `ms` with `message()`; the timer is cleared when `promise` settles first. */
export async function withDeadline<T>(promise: Promise<T>, ms: number, message: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message())), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Calls `probe` until it returns a value other than undefined, at most every `intervalMs`, and
 * fails after `timeoutMs`. Only for states that announce themselves with no event (a server
 * answering PING, a cluster reaching `cluster_state:ok`).
 */
export async function pollUntil<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  { timeoutMs = 10_000, intervalMs = 50, signal }: { timeoutMs?: number; intervalMs?: number; signal?: AbortSignal } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    signal?.throwIfAborted();
    try {
      const value = await probe();
      if (value !== undefined) return value;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const why = lastError instanceof Error ? `: last error: ${lastError.message}` : '';
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

function killAllNow(): void {
  for (const child of liveChildren) {
    // SIGKILL also ends a process stopped by SIGSTOP (a frozen server), unlike SIGTERM.
    if (child.pid !== undefined) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }
  liveChildren.clear();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

function installExitHooks(): void {
  if (isInstalled) return;
  isInstalled = true;
  process.once('exit', killAllNow);
  // The test runner ends a timed-out or cancelled file with SIGTERM (Ctrl-C gives SIGINT); without
  // these handlers the 'exit' event would not run. Re-raise so the exit status stays the same.
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.once(signal, () => {
      killAllNow();
      process.kill(process.pid, signal);
    });
  }
}
