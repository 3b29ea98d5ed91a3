// What a boolean environment variable accepts is what its error message says it accepts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { resolveConfig } from '../../src/config.js';
import { launcherSettings } from '../../src/integrations/env.js';

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
});
