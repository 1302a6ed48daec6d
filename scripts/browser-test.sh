#!/bin/sh
# Browser test of the operator dashboard (www/) in a real headless Chromium, driven by
# playwright-core, against the fixture-backed loopback mock (tests/browser/mock-server.mjs).
# Screenshots: $ARTIFACTS_DIR (default .artifacts/browser/); UPDATE_SCREENSHOTS=1 also copies
# the README's into docs/img/.
#
# Without Chromium: installs Debian's `chromium` when running as root, else SKIPS LOUDLY
# (exit 0), or fails when REQUIRE_BROWSER=1 (CI).
set -eu
cd "$(dirname "$0")/.."
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
export CHROMIUM

if [ ! -x "$CHROMIUM" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing chromium (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "" >&2
    echo "################################################################################" >&2
    echo "##  SKIPPED: dashboard browser test — no Chromium at $CHROMIUM" >&2
    echo "##  and not root. Install it (apt-get install -y chromium) or set CHROMIUM=…" >&2
    echo "################################################################################" >&2
    echo "" >&2
    if [ "${REQUIRE_BROWSER:-0}" = 1 ]; then exit 1; fi
    exit 0
  fi
fi
if [ ! -f node_modules/playwright-core/package.json ]; then
  echo "browser-test: node_modules/playwright-core is missing (npm ci installs it: it is a devDependency)" >&2
  exit 1
fi
echo "== $("$CHROMIUM" --version 2>/dev/null || echo chromium) · playwright-core $(node -p "require('./node_modules/playwright-core/package.json').version")"
node --test --test-concurrency=1 --test-timeout=120000 tests/browser/
echo "== screenshots in ${ARTIFACTS_DIR:-.artifacts/browser}/"
