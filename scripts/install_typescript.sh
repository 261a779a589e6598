#!/usr/bin/env bash
# Installs TypeScript's compiler (npm's typescript, pinned) into .cache/typescript for the test that
# type-checks facemotion.d.ts with a page's code (tests/apps/test_web_types.py); scripts/test.sh
# runs it. Without it (or without npm) that test skips and says so.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=5.9.3
TSC=.cache/typescript/node_modules/.bin/tsc
if [ -x "$TSC" ] && [ "$("$TSC" --version)" = "Version $VERSION" ]; then
  "$TSC" --version
  exit 0
fi
npm install --silent --no-save --no-audit --no-fund --no-package-lock --prefix .cache/typescript "typescript@$VERSION"
"$TSC" --version
