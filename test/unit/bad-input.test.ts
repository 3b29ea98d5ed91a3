// Issue 3, item 10: every misuse through the API and the environment gets a clear error that names
// the value (and a stable `code`), thrown synchronously, and none corrupts the store. No Redis here.
import { after, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { offlineManager } from '../helpers/offline.js';
import assert from 'node:assert/strict';
import {
  Counter, Gauge, Histogram, Summary, RedisStorageManager, resolveConfig, ConfigError, ValidationError,
} from '../../src/index.js';

type Code = 'ERR_PCR_CONFIG' | 'ERR_PCR_INVALID_METRIC' | 'ERR_PCR_INVALID_LABEL' | 'ERR_PCR_INVALID_VALUE' | 'ERR_PCR_DUPLICATE_METRIC';

function throwsExactly(fn: () => unknown, code: Code, message: string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof (code === 'ERR_PCR_CONFIG' ? ConfigError : ValidationError), `got ${String(error)}`);
    assert.equal((error as ConfigError).code, code);
    assert.equal((error as Error).message, message);
    return true;
  });
}

function memoryStore() {
  return new RedisStorageManager({ enabled: false, env: {} });
}

describe('misuse of the metric API', () => {
  const storage = memoryStore();
  const opts = { storage, registers: [] };
  // The Gauge refuses its label before any connection matters.
  const withRedis = offlineManager();
  after(() => withRedis.shutdown());
  const registry = new Registry();
  const requests = new Counter({ name: 'requests_total', help: 'Requests.', labelNames: ['method', 'code'], storage, registers: [registry] });
  const plain = new Counter({ name: 'plain_total', help: 'No labels.', ...opts });
  const temperature = new Gauge({ name: 'temperature', help: 'Temperature.', multiprocessMode: 'max', ...opts });
  const latency = new Histogram({ name: 'latency', help: 'Latency.', buckets: [1], ...opts });
  const size = new Summary({ name: 'size', help: 'Size.', percentiles: [0.5], ...opts });
  requests.inc({ method: 'GET', code: 200 }, 3);
  plain.inc(2);
  temperature.set(21);
  latency.observe(0.5);
  size.observe(4);
  const before = snapshot();

  function snapshot() {
    return [...storage.dict.families.values()].map((f) => ({
      name: f.def.name,
      series: [...f.series.values.keys()],
      dirty: f.series.dirty.length,
      state: JSON.stringify([...f.series.values.values()], (_k, v: unknown) => (v instanceof Float64Array ? [...v] : v instanceof Map ? [...v.keys()] : v instanceof Set ? [...v] : v)),
    }));
  }

  const cases: Array<[string, () => unknown, Code, string]> = [
    ['metric name', () => new Counter({ name: '1bad', help: 'x', ...opts }), 'ERR_PCR_INVALID_METRIC', 'Invalid metric name `1bad` (string): expected a string matching /^[a-zA-Z_:][a-zA-Z0-9_:]*$/'],
    ['metric name type', () => new Counter({ name: 5 as never, help: 'x', ...opts }), 'ERR_PCR_INVALID_METRIC', 'Invalid metric name `5` (number): expected a string matching /^[a-zA-Z_:][a-zA-Z0-9_:]*$/'],
    ['missing help', () => new Counter({ name: 'no_help', help: '', ...opts }), 'ERR_PCR_INVALID_METRIC', 'Missing mandatory help parameter for metric `no_help`: expected a non-empty string, got `` (string)'],
    ['configuration', () => new Counter(null as never), 'ERR_PCR_INVALID_METRIC', 'constructor expected a config object: a counter got `null` (null)'],
    ['unknown option', () => new Counter({ name: 'typo', help: 'x', bucket: [1], ...opts } as never), 'ERR_PCR_INVALID_METRIC', 'Unknown option `bucket` for metric `typo`'],
    ['collect', () => new Counter({ name: 'col', help: 'x', collect: 5 as never, ...opts }), 'ERR_PCR_INVALID_METRIC', 'Optional "collect" parameter must be a function: metric `col` got `5` (number)'],
    ['duplicate in a registry', () => new Counter({ name: 'requests_total', help: 'x', storage, registers: [registry] }), 'ERR_PCR_DUPLICATE_METRIC', 'A metric with the name requests_total has already been registered.'],
    ['label name', () => new Counter({ name: 'l1', help: 'x', labelNames: ['bad-name'], ...opts }), 'ERR_PCR_INVALID_LABEL', 'Invalid label name `bad-name` (string) for metric `l1`: expected /^[a-zA-Z_][a-zA-Z0-9_]*$/ not starting with `__`'],
    ['label name __', () => new Counter({ name: 'l2', help: 'x', labelNames: ['__x'], ...opts }), 'ERR_PCR_INVALID_LABEL', 'Invalid label name `__x` (string) for metric `l2`: expected /^[a-zA-Z_][a-zA-Z0-9_]*$/ not starting with `__`'],
    ['labelNames type', () => new Counter({ name: 'l3', help: 'x', labelNames: 'a' as never, ...opts }), 'ERR_PCR_INVALID_LABEL', 'Invalid labelNames for metric `l3`: expected an array of strings, got `a` (string)'],
    ['repeated label', () => new Counter({ name: 'l4', help: 'x', labelNames: ['a', 'a'], ...opts }), 'ERR_PCR_INVALID_LABEL', 'Label name `a` is repeated in metric `l4`'],
    ['reserved le', () => new Histogram({ name: 'l5', help: 'x', labelNames: ['le'], ...opts }), 'ERR_PCR_INVALID_LABEL', 'le is a reserved label keyword'],
    ['reserved quantile', () => new Summary({ name: 'l6', help: 'x', labelNames: ['quantile'], ...opts }), 'ERR_PCR_INVALID_LABEL', 'quantile is a reserved label keyword'],
    ['reserved pid (with Redis, mode all)', () => new Gauge({ name: 'l7', help: 'x', labelNames: ['pid'], storage: withRedis, registers: [] }), 'ERR_PCR_INVALID_LABEL', 'pid is a reserved label keyword for gauge `l7` with multiprocessMode all (it adds the process as `pid`): choose another mode or label name'],
    ['gauge mode', () => new Gauge({ name: 'm1', help: 'x', multiprocessMode: 'avg' as never, ...opts }), 'ERR_PCR_INVALID_METRIC', 'Invalid multiprocessMode `avg` (string) for gauge `m1`: expected one of all, liveall, min, max, sum, mostrecent, livemin, livemax, livesum, livemostrecent'],
    ['buckets type', () => new Histogram({ name: 'b1', help: 'x', buckets: 'a' as never, ...opts }), 'ERR_PCR_INVALID_METRIC', 'Invalid buckets for histogram `b1`: expected a non-empty array of increasing finite numbers, got `a` (string)'],
    ['buckets empty', () => new Histogram({ name: 'b2', help: 'x', buckets: [], ...opts }), 'ERR_PCR_INVALID_METRIC', 'Invalid buckets for histogram `b2`: expected a non-empty array of increasing finite numbers, got `[]` (array)'],
    ['buckets order', () => new Histogram({ name: 'b3', help: 'x', buckets: [1, 0.5], ...opts }), 'ERR_PCR_INVALID_METRIC', 'Invalid buckets for histogram `b3`: expected increasing finite numbers, got `[1,0.5]` (array) (at `0.5` (number))'],
    ['buckets Infinity', () => new Histogram({ name: 'b4', help: 'x', buckets: [1, Infinity], ...opts }), 'ERR_PCR_INVALID_METRIC', 'Invalid buckets for histogram `b4`: expected increasing finite numbers, got `[1,null]` (array) (at `Infinity` (number))'],
    ['buckets past maxHistogramBuckets', () => new Histogram({ name: 'b5', help: 'x', buckets: Array.from({ length: 1001 }, (_, i) => i), ...opts }), 'ERR_PCR_INVALID_METRIC', 'Invalid buckets for histogram `b5`: 1001 buckets, more than maxHistogramBuckets (1000, REDIS_MAX_HISTOGRAM_BUCKETS)'],
    ['native budget unlimited', () => new Histogram({ name: 'b6', help: 'x', nativeHistogramBucketFactor: 1.1, nativeHistogramMaxBucketNumber: 0, ...opts }), 'ERR_PCR_INVALID_METRIC', 'Invalid nativeHistogramMaxBucketNumber `0` (number) for histogram `b6`: expected 1 to maxHistogramBuckets (1000, REDIS_MAX_HISTOGRAM_BUCKETS)'],
    ['native budget past maxHistogramBuckets', () => new Histogram({ name: 'b7', help: 'x', nativeHistogramBucketFactor: 1.1, nativeHistogramMaxBucketNumber: 1001, ...opts }), 'ERR_PCR_INVALID_METRIC', 'Invalid nativeHistogramMaxBucketNumber `1001` (number) for histogram `b7`: expected 1 to maxHistogramBuckets (1000, REDIS_MAX_HISTOGRAM_BUCKETS)'],
    ['percentile', () => new Summary({ name: 'p1', help: 'x', percentiles: [0.5, 2], ...opts }), 'ERR_PCR_INVALID_METRIC', 'Invalid percentile `2` (number) for summary `p1`: expected a number in [0, 1]'],
    ['maxAgeSeconds', () => new Summary({ name: 'p2', help: 'x', maxAgeSeconds: -1, ...opts }), 'ERR_PCR_INVALID_METRIC', 'Invalid maxAgeSeconds `-1` (number) for summary `p2`: expected a number >= 1'],
    ['ageBuckets', () => new Summary({ name: 'p3', help: 'x', maxAgeSeconds: 60, ageBuckets: 0, ...opts }), 'ERR_PCR_INVALID_METRIC', 'Invalid ageBuckets `0` (number) for summary `p3`: expected an integer from 1 to 60'],
    // A window of a millisecond made a histogram per series every 0.2 ms (1.45 GB in 2 s).
    ['maxAgeSeconds below 1 s', () => new Summary({ name: 'p4', help: 'x', maxAgeSeconds: 0.001, ...opts }), 'ERR_PCR_INVALID_METRIC', 'Invalid maxAgeSeconds `0.001` (number) for summary `p4`: expected a number >= 1'],
    ['maxAgeSeconds Infinity', () => new Summary({ name: 'p5', help: 'x', maxAgeSeconds: Infinity, ...opts }), 'ERR_PCR_INVALID_METRIC', 'Invalid maxAgeSeconds `Infinity` (number) for summary `p5`: expected a number >= 1'],
    ['ageBuckets above 60', () => new Summary({ name: 'p6', help: 'x', maxAgeSeconds: 60, ageBuckets: 61, ...opts }), 'ERR_PCR_INVALID_METRIC', 'Invalid ageBuckets `61` (number) for summary `p6`: expected an integer from 1 to 60'],
    ['ageBuckets fraction', () => new Summary({ name: 'p7', help: 'x', maxAgeSeconds: 60, ageBuckets: 2.5, ...opts }), 'ERR_PCR_INVALID_METRIC', 'Invalid ageBuckets `2.5` (number) for summary `p7`: expected an integer from 1 to 60'],
    ['label value type', () => requests.inc({ method: {} as never, code: 200 }), 'ERR_PCR_INVALID_LABEL', 'Invalid value for label `method` of metric `requests_total`: expected a string or a finite number, got `{}` (object)'],
    ['label value boolean', () => requests.inc({ method: true as never }), 'ERR_PCR_INVALID_LABEL', 'Invalid value for label `method` of metric `requests_total`: expected a string or a finite number, got `true` (boolean)'],
    ['label value NaN', () => requests.inc({ code: NaN }), 'ERR_PCR_INVALID_LABEL', 'Invalid value for label `code` of metric `requests_total`: expected a string or a finite number, got `NaN` (number)'],
    ['unknown label', () => requests.inc({ method: 'GET', route: '/' } as never), 'ERR_PCR_INVALID_LABEL', "Added label \"route\" is not included in initial labelset: [ 'method', 'code' ]"],
    ['label on a metric without labels', () => plain.inc({ method: 'GET' } as never), 'ERR_PCR_INVALID_LABEL', 'Added label "method" is not included in initial labelset: []'],
    ['label count', () => requests.labels('GET'), 'ERR_PCR_INVALID_LABEL', 'Invalid number of arguments (1): "GET" for label names (2): "method, code".'],
    ['positional label type', () => requests.labels('GET', null as never), 'ERR_PCR_INVALID_LABEL', 'Invalid value for label `code` of metric `requests_total`: expected a string or a finite number, got `null` (null)'],
    ['negative increment', () => plain.inc(-1), 'ERR_PCR_INVALID_VALUE', 'It is not possible to decrease a counter'],
    ['NaN increment', () => plain.inc(NaN), 'ERR_PCR_INVALID_VALUE', 'Value is not a valid number: NaN'],
    ['Infinity increment', () => plain.inc(Infinity), 'ERR_PCR_INVALID_VALUE', 'Value is not a valid number: Infinity'],
    ['string increment', () => plain.inc('1' as never), 'ERR_PCR_INVALID_VALUE', 'Value is not a valid number: 1'],
    ['child negative increment', () => requests.labels('GET', 200).inc(-2), 'ERR_PCR_INVALID_VALUE', 'It is not possible to decrease a counter'],
    ['counter overflow', () => plain.inc(Number.MAX_VALUE) ?? plain.inc(Number.MAX_VALUE), 'ERR_PCR_INVALID_VALUE', 'Counter increment would overflow to Infinity for metric `plain_total`: got `1.7976931348623157e+308` (number)'],
    ['gauge string', () => temperature.set('x' as never), 'ERR_PCR_INVALID_VALUE', 'Value is not a valid number: x'],
    ['gauge string delta', () => temperature.inc('2' as never), 'ERR_PCR_INVALID_VALUE', 'Delta is not a valid number: 2'],
    ['gauge child undefined', () => temperature.labels().set(undefined as never), 'ERR_PCR_INVALID_VALUE', 'Value is not a valid number: undefined'],
    ['histogram NaN', () => latency.observe(NaN), 'ERR_PCR_INVALID_VALUE', 'Value is not a valid number: NaN'],
    ['histogram Infinity', () => latency.observe(Infinity), 'ERR_PCR_INVALID_VALUE', 'Value is not a valid number: Infinity'],
    ['summary negative', () => size.observe(-1), 'ERR_PCR_INVALID_VALUE', `Summary observations must be from 0 to ${Number.MAX_SAFE_INTEGER / 1e6} (quantiles come from HDR histograms of value × 1000000) for metric \`size\`: got \`-1\` (number)`],
    ['summary NaN', () => size.observe(NaN), 'ERR_PCR_INVALID_VALUE', 'Value is not a valid number: NaN'],
  ];

  for (const [what, fn, code, message] of cases) {
    it(`${what}: ${code}`, () => throwsExactly(fn, code, message));
  }

  it('none of the misuses above changed the store', async () => {
    // 'counter overflow' added MAX_VALUE once before the second call was refused: undo that one
    // accepted update, then everything must be as before.
    const plainValue = plain.series.values.get('') as unknown as { delta: number };
    assert.equal(plainValue.delta, 2 + Number.MAX_VALUE);
    plainValue.delta = 2;
    assert.deepEqual(snapshot().filter((f) => before.some((b) => b.name === f.name)), before);
    const text = await storage.getCollector().metrics();
    assert.match(text, /^requests_total\{method="GET",code="200"\} 3$/m);
    assert.match(text, /^plain_total 2$/m);
    assert.match(text, /^temperature 21$/m);
    assert.match(text, /^latency_count 1$/m);
    assert.match(text, /^size_count 1$/m);
    assert.doesNotMatch(text, /route|NaN|Infinity/);
  });
});

