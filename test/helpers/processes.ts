// Real Node.js child processes for multi-process tests (several writers, a crash mid-flush, a
// restart with a new identity), killed at exit if a test leaves one running (see reaper.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Socket } from 'node:net';
import { dieWithParent, keepAlive, trackChild, withDeadline } from './reaper.js';

/**
 * The only variables a child gets from this process: nothing secret (tokens, credentials) and
 * nothing of the test runner (NODE_TEST_CONTEXT would make a child think it is a test file).
 */
const INHERITED_ENV = ['PATH', 'HOME', 'TMPDIR', 'LANG', 'TZ'];

export interface RunNodeOptions {
  /** Variables added to the small inherited set. */
  env?: Record<string, string>;
  /** Arguments after the script path. */
  args?: readonly string[];
  /** Node flags before the script path (e.g. `['--enable-source-maps']`). */
  execArgv?: readonly string[];
  cwd?: string;
  /** Executes `scriptPath` itself (a bin with a shebang, as Docker's exec form does) instead of `node scriptPath`. */
  asExecutable?: boolean;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface NodeChild {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Every stdout line so far. */
  readonly stdoutLines: readonly string[];
  /** Everything written to stderr so far. */
  stderr(): string;
  /** Every stdout line, from the first, then each new one until the child exits. */
  lines(): AsyncIterableIterator<string>;
  /**
   * Resolves with the match of the first stdout line matching `pattern` after the line matched by
   * the previous waitForLine() (so successive calls read successive events). Rejects when the child
   * exits first or after `timeoutMs`, with the child's output in the message.
   */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  readonly exited: Promise<ExitStatus>;
  /** Sends `signal` and resolves once the child has exited. */
  kill(signal?: NodeJS.Signals): Promise<ExitStatus>;
}

/** Spawns `node scriptPath ...args` with process.execPath, the same Node as the tests. */
export function runNode(scriptPath: string, options: RunNodeOptions = {}): NodeChild {
  const env: Record<string, string> = {};
  for (const name of INHERITED_ENV) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  Object.assign(env, options.env);
  const [command, args] = options.asExecutable
    ? dieWithParent(scriptPath, [...(options.args ?? [])])
    : dieWithParent(process.execPath, [...(options.execArgv ?? []), scriptPath, ...(options.args ?? [])]);
  const child = spawn(command, args, {
    env,
    cwd: options.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  trackChild(child);
  // Unref the pipes too: a forgotten child must not keep the test file alive. Waits hold a
  // referenced timer instead (keepAlive).
  (child.stdout as Socket).unref();
  (child.stderr as Socket).unref();

  const stdoutLines: string[] = [];
  let stderrText = '';
  let isStdoutClosed = false;
  const onChange = new Set<() => void>();
  const notify = (): void => {
    for (const listener of [...onChange]) listener();
  };
  createInterface({ input: child.stdout! })
    .on('line', (line) => {
      stdoutLines.push(line);
      notify();
    })
    .on('close', () => {
      isStdoutClosed = true;
      notify();
    });
  child.stderr!.setEncoding('utf8').on('data', (text: string) => {
    stderrText += text;
  });

  // Not exitOf() here: its keep-alive timer would hold the loop open for as long as the child
  // runs, even when no test awaits it. The `exited` getter adds one for each waiter. 'close', not
  // 'exit': it comes after the last stdout line was read.
  const exitStatus = new Promise<ExitStatus>((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  const describeOutput = (): string =>
    `  stdout:\n${stdoutLines.slice(-20).map((l) => `    ${l}`).join('\n')}\n  stderr:\n${stderrText.slice(-2_000)}`;
  let nextLineIndex = 0;

  return {
    child,
    pid: child.pid ?? -1,
    stdoutLines,
    stderr: () => stderrText,
    async *lines() {
      for (let index = 0; ; index++) {
        while (index >= stdoutLines.length) {
          if (isStdoutClosed) return;
          await keepAlive(new Promise<void>((resolve) => onChange.add(function once() {
            onChange.delete(once);
            resolve();
          })));
        }
        yield stdoutLines[index]!;
      }
    },
    waitForLine(pattern, timeoutMs = 10_000) {
      let listener = (): void => {};
      const found = new Promise<RegExpMatchArray>((resolve, reject) => {
        listener = () => {
          for (; nextLineIndex < stdoutLines.length; nextLineIndex++) {
            const match = stdoutLines[nextLineIndex]!.match(pattern);
            if (match) {
              nextLineIndex += 1;
              // Unsubscribe now, not in finally(): a line arriving before that microtask would
              // otherwise be consumed by this finished wait and skipped by the next one.
              onChange.delete(listener);
              resolve(match);
              return;
            }
          }
          if (isStdoutClosed) reject(new Error(`Child ${child.pid} closed stdout before printing a line matching ${pattern}\n${describeOutput()}`));
        };
        onChange.add(listener);
        listener();
      });
      const waited = withDeadline(found, timeoutMs, () => `No stdout line of child ${child.pid} matched ${pattern} within ${timeoutMs} ms\n${describeOutput()}`);
      return keepAlive(waited).finally(() => onChange.delete(listener));
    },
    get exited() {
      return keepAlive(exitStatus);
    },
    kill(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return keepAlive(exitStatus);
    },
  };
}
