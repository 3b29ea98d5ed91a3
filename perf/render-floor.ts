// The floor of a scrape: prom-client rendering the same series in its own process
// (`register.metrics()`), the work any Prometheus client does for every scrape, with no read and no
// merge. Forked by the scrape-floor section: says {type: 'ready'}, answers each {type: 'scrape'}
// with {type: 'scraped', ms, cpuUs, bytes, lines} until {type: 'stop'}.
// Usage: node dist/perf/render-floor.js <counters> <histograms>[+<summaries>]
import { Counter, Histogram, Registry, Summary } from 'prom-client';
import { COUNTER_NAME, fill, HISTOGRAM_NAME, parseShape, SUMMARY_NAME } from './lib/series.js';

const shape = parseShape(process.argv.slice(2), 0);
const register = new Registry();
const counter = new Counter({ name: COUNTER_NAME, help: 'requests', labelNames: ['id'], registers: shape.counters > 0 ? [register] : [] });
// A family with no series is not rendered by the subject; prom-client would print its HELP and TYPE.
const histogram = new Histogram({ name: HISTOGRAM_NAME, help: 'duration', labelNames: ['id'], registers: shape.histograms > 0 ? [register] : [] });
const summary = new Summary({ name: SUMMARY_NAME, help: 'size', labelNames: ['id'], registers: (shape.summaries ?? 0) > 0 ? [register] : [] });
fill(shape, counter, histogram, summary);
await register.metrics(); // warm-up, as the subject's reader does
process.on('message', (message: { type?: string }) => {
  if (message.type === 'stop') process.exit(0);
  if (message.type !== 'scrape') return;
  const start = process.hrtime.bigint();
  const cpu = process.cpuUsage();
  void register.metrics().then((text) => {
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    const used = process.cpuUsage(cpu);
    process.send?.({ type: 'scraped', ms, cpuUs: used.user + used.system, bytes: Buffer.byteLength(text), lines: text.split('\n').length });
  });
});
process.send?.({ type: 'ready' });
