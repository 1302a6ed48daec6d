#!/bin/sh
# `promtool check metrics` on the metrics text (crates/core/src/ops/metrics.rs renders it;
# the e2e operator test checks the live endpoint too when PROMTOOL is set, as `make test` does).
#
# Without promtool: installs Debian's `prometheus` package (which ships promtool) when running
# as root, else SKIPS LOUDLY (exit 0), or fails when REQUIRE_PROMTOOL=1 (CI).
set -eu
cd "$(dirname "$0")/.."
PROMTOOL="${PROMTOOL:-$(command -v promtool || echo /usr/bin/promtool)}"

if [ ! -x "$PROMTOOL" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing promtool (apt-get install prometheus)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
    PROMTOOL=/usr/bin/promtool
  fi
fi
if [ ! -x "$PROMTOOL" ]; then
  echo "" >&2
  echo "################################################################################" >&2
  echo "##  SKIPPED: promtool check metrics — no promtool on PATH and not root." >&2
  echo "##  Install it (apt-get install -y prometheus) or set PROMTOOL=…" >&2
  echo "################################################################################" >&2
  echo "" >&2
  if [ "${REQUIRE_PROMTOOL:-0}" = 1 ]; then exit 1; fi
  exit 0
fi
echo "== $("$PROMTOOL" --version 2>&1 | head -1)"
PROMTOOL="$PROMTOOL" cargo test -q -p switchyard-core --lib ops::metrics -- --nocapture
