// What a boolean environment variable accepts is what its error message says it accepts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { resolveConfig } from '../../src/config.js';
import { launcherSettings } from '../../src/integrations/env.js';
import { createLogger } from '../../src/log.js';

const SPELLINGS: [string, boolean][] = [
  ['true', true], ['TRUE', true], [' True ', true], ['1', true], ['yes', true], ['YES', true], ['on', true], ['On', true],
  ['false', false], ['FALSE', false], ['0', false], ['no', false], ['No', false], ['off', false], ['OFF', false],
];

describe('boolean environment variables: true or false, or 1/0, yes/no, on/off, in any case', () => {
  it('REDIS_ENABLED (config.ts)', () => {
    assert.deepEqual(SPELLINGS.map(([raw]) => [raw, resolveConfig({}, { REDIS_ENABLED: raw }).enabled]), SPELLINGS);
    assert.throws(() => resolveConfig({}, { REDIS_ENABLED: 'y' }), {
      message: 'Invalid environment variable REDIS_ENABLED: expected true or false (or 1/0, yes/no, on/off), got `y` (string)',
    });
  });

  it('PROM_CLIENT_REDIS_COLLECT_THREAD (the launcher settings)', () => {
    assert.equal(launcherSettings({}).collectThread, true);
    assert.deepEqual(SPELLINGS.map(([raw]) => [raw, launcherSettings({ PROM_CLIENT_REDIS_COLLECT_THREAD: raw }).collectThread]), SPELLINGS);
    assert.throws(() => launcherSettings({ PROM_CLIENT_REDIS_COLLECT_THREAD: 'thread' }), {
      message: 'Invalid environment variable PROM_CLIENT_REDIS_COLLECT_THREAD: expected true or false (or 1/0, yes/no, on/off), got `thread`',
    });
  });

  it('PROM_CLIENT_REDIS_BRIDGE (the launcher settings)', () => {
    assert.deepEqual(SPELLINGS.map(([raw]) => [raw, launcherSettings({ PROM_CLIENT_REDIS_BRIDGE: raw }).bridge]), SPELLINGS);
    assert.throws(() => launcherSettings({ PROM_CLIENT_REDIS_BRIDGE: 'enabled' }), {
      message: 'Invalid environment variable PROM_CLIENT_REDIS_BRIDGE: expected true or false (or 1/0, yes/no, on/off), got `enabled`',
    });
  });

  it('REDIS_DEBUG and PROMETHEUS_DEBUG (log.ts): the same spellings; another is warned about by name, and debug stays off', () => {
    const warnings: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string | Uint8Array) => {
      warnings.push(JSON.parse(String(chunk)).msg as string);
      return true;
    }) as typeof process.stderr.write;
    try {
      assert.deepEqual(SPELLINGS.map(([raw]) => [raw, createLogger({ REDIS_DEBUG: raw }).isDebug]), SPELLINGS);
      assert.deepEqual(SPELLINGS.map(([raw]) => [raw, createLogger({ PROMETHEUS_DEBUG: raw }).isDebug]), SPELLINGS);
      assert.deepEqual(warnings, []);
      assert.equal(createLogger({ REDIS_DEBUG: 'verbose' }).isDebug, false);
      assert.equal(createLogger({ REDIS_DEBUG: 'no', PROMETHEUS_DEBUG: 'y' }).isDebug, false);
    } finally {
      process.stderr.write = write;
    }
    assert.deepEqual(warnings, [
      'prom-client-redis: Invalid environment variable REDIS_DEBUG: expected true or false (or 1/0, yes/no, on/off), got `verbose`; debug logs stay off',
      'prom-client-redis: Invalid environment variable PROMETHEUS_DEBUG: expected true or false (or 1/0, yes/no, on/off), got `y`; debug logs stay off',
    ]);
  });
});
