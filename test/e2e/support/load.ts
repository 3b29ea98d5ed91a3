// Drives HTTP load with a new connection per request, so that node:cluster spreads the requests
// over the workers (it balances connections, not requests).
import { fetchRaw } from '../../helpers/http-get.js';

/** GETs `url` on a new connection; the body as UTF-8 text. */
export async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: Record<string, string | string[] | undefined> }> {
  const r = await fetchRaw(url, headers);
  return { status: r.status, body: r.body.toString('utf8'), headers: r.headers };
}

/** Sends `count` GETs, `concurrency` at a time; rejects on any status but 200. */
export async function sendRequests(url: string, count: number, concurrency = 8): Promise<number> {
  let next = 0;
  let ok = 0;
  const lane = async (): Promise<void> => {
    while (next < count) {
      next++;
      const r = await get(url);
      if (r.status !== 200) throw new Error(`GET ${url} answered ${r.status}: ${r.body}`);
      ok++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return ok;
}

/** The sum of every sample of a family in a text exposition (e.g. all http_requests_total series). */
export function sumOf(exposition: string, sample: string): number {
  let total = 0;
  for (const line of exposition.split('\n')) {
    if (line.startsWith(`${sample}{`) || line.startsWith(`${sample} `)) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

/**
 * Resolves once `count` stdout lines of the child match `pattern`, with those matches. Counts over
 * every line so far, so lines that arrive together are never missed (waitForLine() in quick
 * succession can skip one: its listener stays subscribed until a microtask after it matched).
 */
export async function waitForLines(child: { stdoutLines: readonly string[]; waitForLine(p: RegExp, t?: number): Promise<RegExpMatchArray> }, pattern: RegExp, count: number, timeoutMs = 15_000): Promise<RegExpMatchArray[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const matches = child.stdoutLines.map((l) => l.match(pattern)).filter((m): m is RegExpMatchArray => m !== null);
    if (matches.length >= count) return matches;
    await child.waitForLine(/./, Math.max(1, deadline - Date.now())).catch((error: Error) => {
      throw new Error(`waiting for ${count} lines matching ${pattern}: ${error.message}`);
    });
  }
}
