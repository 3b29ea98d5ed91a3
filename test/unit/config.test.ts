import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { resolveConfig, RedisStorageManager, ConfigError } from '../../src/index.js';

function rejects(env: Record<string, string>, message: string, options = {}): void {
  assert.throws(() => resolveConfig(options, env), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.equal(error.code, 'ERR_PCR_CONFIG');
    assert.equal(error.message, message);
    return true;
  });
}

describe('configuration: defaults', () => {
  it("are the seed's, plus ours", () => {
    const c = resolveConfig({}, {});
    assert.deepEqual(
      { ...c },
      {
        enabled: false, url: undefined, host: 'localhost', port: 6379, db: 0, username: undefined, password: undefined,
        ssl: false, sslCaFile: undefined, sslCertFile: undefined, sslKeyFile: undefined, sslVerify: true,
        clusterNodes: [], sentinels: [], sentinelName: 'mymaster', sentinelPassword: undefined,
        keyPrefix: 'prometheus', ttlSeconds: 300, flushIntervalMs: 1000, liveTimeoutMs: 3000, flushTimeoutMs: 5000,
        collectTimeoutMs: 5000, shutdownTimeoutMs: 5000, exitHooks: true, sliceMs: 4, maxSeriesPerMetric: 10000,
        maxHdrBytes: 524288, maxHistogramBuckets: 1000, maxPercentilesPerFamily: 100, maxFamilies: 2000, maxProcessesPerFamily: 10000,
        waitReplicas: 0, waitTimeoutMs: 1000, identity: undefined,
      },
    );
    assert.ok(Object.isFrozen(c));
  });

  it('reads every variable, and options win over the environment', () => {
    const env = {
      REDIS_ENABLED: 'TRUE', REDIS_HOST: 'redis.internal', REDIS_PORT: '6380', REDIS_DB: '2', REDIS_KEY_PREFIX: 'app:metrics',
      REDIS_TTL_SECONDS: '600', REDIS_PASSWORD: 'p@ss:w/rd', REDIS_SSL: 'yes', REDIS_FLUSH_INTERVAL_MS: '250',
      REDIS_SENTINELS: 'a:7000, b:7001',
    };
    const c = resolveConfig({ port: 7000 }, env);
    assert.deepEqual(
      [c.enabled, c.host, c.port, c.db, c.keyPrefix, c.ttlSeconds, c.password, c.ssl, c.flushIntervalMs, c.liveTimeoutMs, c.sentinels],
      [true, 'redis.internal', 7000, 2, 'app:metrics', 600, 'p@ss:w/rd', true, 250, 750, ['a:7000', 'b:7001']],
    );
  });
});

