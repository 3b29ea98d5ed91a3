// The launcher probe (test/fixtures/launcher-probe.ts) as a test drives it: started as a child
// process, its /metrics URL, and requests to its control port.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { fetchRaw } from './http-get.js';
import { runNode, type NodeChild } from './processes.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/launcher-probe.js', import.meta.url));

export interface LauncherProbe {
  readonly child: NodeChild;
  readonly metricsUrl: string;
  /** GETs a control path (/inc?by=N, /probe/start, /probe/stop, /threads); asserts a 200. */
  control(path: string): Promise<string>;
  /** Nice values of the primary's threads other than its main thread's, and the main thread's. */
  threadNices(): Promise<{ main: number; others: number[] }>;
}

/** Starts the probe with `env` (and node `execArgv`), once its worker is online. */
export async function startLauncherProbe(env: Record<string, string>, execArgv: readonly string[] = []): Promise<LauncherProbe> {
  const child = runNode(FIXTURE, { env, execArgv });
  const [, metricsUrl, port] = await child.waitForLine(/^ready (\S+) (\d+)$/, 30_000);
  const control = async (path: string): Promise<string> => {
    const r = await fetchRaw(`http://127.0.0.1:${port}${path}`);
    assert.equal(r.status, 200, `${path}: ${r.body.toString()}`);
    return r.body.toString();
  };
  const threadNices = async () => {
    const { main, threads } = JSON.parse(await control('/threads')) as { main: number; threads: number[] };
    return { main, others: threads.filter((n) => n !== main) };
  };
  return { child, metricsUrl: metricsUrl!, control, threadNices };
}
