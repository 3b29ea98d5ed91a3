// runCluster() rejects bad options at once, before it starts anything.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { runCluster, ConfigError } from '../../src/index.js';
import { resolveAppScript } from '../../src/integrations/launcher.js';

const APP = fileURLToPath(new URL('../../examples/app.js', import.meta.url));

describe('runCluster() options', () => {
  it('workers from 1 to 1024, as WEB_CONCURRENCY', async () => {
    for (const workers of [0, 1025, 1.5]) {
      await assert.rejects(runCluster({ app: APP, workers }), {
        name: ConfigError.name,
        code: 'ERR_PCR_CONFIG',
        message: `Expected option \`workers\` to be an integer from 1 to 1024, got \`${workers}\``,
      });
    }
  });

  it('collectThread is a boolean', async () => {
    await assert.rejects(runCluster({ app: APP, workers: 1, collectThread: 'no' as unknown as boolean }), {
      code: 'ERR_PCR_CONFIG',
      message: 'Expected option `collectThread` to be a boolean, got `no` (string)',
    });
  });

  it('an app script that node would not find', async () => {
    const missing = fileURLToPath(new URL('../../examples/no-such-app.js', import.meta.url));
    await assert.rejects(runCluster({ app: missing, workers: 1 }), {
      code: 'ERR_PCR_CONFIG',
      message: `Cannot find the app script \`${missing}\` (looked for ${missing})`,
    });
  });

  it('resolves the app as `node app` does: the extension may be left out', () => {
    assert.equal(resolveAppScript(APP.replace(/\.js$/, '')), APP);
  });
});
