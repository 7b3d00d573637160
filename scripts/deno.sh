#!/usr/bin/env bash
# Runs the pinned Deno: a `deno` on PATH when it is the pinned version, else the copy from the npm package `deno`
# installed into the git-ignored .tools/ folder (JSR and deno.land are not reachable here; npm is).
set -euo pipefail
DENO_VERSION=2.9.6
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOCAL=$ROOT/.tools/node_modules/.bin/deno

if command -v deno >/dev/null 2>&1 && deno --version 2>/dev/null | head -n 1 | grep -q "^deno $DENO_VERSION "; then
  exec deno "$@"
fi
if [ ! -x "$LOCAL" ] || ! "$LOCAL" --version 2>/dev/null | head -n 1 | grep -q "^deno $DENO_VERSION "; then
  command -v npm >/dev/null || { echo "deno.sh: npm is needed to install Deno $DENO_VERSION (apt-get install npm)" >&2; exit 1; }
  echo "deno.sh: installing Deno $DENO_VERSION from npm into .tools/" >&2
  mkdir -p "$ROOT/.tools"
  npm install --prefix "$ROOT/.tools" --no-audit --no-fund --loglevel=error "deno@$DENO_VERSION" >&2
fi
exec "$LOCAL" "$@"
