import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { Counter, type CounterChild } from '../metrics/counter.js';
import { Gauge, type GaugeChild } from '../metrics/gauge.js';
import { Histogram, DEFAULT_BUCKETS, type HistogramChild } from '../metrics/histogram.js';
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
const METHOD_NAMES = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH', 'other'] as const;
const METHOD_INDEX = new Map<string, number>(METHOD_NAMES.slice(0, -1).map((name, i) => [name, i]));
const OTHER_METHOD = METHOD_NAMES.length - 1;

/** Finds the route template of a finished request (e.g. Express' `req.route.path`), if any. */
export type RouteResolver = (req: IncomingMessage) => string | undefined;

export interface TrackOptions {
  /** Asked when the response ends, before the automatic detection of Express routes. */
  routeOf?: RouteResolver | undefined;
}

/**
 * One request being measured: the only object a request costs (the listeners are shared functions
 * that find it on the response), where closures cost three.
 */
interface RequestState {
  readonly metrics: HttpMetrics;
  readonly req: IncomingMessage;
  /** performance.now() at the start: a double, where hrtime.bigint() allocates two BigInts a request. */
  readonly startMs: number;
  /** The resolver of the layer that started tracking, if it gave one. */
  readonly routeOf: RouteResolver | undefined;
  /** Resolvers told by later layers, most specific last; null until one is. */
  more: RouteResolver[] | null;
  isDone: boolean;
}

const STATE = Symbol.for('prom-client-redis.request-state');
type Tracked = ServerResponse & { [STATE]?: RequestState };

/**
 * The children of one (method, route, status): made at the first such request, so the next ones
 * write their values directly instead of walking each metric's label index with a new labels object.
 */
interface Children {
  readonly requests: CounterChild;
  readonly duration: HistogramChild;
  /** For a status >= 500 only. */
  readonly failed: CounterChild | undefined;
}

// Two listeners, though 'close' follows 'finish' on a ServerResponse: a response that is not one
// (Fastify's inject() through light-my-request closes with writableFinished false; test mocks emit
// 'finish' alone) is recorded at 'finish'. 'close' alone (a loop measured 63-82 ns a response less)
// counted every injected request as aborted.
// Listeners added with on(), not once(): once() wraps each listener and removes it again,
// ~100 ns a request; a response is used once, and isDone makes the second call a no-op. Shared
// functions, not closures: the response they are called on (`this`) holds the request's state.
function onFinish(this: Tracked): void {
  const state = this[STATE];
  if (state !== undefined) endSafely(state, this, false);
}

// 'close' without 'finish': the client went away before the response was complete.
function onClose(this: Tracked): void {
  const state = this[STATE];
  if (state !== undefined) endSafely(state, this, !this.writableFinished);
}

let hasWarnedOfEnd = false;

// An exception in a response's listener would crash the app: a route label the metrics refuse (a
// routeOf that returns a lone surrogate, say) loses that request's count instead, with one warning.
function endSafely(state: RequestState, res: Tracked, aborted: boolean): void {
  try {
    state.metrics.end(state, res, aborted);
  } catch (error) {
    if (hasWarnedOfEnd) return;
    hasWarnedOfEnd = true;
    process.emitWarning(`prom-client-redis: a request was not counted: ${(error as Error).message}`, { code: 'PROM_CLIENT_REDIS_REQUEST_METRICS' });
  }
}

export class HttpMetrics {
  readonly requests: Counter<'method' | 'route' | 'status'>;
  readonly duration: Histogram<'method' | 'route' | 'status'>;
  readonly inFlight: Gauge;
  readonly failed: Counter<'method' | 'route' | 'reason'>;
  /** The unlabelled in-flight series as a child: inc and dec without a label lookup each. */
  readonly #inFlight: GaugeChild;
  /** Children by route, then by `status * 16 + method index`. */
  readonly #children = new Map<string, Map<number, Children>>();
  #childCount = 0;
  /** Beyond this many the cache starts again: series removed by a reset would otherwise stay in it. */
  readonly #maxChildren: number;

  constructor(storage: RedisStorageManager, buckets: readonly number[] = DEFAULT_BUCKETS) {
    // registers: [] — these live in our store; prom-client's global register is the app's.
    const common = { storage, registers: [] };
    this.requests = new Counter({ name: HTTP_METRIC_NAMES.requests, help: 'HTTP requests answered, by method, route template and status code.', labelNames: ['method', 'route', 'status'], ...common });
    this.duration = new Histogram({ name: HTTP_METRIC_NAMES.duration, help: 'Time from request to the end of the response, in seconds.', labelNames: ['method', 'route', 'status'], buckets, ...common });
    this.inFlight = new Gauge({ name: HTTP_METRIC_NAMES.inFlight, help: 'HTTP requests being handled now, summed over live processes.', multiprocessMode: 'livesum', ...common });
    this.failed = new Counter({ name: HTTP_METRIC_NAMES.failed, help: 'HTTP requests that failed: server_error (status >= 500) or aborted (connection closed before the response ended).', labelNames: ['method', 'route', 'reason'], ...common });
    this.#inFlight = this.inFlight.labels();
    this.#maxChildren = storage.config.maxSeriesPerMetric;
  }

