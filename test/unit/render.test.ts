// The collector's renderer must give exactly what prom-client's registry.metrics() gives.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { render } from '../../src/collect/render.js';
import type { MetricObjectWithValues } from '../../src/index.js';

const families: MetricObjectWithValues[] = [
  { name: 'jobs_total', help: 'Jobs "done"\\ with\nnewline.', type: 'counter', aggregator: 'sum', values: [
    { labels: { kind: 'a"b\\c\nd', code: 200 }, value: 3 },
    { labels: {}, value: 0.1 + 0.2 },
  ] },
  { name: 'plain', help: 'Plain.', type: 'counter', aggregator: 'sum', values: [{ labels: {}, value: 1e21 }] },
  { name: 'temp', help: 'T.', type: 'gauge', aggregator: 'sum', values: [
    { labels: { pid: 'h:1:n' }, value: NaN },
    { labels: { pid: 'h:2:n' }, value: -Infinity },
    { labels: { pid: 'h:3:n' }, value: Infinity },
    { labels: { pid: 'h:4:n' }, value: -0 },
  ] },
  { name: 'lat', help: 'L.', type: 'histogram', aggregator: 'sum', values: [
    { labels: { route: '/x', le: '1' }, value: 1, metricName: 'lat_bucket' },
    { labels: { route: '/x', le: '+Inf' }, value: 2, metricName: 'lat_bucket' },
    { labels: { route: '/x' }, value: 2.5, metricName: 'lat_sum' },
    { labels: { route: '/x' }, value: 2, metricName: 'lat_count' },
  ] },
  { name: 'size', help: 'S.', type: 'summary', aggregator: 'sum', values: [
    { labels: { quantile: '0.5' }, value: 2 },
    { labels: {}, value: 6, metricName: 'size_sum' },
    { labels: {}, value: 3, metricName: 'size_count' },
  ] },
  { name: 'empty', help: 'Nothing yet.', type: 'gauge', aggregator: 'sum', values: [] },
];

async function promClient(contentType: string): Promise<string> {
  const registry = new Registry();
  registry.setContentType(contentType as typeof Registry.PROMETHEUS_CONTENT_TYPE);
  for (const family of families) {
    registry.registerMetric({ name: family.name, help: family.help, type: family.type, aggregator: 'sum',
      async get(this: { name: string }) {
        return { ...family, name: this.name };
      },
      reset: () => {},
    } as never);
  }
  return registry.metrics();
}

describe('render', () => {
  for (const contentType of [Registry.PROMETHEUS_CONTENT_TYPE, Registry.OPENMETRICS_CONTENT_TYPE]) {
    it(`matches prom-client byte for byte: ${contentType}`, async () => {
      assert.equal(await render(families, contentType), await promClient(contentType));
    });
  }
});
