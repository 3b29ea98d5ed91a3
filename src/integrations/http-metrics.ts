import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { Counter } from '../metrics/counter.js';
import { Gauge } from '../metrics/gauge.js';
import { Histogram, DEFAULT_BUCKETS } from '../metrics/histogram.js';
import { getRedisStorageManager, type RedisStorageManager } from '../manager.js';

/**
 * The request metrics shared by the launcher's automatic instrumentation and the Express, Fastify
 * and node:http middleware. One set per storage manager, and one record per request however many
 * layers see it: the first layer tracks the request, later ones only tell the route template.
 */

/** The route label of a request whose route template nobody told (raw URLs would explode cardinality). */
export const UNKNOWN_ROUTE = 'unknown';

export const HTTP_METRIC_NAMES = {
  requests: 'http_requests_total',
  duration: 'http_request_duration_seconds',
  inFlight: 'http_requests_in_flight',
  failed: 'http_requests_failed_total',
} as const;

/** Methods kept as they are; any other becomes `other`, so a scanner cannot add series at will. */
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);

/** Finds the route template of a finished request (e.g. Express' `req.route.path`), if any. */
export type RouteResolver = (req: IncomingMessage) => string | undefined;

export interface TrackOptions {
  /** Asked when the response ends, before the automatic detection of Express routes. */
  routeOf?: RouteResolver | undefined;
}

interface RequestState {
  /** performance.now() at the start: a double, where hrtime.bigint() allocates two BigInts a request. */
  readonly startMs: number;
  /** Resolvers told by the layers that saw the request, most specific last; null until one is. */
  resolvers: RouteResolver[] | null;
  isDone: boolean;
}

const STATE = Symbol.for('prom-client-redis.request-state');
type Tracked = IncomingMessage & { [STATE]?: RequestState };

export class HttpMetrics {
  readonly requests: Counter<'method' | 'route' | 'status'>;
  readonly duration: Histogram<'method' | 'route' | 'status'>;
  readonly inFlight: Gauge;
  readonly failed: Counter<'method' | 'route' | 'reason'>;

  constructor(storage: RedisStorageManager, buckets: readonly number[] = DEFAULT_BUCKETS) {
    // registers: [] — these live in our store; prom-client's global register is the app's.
    const common = { storage, registers: [] };
    this.requests = new Counter({ name: HTTP_METRIC_NAMES.requests, help: 'HTTP requests answered, by method, route template and status code.', labelNames: ['method', 'route', 'status'], ...common });
    this.duration = new Histogram({ name: HTTP_METRIC_NAMES.duration, help: 'Time from request to the end of the response, in seconds.', labelNames: ['method', 'route', 'status'], buckets, ...common });
    this.inFlight = new Gauge({ name: HTTP_METRIC_NAMES.inFlight, help: 'HTTP requests being handled now, summed over live processes.', multiprocessMode: 'livesum', ...common });
    this.failed = new Counter({ name: HTTP_METRIC_NAMES.failed, help: 'HTTP requests that failed: server_error (status >= 500) or aborted (connection closed before the response ended).', labelNames: ['method', 'route', 'reason'], ...common });
  }

  /**
   * Starts measuring a request, or, when an outer layer already does, adds `routeOf` to it. Safe to
   * call from several layers: each request is recorded once, when its response ends or is aborted.
   */
  track(req: IncomingMessage, res: ServerResponse, options: TrackOptions = {}): void {
    const tracked = req as Tracked;
    const existing = tracked[STATE];
    if (existing) {
      if (options.routeOf) (existing.resolvers ??= []).push(options.routeOf);
      return;
    }
    const state: RequestState = { startMs: performance.now(), resolvers: options.routeOf ? [options.routeOf] : null, isDone: false };
    tracked[STATE] = state;
    this.inFlight.inc();
    // Listeners added with on(), not once(): once() wraps each listener and removes it again,
    // ~100 ns a request; a response is used once, and isDone makes the second call a no-op.
    const end = (aborted: boolean): void => {
      if (state.isDone) return;
      state.isDone = true;
      this.inFlight.dec();
      const method = methodLabel(req.method);
      const route = routeOf(req, state);
      if (aborted) {
        this.failed.inc({ method, route, reason: 'aborted' });
        return;
      }
      const status = String(res.statusCode);
      const seconds = (performance.now() - state.startMs) / 1e3;
      const labels = { method, route, status };
      this.requests.inc(labels);
      this.duration.observe(labels, seconds);
      if (res.statusCode >= 500) this.failed.inc({ method, route, reason: 'server_error' });
    };
    res.on('finish', () => end(false));
    // 'close' without 'finish': the client went away before the response was complete.
    res.on('close', () => end(!res.writableFinished));
  }
}

function methodLabel(method: string | undefined): string {
  // Node's parser gives the method in capitals: the usual case needs no copy.
  if (method !== undefined && KNOWN_METHODS.has(method)) return method;
  const upper = (method ?? '').toUpperCase();
  return KNOWN_METHODS.has(upper) ? upper : 'other';
}

function routeOf(req: IncomingMessage, state: RequestState): string {
  const resolvers = state.resolvers ?? [];
  for (let i = resolvers.length - 1; i >= 0; i--) {
    try {
      const route = resolvers[i]!(req);
      if (route) return route;
    } catch {
      // A resolver that throws must not lose the request; the next one, or `unknown`, is used.
    }
  }
  return expressRoute(req) ?? UNKNOWN_ROUTE;
}

/**
 * Express (4 and 5) leaves the matched route on `req.route` and the mount path of its router on
 * `req.baseUrl`; both are still there when the response ends. Works with no middleware, so the
 * launcher labels Express apps by route template without any change to their code.
 */
export function expressRoute(req: IncomingMessage): string | undefined {
  const r = req as IncomingMessage & { route?: { path?: unknown }; baseUrl?: unknown };
  const path = r.route?.path;
  if (path === undefined || path === null) return undefined;
  const base = typeof r.baseUrl === 'string' ? r.baseUrl : '';
  return `${base}${String(path)}` || '/';
}

const byManager = new WeakMap<RedisStorageManager, HttpMetrics>();

/** The request metrics of a storage manager (the process's by default), created on first use. */
export function httpMetricsFor(storage: RedisStorageManager = getRedisStorageManager()): HttpMetrics {
  let metrics = byManager.get(storage);
  if (!metrics) byManager.set(storage, (metrics = new HttpMetrics(storage)));
  return metrics;
}