describe('configuration: every error names the variable and the value', () => {
  it('REDIS_ENABLED', () => rejects({ REDIS_ENABLED: 'maybe' }, 'Invalid environment variable REDIS_ENABLED: expected true or false (or 1/0, yes/no, on/off), got `maybe` (string)'));
  it('REDIS_PORT not a number', () => rejects({ REDIS_PORT: 'abc' }, 'Invalid environment variable REDIS_PORT: expected an integer from 1 to 65535, got `abc` (string)'));
  it('REDIS_PORT out of range', () => rejects({ REDIS_PORT: '70000' }, 'Invalid environment variable REDIS_PORT: expected an integer from 1 to 65535, got `70000` (string)'));
  it('REDIS_DB', () => rejects({ REDIS_DB: '-1' }, 'Invalid environment variable REDIS_DB: expected an integer from 0 to 1000000, got `-1` (string)'));
  it('REDIS_FLUSH_INTERVAL_MS', () => rejects({ REDIS_FLUSH_INTERVAL_MS: '0' }, 'Invalid environment variable REDIS_FLUSH_INTERVAL_MS: expected an integer from 1 to 86400000, got `0` (string)'));
  it('REDIS_MAX_FAMILIES', () => rejects({ REDIS_MAX_FAMILIES: '0' }, 'Invalid environment variable REDIS_MAX_FAMILIES: expected an integer from 1 to 1000000, got `0` (string)'));
  it('maxFamilies', () => rejects({}, 'Invalid option `maxFamilies`: expected an integer from 1 to 1000000, got `1.5` (number)', { maxFamilies: 1.5 }));
  it('REDIS_MAX_HISTOGRAM_BUCKETS', () => rejects({ REDIS_MAX_HISTOGRAM_BUCKETS: '100001' }, 'Invalid environment variable REDIS_MAX_HISTOGRAM_BUCKETS: expected an integer from 1 to 100000, got `100001` (string)'));
  it('maxHistogramBuckets', () => rejects({}, 'Invalid option `maxHistogramBuckets`: expected an integer from 1 to 100000, got `many` (string)', { maxHistogramBuckets: 'many' }));
  it('REDIS_TTL_SECONDS', () => rejects({ REDIS_TTL_SECONDS: '5m' }, 'Invalid environment variable REDIS_TTL_SECONDS: expected an integer from 1 to 31536000, got `5m` (string)'));
  it('REDIS_LIVE_TIMEOUT_MS', () => rejects({ REDIS_LIVE_TIMEOUT_MS: '1.5' }, 'Invalid environment variable REDIS_LIVE_TIMEOUT_MS: expected an integer from 1 to 86400000, got `1.5` (string)'));
  it('REDIS_FLUSH_TIMEOUT_MS', () => rejects({ REDIS_FLUSH_TIMEOUT_MS: 'never' }, 'Invalid environment variable REDIS_FLUSH_TIMEOUT_MS: expected an integer from 1 to 3600000, got `never` (string)'));
  it('REDIS_COLLECT_TIMEOUT_MS', () => rejects({ REDIS_COLLECT_TIMEOUT_MS: '0' }, 'Invalid environment variable REDIS_COLLECT_TIMEOUT_MS: expected an integer from 1 to 3600000, got `0` (string)'));
  it('REDIS_MAX_SERIES_PER_METRIC', () => rejects({ REDIS_MAX_SERIES_PER_METRIC: '0' }, 'Invalid environment variable REDIS_MAX_SERIES_PER_METRIC: expected an integer from 1 to 100000000, got `0` (string)'));
  it('REDIS_MAX_HDR_BYTES', () => rejects({ REDIS_MAX_HDR_BYTES: '512k' }, 'Invalid environment variable REDIS_MAX_HDR_BYTES: expected an integer from 1024 to 1073741824, got `512k` (string)'));
  it('REDIS_MAX_PERCENTILES', () => rejects({ REDIS_MAX_PERCENTILES: '-1' }, 'Invalid environment variable REDIS_MAX_PERCENTILES: expected an integer from 1 to 1000000, got `-1` (string)'));
  it('REDIS_MAX_FAMILIES', () => rejects({ REDIS_MAX_FAMILIES: 'all' }, 'Invalid environment variable REDIS_MAX_FAMILIES: expected an integer from 1 to 1000000, got `all` (string)'));
  it('REDIS_MAX_PROCESSES', () => rejects({ REDIS_MAX_PROCESSES: '1.5' }, 'Invalid environment variable REDIS_MAX_PROCESSES: expected an integer from 1 to 10000000, got `1.5` (string)'));
  it('the option `maxHdrBytes` below 1 KiB', () => rejects({}, 'Invalid option `maxHdrBytes`: expected an integer from 1024 to 1073741824, got `100` (number)', { maxHdrBytes: 100 }));
  it('the collect limits, read from the environment', () => {
    const c = resolveConfig({ maxFamilies: 7 }, { REDIS_MAX_HDR_BYTES: '2048', REDIS_MAX_HISTOGRAM_BUCKETS: '20', REDIS_MAX_PERCENTILES: '5', REDIS_MAX_FAMILIES: '9', REDIS_MAX_PROCESSES: '3' });
    assert.deepEqual([c.maxHdrBytes, c.maxHistogramBuckets, c.maxPercentilesPerFamily, c.maxFamilies, c.maxProcessesPerFamily], [2048, 20, 5, 7, 3]);
  });
  it('REDIS_SLICE_MS', () => rejects({ REDIS_SLICE_MS: '0' }, 'Invalid environment variable REDIS_SLICE_MS: expected an integer from 1 to 1000, got `0` (string)'));
  it('REDIS_WAIT_REPLICAS', () => rejects({ REDIS_WAIT_REPLICAS: 'all' }, 'Invalid environment variable REDIS_WAIT_REPLICAS: expected an integer from 0 to 100, got `all` (string)'));
  it('REDIS_KEY_PREFIX with a brace', () => rejects({ REDIS_KEY_PREFIX: 'app{1}' }, 'Invalid environment variable REDIS_KEY_PREFIX: expected no braces or white space (they would break Redis Cluster hash tags), got `app{1}` (string)'));
  it('REDIS_HOST blank', () => rejects({ REDIS_HOST: '  ' }, 'Invalid environment variable REDIS_HOST: expected a non-empty string, got `  ` (string)'));
  it('REDIS_URL with another protocol', () => rejects({ REDIS_URL: 'http://cache:6379' }, 'Invalid environment variable REDIS_URL: expected a redis:// or rediss:// URL, got protocol `http:`'));
  it('REDIS_URL not a URL', () => rejects({ REDIS_URL: '//cache:6379' }, 'Invalid environment variable REDIS_URL: expected a redis:// or rediss:// URL, got a string that is not a URL'));
  it('REDIS_URL with a database that is not a number', () =>
    rejects({ REDIS_URL: 'redis://h:6379/notanumber' }, 'Invalid environment variable REDIS_URL: expected the path to be a database number from 0 to 1000000 (redis://host:6379/0), got `notanumber` in `redis://h:6379/notanumber`'));
  it('REDIS_URL with a bad database never shows the password', () =>
    rejects({ REDIS_URL: 'redis://metrics:s3cret@h:6379/1x' }, 'Invalid environment variable REDIS_URL: expected the path to be a database number from 0 to 1000000 (redis://host:6379/0), got `1x` in `redis://metrics:***@h:6379/1x`'));
  it('REDIS_URL with a bad ?db=', () =>
    rejects({ REDIS_URL: 'rediss://h:6379?db=-1' }, 'Invalid environment variable REDIS_URL: expected the ?db= to be a database number from 0 to 1000000 (redis://host:6379/0), got `-1` in `rediss://h:6379?db=-1`'));
  it('the option `url` with a bad database', () =>
    rejects({}, 'Invalid option `url`: expected the path to be a database number from 0 to 1000000 (redis://host:6379/0), got `0/` in `redis://h/0/`', { url: 'redis://h/0/' }));
  it('REDIS_URL databases that are fine', () => {
    for (const url of ['redis://h', 'redis://h/', 'redis://h:6379/15', 'rediss://u:p@h/0', 'redis://h?db=3']) assert.equal(resolveConfig({}, { REDIS_URL: url }).url, url);
  });
  it('REDIS_SSL_CA without TLS', () =>
    rejects({ REDIS_SSL_CA: '/etc/ca.pem' }, 'REDIS_SSL_CA (sslCaFile) is set but TLS is off: set REDIS_SSL=true (ssl) or use a rediss:// URL, or unset it; the connection would otherwise be plaintext'));
  it('REDIS_SSL_CA, CERT and KEY with REDIS_SSL=false and a redis:// URL', () =>
    rejects({ REDIS_SSL: 'false', REDIS_URL: 'redis://h', REDIS_SSL_CA: 'a', REDIS_SSL_CERT: 'b', REDIS_SSL_KEY: 'c' }, 'REDIS_SSL_CA (sslCaFile), REDIS_SSL_CERT (sslCertFile), REDIS_SSL_KEY (sslKeyFile) are set but TLS is off: set REDIS_SSL=true (ssl) or use a rediss:// URL, or unset them; the connection would otherwise be plaintext'));
  it('REDIS_SSL_CA with TLS from REDIS_SSL or rediss://', () => {
    assert.equal(resolveConfig({}, { REDIS_SSL: 'true', REDIS_SSL_CA: '/ca' }).sslCaFile, '/ca');
    assert.equal(resolveConfig({}, { REDIS_URL: 'rediss://h', REDIS_SSL_CA: '/ca' }).sslCaFile, '/ca');
  });
  it('REDIS_SSL_CERT without REDIS_SSL_KEY', () =>
    rejects({ REDIS_SSL: 'true', REDIS_SSL_CERT: '/c.pem' }, 'REDIS_SSL_CERT (sslCertFile) and REDIS_SSL_KEY (sslKeyFile) go together: a client certificate needs its key'));
  it('REDIS_DB other than 0 with Redis Cluster', () =>
    rejects({ REDIS_CLUSTER_NODES: 'a:7000', REDIS_DB: '2' }, 'REDIS_DB (db) is 2, but Redis Cluster (REDIS_CLUSTER_NODES) has only database 0'));
  it('REDIS_SSL', () => rejects({ REDIS_SSL: 'tls' }, 'Invalid environment variable REDIS_SSL: expected true or false (or 1/0, yes/no, on/off), got `tls` (string)'));
  it('REDIS_SSL_VERIFY', () => rejects({ REDIS_SSL_VERIFY: 'nope' }, 'Invalid environment variable REDIS_SSL_VERIFY: expected true or false (or 1/0, yes/no, on/off), got `nope` (string)'));
  it('REDIS_CLUSTER_NODES without a port', () => rejects({ REDIS_CLUSTER_NODES: 'a:7000,b' }, 'Invalid environment variable REDIS_CLUSTER_NODES: expected host:port, got `b` (string)'));
  it('REDIS_SENTINELS with a bad port', () => rejects({ REDIS_SENTINELS: 's1:0' }, 'Invalid environment variable REDIS_SENTINELS: expected host:port, got `s1:0` (string)'));
  it('Cluster and Sentinel together', () =>
    rejects({ REDIS_CLUSTER_NODES: 'a:7000', REDIS_SENTINELS: 's:26379' }, 'REDIS_CLUSTER_NODES and REDIS_SENTINELS are both set: choose Redis Cluster or Sentinel, not both'));
  it('an option of the wrong type', () => rejects({}, 'Invalid option `port`: expected an integer from 1 to 65535, got `6379` (string)', { port: '6379' }));
  it('options that are not an object', () => rejects({}, 'Expected options to be an object, got `null` (null)', null as never));
  it('an identity with white space', () =>
    assert.throws(() => new RedisStorageManager({ identity: { host: 'my host' }, env: {} }), {
      code: 'ERR_PCR_CONFIG',
      message: 'Invalid option `identity.host`: expected a non-empty string without braces or white space (or an integer pid), got `my host`',
    }));
});
