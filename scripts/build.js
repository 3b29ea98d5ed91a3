// `npm run build:package` (and `prepare`, so npm pack and git installs): the package as published.
// (`npm run build` runs it, then compiles the tests, examples and benchmarks too.)
//
//   dist/src/  the ESM build (tsc -p tsconfig.build.json), the Lua scripts beside it, the CLI
//   dist/cjs/  a CommonJS bundle of the same code for require() (esbuild), with the same types
//
// Why a bundle for CommonJS: p-queue 8 is ESM-only, and require() of an ES module is not there on
// every Node 20 that `engines` admits, so the CommonJS build carries its own copy of p-queue. The
// other dependencies are CommonJS packages and stay external. Each bundled module's
// `import.meta.url` is replaced by the URL of its twin in dist/src, so the Lua scripts and the
// worker preload (an ES module, whichever build started the launcher) have one place on disk.
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const at = (...parts) => join(root, ...parts);
const pkg = JSON.parse(readFileSync(at('package.json'), 'utf8'));
/** Dependencies that cannot be require()d on every admitted Node, so the CommonJS bundle includes them. */
const ESM_ONLY = new Set(['p-queue']);

rmSync(at('dist/src'), { recursive: true, force: true });
rmSync(at('dist/cjs'), { recursive: true, force: true });

const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', at('tsconfig.build.json')], { stdio: 'inherit' });
if (tsc.status !== 0) process.exit(tsc.status ?? 1);
cpSync(at('src/redis/lua'), at('dist/src/redis/lua'), { recursive: true });
chmodSync(at('dist/src/cli.js'), 0o755);

const esbuild = await import('esbuild');
const srcDir = at('src');
await esbuild.build({
  entryPoints: [at('src/index.ts')],
  outfile: at('dist/cjs/index.js'),
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: `node${pkg.engines.node.replace(/^>=\s*/, '')}`,
  external: Object.keys(pkg.dependencies).filter((name) => !ESM_ONLY.has(name)),
  logLevel: 'warning',
  plugins: [{
    name: 'esm-twin-import-meta-url',
    setup(build) {
      build.onLoad({ filter: /\.ts$/ }, (args) => {
        const source = readFileSync(args.path, 'utf8');
        const fromSrc = relative(srcDir, args.path);
        if (!source.includes('import.meta.url') || fromSrc.startsWith('..')) return undefined;
        const twin = JSON.stringify(join('..', 'src', fromSrc.replace(/\.ts$/, '.js')).split(sep).join('/'));
        const url = `require('node:url').pathToFileURL(require('node:path').join(__dirname, ${twin})).href`;
        return { contents: source.replaceAll('import.meta.url', url), loader: 'ts' };
      });
    },
  }],
});

// The types once more under dist/cjs, whose package.json says commonjs: TypeScript then reads them
// as the types of a CommonJS module (no TS1479 in a CommonJS app under module node16/nodenext).
copyDeclarations(at('dist/src'), at('dist/cjs'));
writeFileSync(at('dist/cjs/package.json'), `${JSON.stringify({ type: 'commonjs' }, null, 2)}\n`);

function copyDeclarations(from, to) {
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    if (entry.isDirectory()) copyDeclarations(join(from, entry.name), join(to, entry.name));
    else if (entry.name.endsWith('.d.ts')) {
      mkdirSync(to, { recursive: true });
      cpSync(join(from, entry.name), join(to, entry.name));
    }
  }
}
