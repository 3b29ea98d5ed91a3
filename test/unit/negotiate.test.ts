// /metrics content negotiation: the Accept headers real scrapers send (captured from Debian's
// Prometheus 2.42 with and without --enable-feature=native-histograms, and Prometheus 3's with an
// escaping scheme), q-values, wildcards, gzip and the scrape-timeout header.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { acceptsGzip, negotiateFormat, scrapeDeadlineMs } from '../../src/integrations/negotiate.js';

const PROTO = 'application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited';
const OM = 'application/openmetrics-text; version=1.0.0; charset=utf-8';
const TEXT = 'text/plain; version=0.0.4; charset=utf-8';

describe('content negotiation', () => {
  it('the Accept headers of real scrapers', () => {
    const cases: Array<[string | undefined, string]> = [
      // Prometheus 2.42, default.
      ['application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1', OM],
      // Prometheus 2.42 with --enable-feature=native-histograms.
      ['application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1', PROTO],
      // Prometheus 3, default scrape_protocols, escaping on the text formats.
      ['application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2', `${OM}; escaping=allow-utf-8`],
      // Prometheus 3 asking for text 1.0.0 first with underscores.
      ['text/plain;version=1.0.0;escaping=underscores;q=0.6,text/plain;version=0.0.4;q=0.5,*/*;q=0.1', 'text/plain; version=1.0.0; charset=utf-8; escaping=underscores'],
      // Text 1.0.0 without escaping: none named.
      ['text/plain;version=1.0.0', 'text/plain; version=1.0.0; charset=utf-8'],
      // `dots` would double underscores; what is sent is underscores-escaped, and the reply says so.
      ['text/plain;version=1.0.0;escaping=dots', 'text/plain; version=1.0.0; charset=utf-8; escaping=underscores'],
      [undefined, TEXT],
      ['', TEXT],
      ['*/*', TEXT],
      ['text/html,application/xhtml+xml', TEXT],
      ['application/openmetrics-text', 'application/openmetrics-text; version=0.0.1; charset=utf-8'],
      // q-values decide, not the order; equal q keeps the order.
      [`text/plain;version=0.0.4;q=0.3, ${PROTO.replace(/ /g, '')};q=0.9`, PROTO],
      ['application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.5', OM],
      // q=0 is "not acceptable"; an unknown version or a protobuf of another encoding does not match.
      ['application/openmetrics-text;version=1.0.0;q=0,text/plain', TEXT],
      ['application/openmetrics-text;version=2.0.0,text/plain;version=0.0.4;q=0.2', TEXT],
      ['application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text;q=1,application/openmetrics-text;version=1.0.0;q=0.5', OM],
      ['APPLICATION/OpenMetrics-Text; Version="1.0.0"', OM],
    ];
    assert.deepEqual(cases.map(([accept]) => negotiateFormat(accept).contentType), cases.map(([, expected]) => expected));
    assert.deepEqual([PROTO, OM, TEXT].map((ct) => negotiateFormat(ct.replace(/ /g, '')).kind), ['protobuf', 'openmetrics', 'text']);
  });

  it('gzip when Accept-Encoding allows it', () => {
    assert.deepEqual(
      ['gzip', 'gzip, deflate, br', 'deflate, gzip;q=0.5', 'gzip;q=0', '*', '*;q=0', 'br', '', undefined, 'identity, *;q=0.1'].map(acceptsGzip),
      [true, true, true, false, true, false, false, false, false, true],
    );
  });

  it('X-Prometheus-Scrape-Timeout-Seconds: the timeout less a tenth, at most 500 ms', () => {
    assert.deepEqual(['0.9', '10', '120', '0.005', '0', '-1', 'soon', '', undefined, ['2', '5']].map((h) => scrapeDeadlineMs(h)), [810, 9500, 119500, 4, undefined, undefined, undefined, undefined, undefined, 1800]);
  });
});
