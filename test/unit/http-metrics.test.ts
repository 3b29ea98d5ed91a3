// HttpMetrics.track in memory (Redis off): the children it keeps per (method, route, status) must
// record exactly what a labels lookup per request recorded — once per request, again after a
// reset, and past the series limit every request counted as a drop. Real node:http requests are
// in test/e2e/middleware.test.ts; here a response is an EventEmitter, so that the events ('finish',
// 'close', both, in either order) are chosen by the test.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpMetrics, RedisStorageManager } from '../../src/index.js';
import type { TrackOptions } from '../../src/integrations/http-metrics.js';

class FakeResponse extends EventEmitter {
  statusCode = 200;
  writableFinished = false;
}

function request(method: string, route?: string): IncomingMessage {
  return (route === undefined ? { method } : { method, route: { path: route }, baseUrl: '' }) as unknown as IncomingMessage;
}

/** One request through track(): answered with `status` ('finish' then 'close'), or aborted ('close' alone). */
function serve(metrics: HttpMetrics, req: IncomingMessage, status: number | 'aborted', options?: TrackOptions): void {
  const res = new FakeResponse();
  metrics.track(req, res as unknown as ServerResponse, options);
  if (status === 'aborted') {
    res.emit('close');
    return;
  }
  res.statusCode = status;
  res.writableFinished = true;
  res.emit('finish');
  res.emit('close');
}

async function lines(metrics: HttpMetrics): Promise<string[]> {
  const out: string[] = [];
  for (const metric of [metrics.requests, metrics.failed, metrics.inFlight]) {
    for (const v of (await metric.get()).values) out.push(`${metric.name}${JSON.stringify(v.labels)} ${v.value}`);
  }
  const duration = await metrics.duration.get();
  for (const v of duration.values) if (v.metricName?.endsWith('_count')) out.push(`${v.metricName}${JSON.stringify(v.labels)} ${v.value}`);
  return out.sort();
}

describe('HttpMetrics.track', () => {
  it('counts each request once per (method, route, status), server errors and aborts as failed', async () => {
    const metrics = new HttpMetrics(new RedisStorageManager({ env: {} }));
    for (let i = 0; i < 3; i++) serve(metrics, request('GET', '/a'), 200);
    serve(metrics, request('POST', '/a'), 200);
    serve(metrics, request('GET', '/a'), 503);
    serve(metrics, request('GET', '/a'), 503);
    serve(metrics, request('get'), 404);
    serve(metrics, request('BREW', '/pot'), 418);
    serve(metrics, request('GET', '/slow'), 'aborted');
    assert.deepEqual(await lines(metrics), [
      'http_request_duration_seconds_count{"method":"GET","route":"/a","status":"200"} 3',
      'http_request_duration_seconds_count{"method":"GET","route":"/a","status":"503"} 2',
      'http_request_duration_seconds_count{"method":"GET","route":"unknown","status":"404"} 1',
      'http_request_duration_seconds_count{"method":"POST","route":"/a","status":"200"} 1',
      'http_request_duration_seconds_count{"method":"other","route":"/pot","status":"418"} 1',
      'http_requests_failed_total{"method":"GET","route":"/a","reason":"server_error"} 2',
      'http_requests_failed_total{"method":"GET","route":"/slow","reason":"aborted"} 1',
      'http_requests_in_flight{} 0',
      'http_requests_total{"method":"GET","route":"/a","status":"200"} 3',
      'http_requests_total{"method":"GET","route":"/a","status":"503"} 2',
      'http_requests_total{"method":"GET","route":"unknown","status":"404"} 1',
      'http_requests_total{"method":"POST","route":"/a","status":"200"} 1',
      'http_requests_total{"method":"other","route":"/pot","status":"418"} 1',
    ]);
  });

  it('records a request tracked by two layers once, with the most specific route', async () => {
    const metrics = new HttpMetrics(new RedisStorageManager({ env: {} }));
    const req = request('GET');
    const res = new FakeResponse();
    metrics.track(req, res as unknown as ServerResponse, { routeOf: () => '/outer' });
    metrics.track(req, res as unknown as ServerResponse, { routeOf: () => '/inner' });
    res.writableFinished = true;
    res.emit('finish');
    res.emit('close');
    res.emit('finish');
    assert.deepEqual(await lines(metrics), [
      'http_request_duration_seconds_count{"method":"GET","route":"/inner","status":"200"} 1',
      'http_requests_in_flight{} 0',
      'http_requests_total{"method":"GET","route":"/inner","status":"200"} 1',
    ]);
  });

  it('records again after the metrics are reset, in flight included', async () => {
    const metrics = new HttpMetrics(new RedisStorageManager({ env: {} }));
    serve(metrics, request('GET', '/a'), 200);
    const open = new FakeResponse();
    metrics.track(request('GET', '/a'), open as unknown as ServerResponse);
    metrics.requests.reset();
    metrics.duration.reset();
    metrics.inFlight.reset();
    serve(metrics, request('GET', '/a'), 200);
    serve(metrics, request('GET', '/a'), 200);
    assert.deepEqual(await lines(metrics), [
      'http_request_duration_seconds_count{"method":"GET","route":"/a","status":"200"} 2',
      'http_requests_in_flight{} 0',
      'http_requests_total{"method":"GET","route":"/a","status":"200"} 2',
    ]);
  });

  it('past the series limit counts every request of a new label set as a drop, and records it once there is room', async () => {
    const storage = new RedisStorageManager({ env: {}, maxSeriesPerMetric: 2 });
    const metrics = new HttpMetrics(storage);
    serve(metrics, request('GET', '/a'), 200);
    serve(metrics, request('GET', '/b'), 200);
    const before = storage.stats.droppedSeries;
    for (let i = 0; i < 3; i++) serve(metrics, request('GET', '/c'), 200);
    // Each of the 3 requests: one drop in the counter, one in the histogram.
    assert.equal(storage.stats.droppedSeries - before, 6);
    metrics.requests.remove({ method: 'GET', route: '/a', status: '200' });
    metrics.duration.remove({ method: 'GET', route: '/a', status: '200' });
    serve(metrics, request('GET', '/c'), 200);
    assert.equal(storage.stats.droppedSeries - before, 6);
    assert.deepEqual(await lines(metrics), [
      'http_request_duration_seconds_count{"method":"GET","route":"/b","status":"200"} 1',
      'http_request_duration_seconds_count{"method":"GET","route":"/c","status":"200"} 1',
      'http_requests_in_flight{} 0',
      'http_requests_total{"method":"GET","route":"/b","status":"200"} 1',
      'http_requests_total{"method":"GET","route":"/c","status":"200"} 1',
    ]);
  });

  it('a route label the metrics refuse (a routeOf returning a lone surrogate) loses that request, with one warning, and never throws into the app', async () => {
    const metrics = new HttpMetrics(new RedisStorageManager({ env: {} }));
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      for (let i = 0; i < 2; i++) assert.doesNotThrow(() => serve(metrics, request('GET'), 200, { routeOf: () => '/a\uD800' }));
      serve(metrics, request('GET', '/b'), 200);
      await new Promise((resolve) => setImmediate(resolve)); // 'warning' is emitted on the next tick
    } finally {
      process.off('warning', onWarning);
    }
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /^prom-client-redis: a request was not counted: /);
    assert.deepEqual((await lines(metrics)).filter((l) => l.startsWith('http_requests_total')), ['http_requests_total{"method":"GET","route":"/b","status":"200"} 1']);
  });
});
