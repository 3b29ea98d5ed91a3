// `npm run build` (and `prepack`): the package as it is published.
//
//   dist/src/  the ESM build (tsc -p tsconfig.build.json), the Lua scripts beside it, the CLI
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const at = (...parts) => join(root, ...parts);

rmSync(at('dist/src'), { recursive: true, force: true });

const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', at('tsconfig.build.json')], { stdio: 'inherit' });
if (tsc.status !== 0) process.exit(tsc.status ?? 1);
cpSync(at('src/redis/lua'), at('dist/src/redis/lua'), { recursive: true });
chmodSync(at('dist/src/cli.js'), 0o755);

