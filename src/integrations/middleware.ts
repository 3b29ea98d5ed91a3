import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { RedisStorageManager } from '../manager.js';
import { expressRoute, httpMetricsFor, type RouteResolver } from './http-metrics.js';

/**
 * Request instrumentation for those who prefer code to the launcher: Express, Fastify and plain
 * node:http, all writing the same metrics (see http-metrics.ts) with route templates as labels.
 * The types are structural, so this package depends on neither framework.
 */

export interface MiddlewareOptions {
  /** The storage manager to write to. @default getRedisStorageManager() */
  storage?: RedisStorageManager;
}

export interface HttpInstrumentationOptions extends MiddlewareOptions {
  /**
   * The route template of a request, e.g. by matching your own router's table. Return undefined
   * when unknown: the label is then `unknown`. Never return the raw URL: every distinct path
   * would become a series. @default Express' req.route when present, else `unknown`
   */
  routeOf?: RouteResolver;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** Wraps a node:http request handler: `http.createServer(withHttpMetrics(handler, { routeOf }))`. */
export function withHttpMetrics<H extends Handler>(handler: H, options: HttpInstrumentationOptions = {}): H {
  const metrics = httpMetricsFor(options.storage);
  const track = { routeOf: options.routeOf };
  return function (this: unknown, req: IncomingMessage, res: ServerResponse) {
    metrics.track(req, res, track);
    return handler.call(this, req, res);
  } as H;
}

/** Instruments every request of an existing node:http or node:https server. */
export function instrumentServer(server: Server | HttpsServer, options: HttpInstrumentationOptions = {}): void {
  const metrics = httpMetricsFor(options.storage);
  const track = { routeOf: options.routeOf };
  // prepend: the measurement starts before the app's own listeners run.
  server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => metrics.track(req, res, track));
}

/** Express middleware: `app.use(expressMetrics())` before the routes. Labels: `req.baseUrl + req.route.path`. */
export function expressMetrics(options: MiddlewareOptions = {}): (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void {
  const metrics = httpMetricsFor(options.storage);
  const track = { routeOf: expressRoute };
  return (req, res, next) => {
    metrics.track(req, res, track);
    next();
  };
}

/** The parts of Fastify (4 and 5) the plugin uses. */
interface FastifyLike {
  addHook(name: 'onRequest', hook: (request: FastifyRequestLike, reply: { raw: ServerResponse }, done: () => void) => void): unknown;
}
interface FastifyRequestLike {
  raw: IncomingMessage;
  /** Fastify >= 4.10. */
  routeOptions?: { url?: string };
  /** Older Fastify 4. */
  routerPath?: string;
}

export type FastifyMetricsPlugin = ((fastify: FastifyLike, options: MiddlewareOptions, done: (error?: Error) => void) => void) & {
  [key: symbol]: unknown;
};

/**
 * Fastify plugin: `await app.register(fastifyMetrics)`. Labels by `request.routeOptions.url`
 * (`/users/:id`); requests no route matched get `unknown`.
 */
export const fastifyMetrics: FastifyMetricsPlugin = Object.assign(
  (fastify: FastifyLike, options: MiddlewareOptions, done: (error?: Error) => void) => {
    const metrics = httpMetricsFor(options.storage);
    fastify.addHook('onRequest', (request, reply, next) => {
      const routeOf = (): string | undefined => request.routeOptions?.url ?? request.routerPath;
      metrics.track(request.raw, reply.raw, { routeOf });
      next();
    });
    done();
  },
  {
    // What fastify-plugin sets: the hook then applies to the whole app, not one encapsulated scope.
    [Symbol.for('skip-override')]: true,
    [Symbol.for('fastify.display-name')]: 'prom-client-redis',
  },
);