describe('misuse through options and the environment', () => {
  const env = (vars: Record<string, string>) => () => resolveConfig({}, vars);
  const cases: Array<[string, () => unknown, string]> = [
    ['REDIS_ENABLED', env({ REDIS_ENABLED: 'maybe' }), 'Invalid environment variable REDIS_ENABLED: expected true or false (or 1/0, yes/no, on/off), got `maybe` (string)'],
    ['REDIS_PORT text', env({ REDIS_PORT: 'abc' }), 'Invalid environment variable REDIS_PORT: expected an integer from 1 to 65535, got `abc` (string)'],
    ['REDIS_PORT range', env({ REDIS_PORT: '70000' }), 'Invalid environment variable REDIS_PORT: expected an integer from 1 to 65535, got `70000` (string)'],
    ['REDIS_DB', env({ REDIS_DB: '-1' }), 'Invalid environment variable REDIS_DB: expected an integer from 0 to 1000000, got `-1` (string)'],
    ['REDIS_URL protocol', env({ REDIS_URL: 'http://localhost:6379' }), 'Invalid environment variable REDIS_URL: expected a redis:// or rediss:// URL, got protocol `http:`'],
    ['REDIS_URL text', env({ REDIS_URL: 'localhost' }), 'Invalid environment variable REDIS_URL: expected a redis:// or rediss:// URL, got a string that is not a URL'],
    ['REDIS_KEY_PREFIX', env({ REDIS_KEY_PREFIX: 'app{1}' }), 'Invalid environment variable REDIS_KEY_PREFIX: expected no braces or white space (they would break Redis Cluster hash tags), got `app{1}` (string)'],
    ['REDIS_TTL_SECONDS', env({ REDIS_TTL_SECONDS: '0' }), 'Invalid environment variable REDIS_TTL_SECONDS: expected an integer from 1 to 31536000, got `0` (string)'],
    ['REDIS_FLUSH_INTERVAL_MS', env({ REDIS_FLUSH_INTERVAL_MS: '1.5' }), 'Invalid environment variable REDIS_FLUSH_INTERVAL_MS: expected an integer from 1 to 86400000, got `1.5` (string)'],
    ['REDIS_LIVE_TIMEOUT_MS', env({ REDIS_LIVE_TIMEOUT_MS: 'soon' }), 'Invalid environment variable REDIS_LIVE_TIMEOUT_MS: expected an integer from 1 to 86400000, got `soon` (string)'],
    ['REDIS_FLUSH_TIMEOUT_MS', env({ REDIS_FLUSH_TIMEOUT_MS: '0' }), 'Invalid environment variable REDIS_FLUSH_TIMEOUT_MS: expected an integer from 1 to 3600000, got `0` (string)'],
    ['REDIS_COLLECT_TIMEOUT_MS', env({ REDIS_COLLECT_TIMEOUT_MS: '-5' }), 'Invalid environment variable REDIS_COLLECT_TIMEOUT_MS: expected an integer from 1 to 3600000, got `-5` (string)'],
    ['REDIS_SHUTDOWN_TIMEOUT_MS', env({ REDIS_SHUTDOWN_TIMEOUT_MS: '5s' }), 'Invalid environment variable REDIS_SHUTDOWN_TIMEOUT_MS: expected an integer from 1 to 3600000, got `5s` (string)'],
    ['REDIS_EXIT_HOOKS', env({ REDIS_EXIT_HOOKS: '2' }), 'Invalid environment variable REDIS_EXIT_HOOKS: expected true or false (or 1/0, yes/no, on/off), got `2` (string)'],
    ['REDIS_MAX_SERIES_PER_METRIC', env({ REDIS_MAX_SERIES_PER_METRIC: '0' }), 'Invalid environment variable REDIS_MAX_SERIES_PER_METRIC: expected an integer from 1 to 100000000, got `0` (string)'],
    ['REDIS_WAIT_REPLICAS', env({ REDIS_WAIT_REPLICAS: 'all' }), 'Invalid environment variable REDIS_WAIT_REPLICAS: expected an integer from 0 to 100, got `all` (string)'],
    ['REDIS_SSL', env({ REDIS_SSL: 'tls' }), 'Invalid environment variable REDIS_SSL: expected true or false (or 1/0, yes/no, on/off), got `tls` (string)'],
    ['REDIS_HOST', env({ REDIS_HOST: '   ' }), 'Invalid environment variable REDIS_HOST: expected a non-empty string, got `   ` (string)'],
    ['REDIS_CLUSTER_NODES', env({ REDIS_CLUSTER_NODES: 'a:1,b' }), 'Invalid environment variable REDIS_CLUSTER_NODES: expected host:port, got `b` (string)'],
    ['REDIS_SENTINELS port', env({ REDIS_SENTINELS: 'a:99999' }), 'Invalid environment variable REDIS_SENTINELS: expected host:port, got `a:99999` (string)'],
    ['cluster and sentinel', env({ REDIS_CLUSTER_NODES: 'a:1', REDIS_SENTINELS: 'b:2' }), 'REDIS_CLUSTER_NODES and REDIS_SENTINELS are both set: choose Redis Cluster or Sentinel, not both'],
    ['option type', () => resolveConfig({ port: '6379' as never }, {}), 'Invalid option `port`: expected an integer from 1 to 65535, got `6379` (string)'],
    ['option boolean', () => resolveConfig({ enabled: 'true' as never }, {}), 'Invalid option `enabled`: expected true or false, got `true` (string)'],
    ['options', () => resolveConfig(42 as never, {}), 'Expected options to be an object, got `42` (number)'],
    ['identity', () => new RedisStorageManager({ enabled: false, env: {}, identity: { host: 'my host' } }), 'Invalid option `identity.host`: expected a non-empty string without braces or white space (or an integer pid), got `my host`'],
    ['identity pid', () => new RedisStorageManager({ enabled: false, env: {}, identity: { pid: 1.5 } }), 'Invalid option `identity.pid`: expected a non-empty string without braces or white space (or an integer pid), got `1.5`'],
    ['TLS file', () => new RedisStorageManager({ enabled: true, env: {}, ssl: true, sslCaFile: '/nonexistent/ca.pem', exitHooks: false }), "Cannot read REDIS_SSL_CA file `/nonexistent/ca.pem`: ENOENT: no such file or directory, open '/nonexistent/ca.pem'"],
  ];
  for (const [what, fn, message] of cases) {
    it(`${what}: ERR_PCR_CONFIG`, () => throwsExactly(fn, 'ERR_PCR_CONFIG', message));
  }

  it('an env value that is wrong is never echoed when it may be a secret', () => {
    // No parser rejects a password string; an option of the wrong type names the option, not the value.
    assert.throws(() => resolveConfig({ password: 42 as never }, {}), { code: 'ERR_PCR_CONFIG', message: 'Invalid option `password`: expected a string, got number' });
  });
});
