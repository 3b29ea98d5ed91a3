// A real Prometheus server owned by one test: generated config, free port, temp TSDB, killed at
// exit by the reaper if the test forgets. And promtool, to lint expositions.
import { spawn, execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../../helpers/ports.js';
import { exitOf, keepAlive, makeTempDir, pollUntil, trackChild } from '../../helpers/reaper.js';

export interface PrometheusServer {
  readonly url: string;
  /** An instant query; the values of the result vector, by their labels as JSON. */
  query(expr: string): Promise<Array<{ metric: Record<string, string>; value: number }>>;
  /** The value of a query that returns exactly one sample, or undefined when it returns none. */
  scalar(expr: string): Promise<number | undefined>;
  stop(): Promise<void>;
}

/**
 * `options.features`: `--enable-feature` flags (`native-histograms` makes it ask for protobuf first).
 * `jobs`, when given, replaces the one plain job scraping `targets`: each is the YAML of one
 * scrape_configs entry (for https, basic_auth, tls_config), starting with `- job_name:`.
 */
export async function startPrometheus(targets: readonly string[], scrapeIntervalS = 1, jobs?: readonly string[], options: { features?: readonly string[] } = {}): Promise<PrometheusServer> {
  const dir = makeTempDir('prometheus');
  const config = join(dir, 'prometheus.yml');
  writeFileSync(
    config,
    [
      'global:',
      `  scrape_interval: ${scrapeIntervalS}s`,
      `  scrape_timeout: ${scrapeIntervalS}s`,
      'scrape_configs:',
      ...(jobs ?? [`- job_name: app\n  static_configs:\n    - targets: [${targets.map((t) => `'${t}'`).join(', ')}]`]).map((job) => job.replace(/^/gm, '  ')),
      '',
    ].join('\n'),
  );
  const port = await freePort();
  const child = spawn('prometheus', [
    `--config.file=${config}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=warn',
    ...(options.features?.length ? [`--enable-feature=${options.features.join(',')}`] : []),
  ], { stdio: ['ignore', 'ignore', 'pipe'], cwd: dir });
  trackChild(child);
  let log = '';
  child.stderr!.setEncoding('utf8').on('data', (t: string) => (log += t));
  (child.stderr as unknown as { unref(): void }).unref();
  const url = `http://127.0.0.1:${port}`;
  await pollUntil('Prometheus /-/ready', async () => ((await fetch(`${url}/-/ready`)).ok ? true : undefined), { timeoutMs: 20_000, intervalMs: 100 })
    .catch((error: Error) => {
      throw new Error(`${error.message}\nprometheus log:\n${log.slice(-2000)}`);
    });
  const query = async (expr: string) => {
    const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await res.json()) as { status: string; error?: string; data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
    if (body.status !== 'success') throw new Error(`query ${expr} failed: ${body.error}`);
    return body.data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
  };
  return {
    url,
    query,
    async scalar(expr) {
      const r = await query(expr);
      if (r.length > 1) throw new Error(`query ${expr} returned ${r.length} samples`);
      return r[0]?.value;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await exitOf(child);
    },
  };
}

/** Runs `promtool check metrics` on an exposition; resolves with its exit code and output. */
export function promtoolCheck(exposition: string): Promise<{ code: number; output: string }> {
  return keepAlive(new Promise((resolve) => {
    const child = execFile('promtool', ['check', 'metrics'], (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, output: `${stdout}${stderr}` });
    });
    child.stdin!.end(exposition);
  }));
}