  /**
   * Starts measuring a request, or, when an outer layer already does, adds `routeOf` to it. Safe to
   * call from several layers: each request is recorded once, when its response ends or is aborted.
   */
  track(req: IncomingMessage, res: ServerResponse, options?: TrackOptions): void {
    const tracked = res as Tracked;
    const routeOf = options?.routeOf;
    const existing = tracked[STATE];
    if (existing !== undefined) {
      if (routeOf) (existing.more ??= []).push(routeOf);
      return;
    }
    tracked[STATE] = { metrics: this, req, startMs: performance.now(), routeOf, more: null, isDone: false };
    this.#inFlight.inc();
    res.on('finish', onFinish);
    res.on('close', onClose);
  }

  /** @internal Records a request whose response finished or closed; the second call is a no-op. */
  end(state: RequestState, res: ServerResponse, aborted: boolean): void {
    if (state.isDone) return;
    state.isDone = true;
    this.#inFlight.dec();
    const req = state.req;
    const methodIndex = methodIndexOf(req.method);
    const method = METHOD_NAMES[methodIndex]!;
    const route = routeLabel(req, state);
    if (aborted) {
      this.failed.inc({ method, route, reason: 'aborted' });
      return;
    }
    const code = res.statusCode;
    const seconds = (performance.now() - state.startMs) / 1e3;
    // Any status Node lets through is an integer of 3 digits; anything else is not cached.
    if (code !== (code | 0) || code < 0 || code > 9999) {
      const labels = { method, route, status: String(code) };
      this.requests.inc(labels);
      this.duration.observe(labels, seconds);
      if (code >= 500) this.failed.inc({ method, route, reason: 'server_error' });
      return;
    }
    const children = this.#childrenOf(method, route, code, code * 16 + methodIndex);
    children.requests.inc();
    children.duration.observe(seconds);
    children.failed?.inc();
    // Past the series limit the store counts every update of a new label set as a drop: a child
    // that got the dropped value is let go, so that the next request asks (and counts) again.
    if (children.requests.isDropped || children.duration.isDropped || children.failed?.isDropped === true) this.#forget(route, code * 16 + methodIndex);
  }

  #childrenOf(method: string, route: string, code: number, key: number): Children {
    let byKey = this.#children.get(route);
    const hit = byKey?.get(key);
    if (hit !== undefined) return hit;
    if (this.#childCount >= this.#maxChildren) {
      this.#children.clear();
      this.#childCount = 0;
      byKey = undefined;
    }
    const status = String(code);
    const children: Children = {
      requests: this.requests.labels({ method, route, status }),
      duration: this.duration.labels({ method, route, status }),
      failed: code >= 500 ? this.failed.labels({ method, route, reason: 'server_error' }) : undefined,
    };
    if (byKey === undefined) this.#children.set(route, (byKey = new Map()));
    byKey.set(key, children);
    this.#childCount++;
    return children;
  }

  #forget(route: string, key: number): void {
    const byKey = this.#children.get(route);
    if (byKey?.delete(key) !== true) return;
    this.#childCount--;
    if (byKey.size === 0) this.#children.delete(route);
  }
}

/** Index in METHOD_NAMES. Node's parser gives the method in capitals: the usual case needs no copy. */
function methodIndexOf(method: string | undefined): number {
  if (method !== undefined) {
    const i = METHOD_INDEX.get(method);
    if (i !== undefined) return i;
  }
  return METHOD_INDEX.get((method ?? '').toUpperCase()) ?? OTHER_METHOD;
}

function routeLabel(req: IncomingMessage, state: RequestState): string {
  const more = state.more;
  if (more !== null) {
    for (let i = more.length - 1; i >= 0; i--) {
      const route = resolve(more[i]!, req);
      if (route) return route;
    }
  }
  if (state.routeOf !== undefined) {
    const route = resolve(state.routeOf, req);
    if (typeof route === 'string' && route !== '') return route;
  }
  return expressRoute(req) ?? UNKNOWN_ROUTE;
}

function resolve(resolver: RouteResolver, req: IncomingMessage): string | undefined {
  try {
    return resolver(req);
  } catch {
    // A resolver that throws must not lose the request; the next one, or `unknown`, is used.
    return undefined;
  }
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
